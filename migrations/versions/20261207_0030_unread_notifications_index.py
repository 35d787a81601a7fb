"""the unread count of a person's inbox, shown in every page's header: the unread notifications by address

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 12:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0030'
down_revision: str | None = '0029'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_notification_unread', 'notification', ['recipient_email'], unique=False,
                    postgresql_where=sa.text('read_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_notification_unread', table_name='notification',
                  postgresql_where=sa.text('read_at IS NULL'))
