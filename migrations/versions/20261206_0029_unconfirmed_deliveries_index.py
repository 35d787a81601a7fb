"""the operators' list of unconfirmed deliveries: notifications left `sending`, by the time of their last write

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-06 12:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0029'
down_revision: str | None = '0027'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_notification_unconfirmed', 'notification', ['updated_at'], unique=False,
                    postgresql_where=sa.text("email_status = 'sending'"))


def downgrade() -> None:
    op.drop_index('ix_notification_unconfirmed', table_name='notification',
                  postgresql_where=sa.text("email_status = 'sending'"))
