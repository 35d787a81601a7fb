"""living admissions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 03:32:00.796062+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.add_column('admission_document', sa.Column('expiry_warned_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('admission_request', sa.Column('declaration_requested_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('admission_request', sa.Column('declaration_due_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))



def downgrade() -> None:

    op.drop_column('admission_request', 'declaration_due_at')
    op.drop_column('admission_request', 'declaration_requested_at')
    op.drop_column('admission_document', 'expiry_warned_at')

