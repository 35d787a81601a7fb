"""contract signatures verified offline (G16): each signature's media type and its verification report

Rows from before the check keep `verification` NULL (never verified) and are PDFs (the only type accepted then).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 08:36:01.369629+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('contract_signature', sa.Column('media_type', sa.String(length=100),
                                                  server_default='application/pdf', nullable=False))
    op.add_column('contract_signature', sa.Column('verification', postgresql.JSONB(astext_type=sa.Text()),
                                                  nullable=True))


def downgrade() -> None:
    op.drop_column('contract_signature', 'verification')
    op.drop_column('contract_signature', 'media_type')
