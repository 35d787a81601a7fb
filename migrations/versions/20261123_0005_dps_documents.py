"""dps documents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:36:48.887562+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('dps_document',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dps_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dps_id'], ['dps.id'], name=op.f('fk_dps_document_dps_id_dps'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dps_document')),
    sa.UniqueConstraint('object_key', name=op.f('uq_dps_document_object_key'))
    )
    op.create_index(op.f('ix_dps_document_dps_id'), 'dps_document', ['dps_id'], unique=False)



def downgrade() -> None:

    op.drop_index(op.f('ix_dps_document_dps_id'), table_name='dps_document')
    op.drop_table('dps_document')

