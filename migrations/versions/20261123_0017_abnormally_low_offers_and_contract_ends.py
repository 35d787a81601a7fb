"""abnormally low offers (D15), specific contracts declared sans suite (machine (c)) and the ends of a
contract (machine (e)): the procedure table, the `abnormally_low` rejection ground, the sans-suite record,
and the reasons of a contract's transitions

Revision ID: 0017
Revises: 0015
Create Date: 2026-11-23 07:46:37.682227+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('abnormally_low_procedure',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('justification_requested', 'accepted', 'rejected', name='abnormally_low_status'), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('requested_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('justification_due_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('justification', sa.Text(), nullable=True),
    sa.Column('justified_by', sa.String(length=200), nullable=True),
    sa.Column('justified_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('object_key', sa.String(length=500), nullable=True),
    sa.Column('document_filename', sa.String(length=300), nullable=True),
    sa.Column('document_size', sa.BigInteger(), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=True),
    sa.Column('decision_reasons', sa.Text(), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_abnormally_low_procedure_offer_id_offer'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_abnormally_low_procedure_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_abnormally_low_procedure_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_abnormally_low_procedure')),
    sa.UniqueConstraint('offer_id', name=op.f('uq_abnormally_low_procedure_offer_id'))
    )
    op.create_index(op.f('ix_abnormally_low_procedure_specific_contract_id'), 'abnormally_low_procedure', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_abnormally_low_procedure_vendor_organisation_id'), 'abnormally_low_procedure', ['vendor_organisation_id'], unique=False)
    op.create_table('sans_suite_declaration',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=30), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('declared_by', sa.String(length=200), nullable=False),
    sa.Column('declared_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('cancelled_award_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('abandoned_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('notified', sa.Integer(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['abandoned_contract_id'], ['contract.id'], name=op.f('fk_sans_suite_declaration_abandoned_contract_id_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['cancelled_award_id'], ['award.id'], name=op.f('fk_sans_suite_declaration_cancelled_award_id_award'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_sans_suite_declaration_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sans_suite_declaration')),
    sa.UniqueConstraint('specific_contract_id', name=op.f('uq_sans_suite_declaration_specific_contract_id'))
    )
    op.add_column('contract_transition', sa.Column('reasons', sa.Text(), nullable=True))
    # Autogenerate doesn't see enum values. A value added in this transaction can't be used in it (nothing
    # here does); PostgreSQL ≥ 12 allows the ALTER inside the transaction.
    op.execute("ALTER TYPE offer_rejection_grounds ADD VALUE IF NOT EXISTS 'abnormally_low'")


def downgrade() -> None:
    # PostgreSQL can't drop an enum value: the type is rebuilt without it. Rejections on that ground go
    # with the procedures that decided them (their table is dropped below).
    op.execute("DELETE FROM offer_rejection WHERE grounds = 'abnormally_low'")
    op.execute("ALTER TYPE offer_rejection_grounds RENAME TO offer_rejection_grounds_old")
    op.execute("CREATE TYPE offer_rejection_grounds AS ENUM ('irregular', 'unacceptable', 'inappropriate')")
    op.execute("ALTER TABLE offer_rejection ALTER COLUMN grounds TYPE offer_rejection_grounds "
               "USING grounds::text::offer_rejection_grounds")
    op.execute("DROP TYPE offer_rejection_grounds_old")
    op.drop_column('contract_transition', 'reasons')
    op.drop_table('sans_suite_declaration')
    op.drop_index(op.f('ix_abnormally_low_procedure_vendor_organisation_id'), table_name='abnormally_low_procedure')
    op.drop_index(op.f('ix_abnormally_low_procedure_specific_contract_id'), table_name='abnormally_low_procedure')
    op.drop_table('abnormally_low_procedure')
    sa.Enum(name='abnormally_low_status').drop(op.get_bind(), checkfirst=False)
