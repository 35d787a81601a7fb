"""awards: conflict-of-interest declarations, scores, offer rejections, awards (one live per contract, G8)
and requests for reasons (D17)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-23 06:02:22.667757+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conflict_declaration',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('evaluator_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('has_conflict', sa.Boolean(), nullable=False),
    sa.Column('statement', sa.Text(), nullable=False),
    sa.Column('declared_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['evaluator_id'], ['user_account.id'], name=op.f('fk_conflict_declaration_evaluator_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_conflict_declaration_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflict_declaration')),
    sa.UniqueConstraint('specific_contract_id', 'evaluator_id', name=op.f('uq_conflict_declaration_specific_contract_id'))
    )
    op.create_index(op.f('ix_conflict_declaration_evaluator_id'), 'conflict_declaration', ['evaluator_id'], unique=False)
    op.create_index(op.f('ix_conflict_declaration_specific_contract_id'), 'conflict_declaration', ['specific_contract_id'], unique=False)
    op.create_table('reasons_request',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('request', sa.Text(), nullable=False),
    sa.Column('requested_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('due_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_by', sa.String(length=200), nullable=True),
    sa.Column('answered_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_reasons_request_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_reasons_request_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reasons_request'))
    )
    op.create_index(op.f('ix_reasons_request_specific_contract_id'), 'reasons_request', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_reasons_request_vendor_organisation_id'), 'reasons_request', ['vendor_organisation_id'], unique=False)
    op.create_table('award',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('standstill', 'active', 'cancelled', name='award_status'), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('departure_reason', sa.Text(), nullable=True),
    sa.Column('standstill_required', sa.Boolean(), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('notices_sent_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('earliest_signature_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('ranking', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_award_offer_id_offer'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_award_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_award_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award'))
    )
    op.create_index(op.f('ix_award_offer_id'), 'award', ['offer_id'], unique=False)
    op.create_index(op.f('ix_award_specific_contract_id'), 'award', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_award_vendor_organisation_id'), 'award', ['vendor_organisation_id'], unique=False)
    op.create_index('uq_award_one_live', 'award', ['specific_contract_id'], unique=True, postgresql_where=sa.text("status <> 'cancelled'"))
    op.create_table('evaluation_score',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('evaluator_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('criterion', sa.String(length=200), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('scored_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('score BETWEEN 0 AND 100', name=op.f('ck_evaluation_score_score_range')),
    sa.ForeignKeyConstraint(['evaluator_id'], ['user_account.id'], name=op.f('fk_evaluation_score_evaluator_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_evaluation_score_offer_id_offer'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_evaluation_score_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluation_score')),
    sa.UniqueConstraint('offer_id', 'evaluator_id', 'criterion', name=op.f('uq_evaluation_score_offer_id'))
    )
    op.create_index(op.f('ix_evaluation_score_evaluator_id'), 'evaluation_score', ['evaluator_id'], unique=False)
    op.create_index(op.f('ix_evaluation_score_offer_id'), 'evaluation_score', ['offer_id'], unique=False)
    op.create_index(op.f('ix_evaluation_score_specific_contract_id'), 'evaluation_score', ['specific_contract_id'], unique=False)
    op.create_table('offer_rejection',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('grounds', sa.Enum('irregular', 'unacceptable', 'inappropriate', name='offer_rejection_grounds'), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('rejected_by', sa.String(length=200), nullable=False),
    sa.Column('rejected_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_offer_rejection_offer_id_offer'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_offer_rejection_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_rejection')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_offer_rejection_offer_id'))
    )
    op.create_index(op.f('ix_offer_rejection_specific_contract_id'), 'offer_rejection', ['specific_contract_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_offer_rejection_specific_contract_id'), table_name='offer_rejection')
    op.drop_table('offer_rejection')
    op.drop_index(op.f('ix_evaluation_score_specific_contract_id'), table_name='evaluation_score')
    op.drop_index(op.f('ix_evaluation_score_offer_id'), table_name='evaluation_score')
    op.drop_index(op.f('ix_evaluation_score_evaluator_id'), table_name='evaluation_score')
    op.drop_table('evaluation_score')
    op.drop_index('uq_award_one_live', table_name='award', postgresql_where=sa.text("status <> 'cancelled'"))
    op.drop_index(op.f('ix_award_vendor_organisation_id'), table_name='award')
    op.drop_index(op.f('ix_award_specific_contract_id'), table_name='award')
    op.drop_index(op.f('ix_award_offer_id'), table_name='award')
    op.drop_table('award')
    op.drop_index(op.f('ix_reasons_request_vendor_organisation_id'), table_name='reasons_request')
    op.drop_index(op.f('ix_reasons_request_specific_contract_id'), table_name='reasons_request')
    op.drop_table('reasons_request')
    op.drop_index(op.f('ix_conflict_declaration_specific_contract_id'), table_name='conflict_declaration')
    op.drop_index(op.f('ix_conflict_declaration_evaluator_id'), table_name='conflict_declaration')
    op.drop_table('conflict_declaration')
    # drop_table leaves the enum types the tables created.
    sa.Enum(name='offer_rejection_grounds').drop(op.get_bind(), checkfirst=False)
    sa.Enum(name='award_status').drop(op.get_bind(), checkfirst=False)
