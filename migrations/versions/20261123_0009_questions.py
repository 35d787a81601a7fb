"""questions and answers on a specific contract, and the date questions close

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 04:20:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('specific_contract',
                  sa.Column('questions_close_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                            nullable=True))
    op.create_table('contract_question',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('asked_by', sa.String(length=200), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('asked_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=200), nullable=True),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'],
                            name=op.f('fk_contract_question_specific_contract_id_specific_contract'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'],
                            name=op.f('fk_contract_question_vendor_organisation_id_organisation'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_question'))
    )
    op.create_index(op.f('ix_contract_question_specific_contract_id'), 'contract_question',
                    ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_contract_question_vendor_organisation_id'), 'contract_question',
                    ['vendor_organisation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_contract_question_vendor_organisation_id'), table_name='contract_question')
    op.drop_index(op.f('ix_contract_question_specific_contract_id'), table_name='contract_question')
    op.drop_table('contract_question')
    op.drop_column('specific_contract', 'questions_close_at')
