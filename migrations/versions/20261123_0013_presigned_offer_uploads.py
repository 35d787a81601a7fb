"""presigned offer uploads

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 05:51:09.865291+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('offer_attachment', sa.Column('sealing', sa.String(length=10), server_default='stream', nullable=False))
    op.add_column('offer_attachment', sa.Column('upload_expires_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('offer_attachment', sa.Column('sse_key_md5', sa.String(length=32), nullable=True))
    op.alter_column('offer_attachment', 'received_at',
               existing_type=postgresql.TIMESTAMP(timezone=True),
               nullable=True)


def downgrade() -> None:
    # Pending presigned uploads have no receipt time: they never counted, so they go.
    op.execute("DELETE FROM offer_attachment WHERE received_at IS NULL")
    op.alter_column('offer_attachment', 'received_at',
               existing_type=postgresql.TIMESTAMP(timezone=True),
               nullable=False)
    op.drop_column('offer_attachment', 'sse_key_md5')
    op.drop_column('offer_attachment', 'upload_expires_at')
    op.drop_column('offer_attachment', 'sealing')
