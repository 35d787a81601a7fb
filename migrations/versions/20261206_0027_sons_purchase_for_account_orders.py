"""SONS purchase-for-account orders (domain.md §5 with §12): dispositifs and their calendar versions (SN1), their
imported ceiling tables, the vendors' referenced solutions and ASP enrolments, orders per site (SN2–SN4, G16) and
their requests to the ASP with their status history (SN5–SN7)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 02:26:04.427630+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0027'
down_revision: str | None = '0026'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS = {
    'sons_acceptance_kind': ('VA', 'MOM'),
    'sons_vat_status': ('liable', 'not_liable'),
    'sons_solution_status': ('active', 'withdrawn'),
    'sons_order_status': ('draft', 'signed', 'advance_requested', 'advance_incomplete', 'advance_to_modify', 'advance_validated', 'advance_paid', 'rejected', 'deployed', 'accepted', 'balance_requested', 'balance_incomplete', 'balance_to_modify', 'balance_validated', 'balance_rejected', 'paid', 'cancelled', 'expired'),
    'sons_signature_method': ('cpx_card', 'pro_sante_connect', 'rgs_certificate', 'eidas'),
    'sons_mss_case': ('CAS_1', 'CAS_2'),
    'sons_request_kind': ('advance', 'amendment', 'balance'),
    'sons_asp_status': ('REQUESTED', 'INCOMPLETE', 'TO_MODIFY', 'VALIDATED', 'DECIDED_PAID', 'REJECTED'),
}


def _enum(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(*ENUMS[name], name=name, create_type=False)


def upgrade() -> None:
    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name).create(op.get_bind())
    op.create_table('sons_dispositif',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('wave', sa.SmallInteger(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('acceptance_kind', _enum('sons_acceptance_kind'), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_dispositif')),
    sa.UniqueConstraint('code', 'wave', name=op.f('uq_sons_dispositif_code'))
    )
    op.create_table('sons_calendar',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dispositif_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('af_version', sa.String(length=100), nullable=False),
    sa.Column('referencing_opens_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('referencing_closes_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('proof_file_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('order_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('advance_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('balance_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('deployment_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('advance_ratio_bp', sa.SmallInteger(), nullable=False),
    sa.Column('pre_referencing_days', sa.SmallInteger(), nullable=False),
    sa.Column('mss_indicator_from', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.String(length=200), nullable=False),
    sa.Column('changed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('advance_ratio_bp BETWEEN 0 AND 10000', name=op.f('ck_sons_calendar_advance_ratio')),
    sa.CheckConstraint('pre_referencing_days >= 0', name=op.f('ck_sons_calendar_pre_referencing_days')),
    sa.CheckConstraint('referencing_closes_at > referencing_opens_at', name=op.f('ck_sons_calendar_referencing_window')),
    sa.ForeignKeyConstraint(['dispositif_id'], ['sons_dispositif.id'], name=op.f('fk_sons_calendar_dispositif_id_sons_dispositif'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_calendar')),
    sa.UniqueConstraint('dispositif_id', 'version', name=op.f('uq_sons_calendar_dispositif_id'))
    )
    op.create_index(op.f('ix_sons_calendar_dispositif_id'), 'sons_calendar', ['dispositif_id'], unique=False)
    op.create_table('sons_ceiling_table',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dispositif_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('imported_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dispositif_id'], ['sons_dispositif.id'], name=op.f('fk_sons_ceiling_table_dispositif_id_sons_dispositif'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_ceiling_table')),
    sa.UniqueConstraint('dispositif_id', 'version', name=op.f('uq_sons_ceiling_table_dispositif_id'))
    )
    op.create_index(op.f('ix_sons_ceiling_table_dispositif_id'), 'sons_ceiling_table', ['dispositif_id'], unique=False)
    op.create_table('sons_enrolment',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=False),
    sa.Column('rib_key', sa.String(length=2), nullable=True),
    sa.Column('vat_status', _enum('sons_vat_status'), nullable=False),
    sa.Column('enrolment_reference', sa.String(length=100), nullable=False),
    sa.Column('referencing_number', sa.String(length=100), nullable=False),
    sa.Column('enrolled_by', sa.String(length=200), nullable=False),
    sa.Column('enrolled_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('superseded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_sons_enrolment_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_enrolment'))
    )
    op.create_index(op.f('ix_sons_enrolment_vendor_organisation_id'), 'sons_enrolment', ['vendor_organisation_id'], unique=False)
    op.create_index('uq_sons_enrolment_current', 'sons_enrolment', ['vendor_organisation_id'], unique=True, postgresql_where=sa.text('superseded_at IS NULL'))
    op.create_table('sons_solution',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dispositif_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('version', sa.String(length=100), nullable=False),
    sa.Column('referencing_number', sa.String(length=100), nullable=True),
    sa.Column('referenced_on', sa.Date(), nullable=True),
    sa.Column('proof_file_submitted_on', sa.Date(), nullable=True),
    sa.Column('installation_scenarios', postgresql.ARRAY(sa.String(length=100)), nullable=False),
    sa.Column('saas', sa.Boolean(), nullable=False),
    sa.Column('status', _enum('sons_solution_status'), nullable=False),
    sa.Column('withdrawn_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('(referencing_number IS NULL) = (referenced_on IS NULL)', name=op.f('ck_sons_solution_referencing_complete')),
    sa.CheckConstraint('referencing_number IS NOT NULL OR proof_file_submitted_on IS NOT NULL', name=op.f('ck_sons_solution_referenced_or_proof_file')),
    sa.ForeignKeyConstraint(['dispositif_id'], ['sons_dispositif.id'], name=op.f('fk_sons_solution_dispositif_id_sons_dispositif'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_sons_solution_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_solution')),
    sa.UniqueConstraint('vendor_organisation_id', 'dispositif_id', 'name', 'version', name=op.f('uq_sons_solution_vendor_organisation_id'))
    )
    op.create_index(op.f('ix_sons_solution_dispositif_id'), 'sons_solution', ['dispositif_id'], unique=False)
    op.create_index(op.f('ix_sons_solution_vendor_organisation_id'), 'sons_solution', ['vendor_organisation_id'], unique=False)
    op.create_index('uq_sons_solution_referencing_number', 'sons_solution', ['referencing_number'], unique=True, postgresql_where=sa.text('referencing_number IS NOT NULL'))
    op.create_table('sons_ceiling',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('table_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('tranche', sa.String(length=40), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('ceiling_ht_cents', sa.BigInteger(), nullable=False),
    sa.Column('vat_rate_bp', sa.SmallInteger(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('ceiling_ht_cents > 0', name=op.f('ck_sons_ceiling_ceiling_positive')),
    sa.CheckConstraint('vat_rate_bp BETWEEN 0 AND 10000', name=op.f('ck_sons_ceiling_vat_rate')),
    sa.ForeignKeyConstraint(['table_id'], ['sons_ceiling_table.id'], name=op.f('fk_sons_ceiling_table_id_sons_ceiling_table'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_ceiling')),
    sa.UniqueConstraint('table_id', 'tranche', name=op.f('uq_sons_ceiling_table_id'))
    )
    op.create_table('sons_order',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('order_ref', sa.String(length=100), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('holder_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('og_finess_ej', sa.String(length=9), nullable=False),
    sa.Column('og_siret', sa.String(length=14), nullable=True),
    sa.Column('solution_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dispositif_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('wave', sa.SmallInteger(), nullable=False),
    sa.Column('calendar_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('ceiling_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('installation_scenario', sa.String(length=100), nullable=False),
    sa.Column('tranche', sa.String(length=40), nullable=False),
    sa.Column('ceiling_ht_cents', sa.BigInteger(), nullable=False),
    sa.Column('amount_ht_cents', sa.BigInteger(), nullable=False),
    sa.Column('vat_rate_bp', sa.SmallInteger(), nullable=False),
    sa.Column('amount_ttc_cents', sa.BigInteger(), nullable=False),
    sa.Column('subscription_excluded', sa.Boolean(), nullable=False),
    sa.Column('pre_referencing', sa.Boolean(), nullable=False),
    sa.Column('pre_referencing_mention', sa.Text(), nullable=True),
    sa.Column('status', _enum('sons_order_status'), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('signed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('signatory_name', sa.String(length=200), nullable=True),
    sa.Column('signatory_role', sa.String(length=200), nullable=True),
    sa.Column('signature_method', _enum('sons_signature_method'), nullable=True),
    sa.Column('deployed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('accepted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('acceptance_signatory', sa.String(length=200), nullable=True),
    sa.Column('acceptance_mss_case', _enum('sons_mss_case'), nullable=True),
    sa.Column('mss_address', sa.String(length=300), nullable=True),
    sa.Column('paid_cents', sa.BigInteger(), nullable=False),
    sa.Column('cancelled_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sworn_statement', sa.Text(), nullable=True),
    sa.Column('client_renunciation', sa.Boolean(), nullable=True),
    sa.Column('recovery_cents', sa.BigInteger(), nullable=True),
    sa.Column('expired_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('amount_ht_cents > 0 AND amount_ht_cents <= ceiling_ht_cents', name=op.f('ck_sons_order_within_ceiling')),
    sa.CheckConstraint('amount_ttc_cents >= amount_ht_cents', name=op.f('ck_sons_order_ttc_not_below_ht')),
    sa.CheckConstraint('paid_cents >= 0 AND paid_cents <= amount_ttc_cents', name=op.f('ck_sons_order_paid_within_ttc')),
    sa.ForeignKeyConstraint(['calendar_id'], ['sons_calendar.id'], name=op.f('fk_sons_order_calendar_id_sons_calendar'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ceiling_id'], ['sons_ceiling.id'], name=op.f('fk_sons_order_ceiling_id_sons_ceiling'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['dispositif_id'], ['sons_dispositif.id'], name=op.f('fk_sons_order_dispositif_id_sons_dispositif'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['holder_organisation_id'], ['organisation.id'], name=op.f('fk_sons_order_holder_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['solution_id'], ['sons_solution.id'], name=op.f('fk_sons_order_solution_id_sons_solution'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_sons_order_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_order')),
    sa.UniqueConstraint('vendor_organisation_id', 'order_ref', name=op.f('uq_sons_order_vendor_organisation_id'))
    )
    op.create_index(op.f('ix_sons_order_dispositif_id'), 'sons_order', ['dispositif_id'], unique=False)
    op.create_index(op.f('ix_sons_order_holder_organisation_id'), 'sons_order', ['holder_organisation_id'], unique=False)
    op.create_index(op.f('ix_sons_order_solution_id'), 'sons_order', ['solution_id'], unique=False)
    op.create_index(op.f('ix_sons_order_status'), 'sons_order', ['status'], unique=False)
    op.create_index(op.f('ix_sons_order_vendor_organisation_id'), 'sons_order', ['vendor_organisation_id'], unique=False)
    op.create_table('sons_asp_request',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('order_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', _enum('sons_request_kind'), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('status', _enum('sons_asp_status'), nullable=False),
    sa.Column('paid_cents', sa.BigInteger(), nullable=True),
    sa.Column('mss_case', _enum('sons_mss_case'), nullable=True),
    sa.Column('invoice', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('filed_by', sa.String(length=200), nullable=False),
    sa.Column('filed_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'DECIDED_PAID') = (paid_cents IS NOT NULL)", name=op.f('ck_sons_asp_request_paid_when_decided_paid')),
    sa.CheckConstraint("kind = 'amendment' OR position = 0", name=op.f('ck_sons_asp_request_one_advance_one_balance')),
    sa.CheckConstraint('amount_cents >= 0', name=op.f('ck_sons_asp_request_amount_not_negative')),
    sa.CheckConstraint('paid_cents IS NULL OR paid_cents <= amount_cents', name=op.f('ck_sons_asp_request_paid_within_amount')),
    sa.ForeignKeyConstraint(['order_id'], ['sons_order.id'], name=op.f('fk_sons_asp_request_order_id_sons_order'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_asp_request')),
    sa.UniqueConstraint('order_id', 'kind', 'position', name=op.f('uq_sons_asp_request_order_id'))
    )
    op.create_index(op.f('ix_sons_asp_request_order_id'), 'sons_asp_request', ['order_id'], unique=False)
    op.create_table('sons_document',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('order_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('verification', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('uploaded_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['sons_order.id'], name=op.f('fk_sons_document_order_id_sons_order'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_document')),
    sa.UniqueConstraint('object_key', name=op.f('uq_sons_document_object_key')),
    sa.UniqueConstraint('order_id', 'kind', 'position', name=op.f('uq_sons_document_order_id'))
    )
    op.create_index(op.f('ix_sons_document_order_id'), 'sons_document', ['order_id'], unique=False)
    op.create_table('sons_order_site',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('order_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('finess_et', sa.String(length=9), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('beneficiary', sa.String(length=20), nullable=False),
    sa.Column('category', sa.String(length=4), nullable=True),
    sa.Column('dispositif_code', sa.String(length=60), nullable=False),
    sa.Column('wave', sa.SmallInteger(), nullable=False),
    sa.Column('holds', sa.Boolean(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('(finess_et IS NULL) <> (siret IS NULL)', name=op.f('ck_sons_order_site_one_identifier')),
    sa.ForeignKeyConstraint(['order_id'], ['sons_order.id'], name=op.f('fk_sons_order_site_order_id_sons_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_order_site')),
    sa.UniqueConstraint('order_id', 'beneficiary', name=op.f('uq_sons_order_site_order_id'))
    )
    op.create_index(op.f('ix_sons_order_site_order_id'), 'sons_order_site', ['order_id'], unique=False)
    op.create_index('uq_sons_beneficiary_service', 'sons_order_site', ['beneficiary', 'dispositif_code', 'wave'], unique=True, postgresql_where=sa.text('holds'))
    op.create_table('sons_asp_event',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('request_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', _enum('sons_asp_status'), nullable=False),
    sa.Column('previous', _enum('sons_asp_status'), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('paid_cents', sa.BigInteger(), nullable=True),
    sa.Column('recorded_by', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['sons_asp_request.id'], name=op.f('fk_sons_asp_event_request_id_sons_asp_request'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sons_asp_event'))
    )
    op.create_index(op.f('ix_sons_asp_event_request_id'), 'sons_asp_event', ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sons_asp_event_request_id'), table_name='sons_asp_event')
    op.drop_table('sons_asp_event')
    op.drop_index('uq_sons_beneficiary_service', table_name='sons_order_site', postgresql_where=sa.text('holds'))
    op.drop_index(op.f('ix_sons_order_site_order_id'), table_name='sons_order_site')
    op.drop_table('sons_order_site')
    op.drop_index(op.f('ix_sons_document_order_id'), table_name='sons_document')
    op.drop_table('sons_document')
    op.drop_index(op.f('ix_sons_asp_request_order_id'), table_name='sons_asp_request')
    op.drop_table('sons_asp_request')
    op.drop_index(op.f('ix_sons_order_vendor_organisation_id'), table_name='sons_order')
    op.drop_index(op.f('ix_sons_order_status'), table_name='sons_order')
    op.drop_index(op.f('ix_sons_order_solution_id'), table_name='sons_order')
    op.drop_index(op.f('ix_sons_order_holder_organisation_id'), table_name='sons_order')
    op.drop_index(op.f('ix_sons_order_dispositif_id'), table_name='sons_order')
    op.drop_table('sons_order')
    op.drop_table('sons_ceiling')
    op.drop_index('uq_sons_solution_referencing_number', table_name='sons_solution', postgresql_where=sa.text('referencing_number IS NOT NULL'))
    op.drop_index(op.f('ix_sons_solution_vendor_organisation_id'), table_name='sons_solution')
    op.drop_index(op.f('ix_sons_solution_dispositif_id'), table_name='sons_solution')
    op.drop_table('sons_solution')
    op.drop_index('uq_sons_enrolment_current', table_name='sons_enrolment', postgresql_where=sa.text('superseded_at IS NULL'))
    op.drop_index(op.f('ix_sons_enrolment_vendor_organisation_id'), table_name='sons_enrolment')
    op.drop_table('sons_enrolment')
    op.drop_index(op.f('ix_sons_ceiling_table_dispositif_id'), table_name='sons_ceiling_table')
    op.drop_table('sons_ceiling_table')
    op.drop_index(op.f('ix_sons_calendar_dispositif_id'), table_name='sons_calendar')
    op.drop_table('sons_calendar')
    op.drop_table('sons_dispositif')
    for name in reversed(ENUMS):
        postgresql.ENUM(name=name).drop(op.get_bind())
