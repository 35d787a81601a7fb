"""reference cpv: the CPV 2008 table and the log of reference-data imports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 03:43:31.850183+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cpv_code',
    sa.Column('code', sa.CHAR(length=8), nullable=False),
    sa.Column('check_digit', sa.CHAR(length=1), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('label_fr', sa.Text(), nullable=True),
    sa.Column('level', sa.Enum('division', 'group', 'class', 'category', 'subcategory', name='cpv_level'), nullable=False),
    sa.Column('parent_code', sa.CHAR(length=8), nullable=True),
    sa.Column('dataset', sa.String(length=64), nullable=False),
    sa.Column('imported_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("check_digit ~ '^[0-9]$'", name=op.f('ck_cpv_code_check_digit_digit')),
    sa.CheckConstraint("code ~ '^[0-9]{8}$'", name=op.f('ck_cpv_code_code_digits')),
    sa.ForeignKeyConstraint(['parent_code'], ['cpv_code.code'], name=op.f('fk_cpv_code_parent_code_cpv_code'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_cpv_code'))
    )
    op.create_index(op.f('ix_cpv_code_dataset'), 'cpv_code', ['dataset'], unique=False)
    op.create_index(op.f('ix_cpv_code_parent_code'), 'cpv_code', ['parent_code'], unique=False)
    op.create_table('reference_dataset',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('imported_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_dataset'))
    )
    op.create_index('ix_reference_dataset_kind_imported_at', 'reference_dataset', ['kind', 'imported_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reference_dataset_kind_imported_at', table_name='reference_dataset')
    op.drop_table('reference_dataset')
    op.drop_index(op.f('ix_cpv_code_parent_code'), table_name='cpv_code')
    op.drop_index(op.f('ix_cpv_code_dataset'), table_name='cpv_code')
    op.drop_table('cpv_code')
    sa.Enum(name='cpv_level').drop(op.get_bind())
