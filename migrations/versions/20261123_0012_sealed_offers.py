"""sealed offers

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 05:13:53.423407+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# P2 / G3: whatever code writes it, no offer becomes `submitted` unless it was received strictly before its
# contract's deadline (D14: at the deadline exactly it is late).
_DEADLINE_TRIGGER = ("""
CREATE FUNCTION offer_received_before_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'submitted' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'submitted') THEN
        IF NEW.received_at IS NULL OR NEW.received_at >= (
                SELECT tender_deadline FROM specific_contract WHERE id = NEW.specific_contract_id) THEN
            RAISE EXCEPTION 'D14: offer % received at % is not before its deadline', NEW.id, NEW.received_at
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER offer_received_before_deadline BEFORE INSERT OR UPDATE ON offer
    FOR EACH ROW EXECUTE FUNCTION offer_received_before_deadline()
""")

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotent_response',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('caller', sa.String(length=200), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_response')),
    sa.UniqueConstraint('caller', 'key', name=op.f('uq_idempotent_response_caller'))
    )
    op.create_table('opener_key',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('user_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('record', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('retired_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_opener_key_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_opener_key_user_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opener_key'))
    )
    op.create_index(op.f('ix_opener_key_organisation_id'), 'opener_key', ['organisation_id'], unique=False)
    op.create_index(op.f('ix_opener_key_user_id'), 'opener_key', ['user_id'], unique=False)
    op.create_index('uq_opener_key_current', 'opener_key', ['user_id', 'organisation_id'], unique=True, postgresql_where=sa.text('retired_at IS NULL'))
    op.create_table('contract_key',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('threshold', sa.SmallInteger(), nullable=False),
    sa.Column('protected', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('released_key', sa.LargeBinary(), nullable=True),
    sa.Column('released_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_contract_key_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_key')),
    sa.UniqueConstraint('specific_contract_id', name=op.f('uq_contract_key_specific_contract_id'))
    )
    op.create_table('offer',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', 'superseded', 'withdrawn', 'opened', name='offer_status'), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=False),
    sa.Column('sealed_parts', sa.LargeBinary(), nullable=True),
    sa.Column('received_started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('received_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=True),
    sa.Column('sealed_receipt', sa.LargeBinary(), nullable=True),
    sa.Column('receipt_signature', sa.String(length=200), nullable=True),
    sa.Column('withdrawn_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('opened_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_offer_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_offer_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer')),
    sa.UniqueConstraint('specific_contract_id', 'vendor_organisation_id', 'version', name=op.f('uq_offer_specific_contract_id'))
    )
    op.create_index(op.f('ix_offer_specific_contract_id'), 'offer', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_offer_status'), 'offer', ['status'], unique=False)
    op.create_index(op.f('ix_offer_vendor_organisation_id'), 'offer', ['vendor_organisation_id'], unique=False)
    op.create_index('uq_offer_one_draft', 'offer', ['specific_contract_id', 'vendor_organisation_id'], unique=True, postgresql_where=sa.text("status = 'draft'"))
    op.create_index('uq_offer_one_submitted', 'offer', ['specific_contract_id', 'vendor_organisation_id'], unique=True, postgresql_where=sa.text("status = 'submitted'"))
    op.create_table('opening_record',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('opened_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('opened_by', postgresql.ARRAY(sa.String(length=200)), nullable=False),
    sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_opening_record_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opening_record')),
    sa.UniqueConstraint('specific_contract_id', name=op.f('uq_opening_record_specific_contract_id'))
    )
    op.create_table('offer_attachment',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('sealed_name', sa.LargeBinary(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('wrapped_dek', sa.LargeBinary(), nullable=False),
    sa.Column('received_started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('received_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('scan_status', sa.Enum('pending', 'clean', 'infected', name='attachment_scan_status'), nullable=False),
    sa.Column('scan_verdict', sa.String(length=300), nullable=True),
    sa.Column('integrity', sa.Enum('unchecked', 'verified', 'mismatch', name='attachment_integrity'), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_offer_attachment_offer_id_offer'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offer_attachment')),
    sa.UniqueConstraint('object_key', name=op.f('uq_offer_attachment_object_key'))
    )
    op.create_index(op.f('ix_offer_attachment_offer_id'), 'offer_attachment', ['offer_id'], unique=False)
    op.add_column('specific_contract', sa.Column('opening_threshold', sa.SmallInteger(), server_default='1', nullable=False))
    op.add_column('specific_contract', sa.Column('attachment_max_bytes', sa.BigInteger(), server_default='262144000', nullable=False))
    op.add_column('specific_contract', sa.Column('offer_max_bytes', sa.BigInteger(), server_default='1073741824', nullable=False))
    op.add_column('specific_contract', sa.Column('attachment_max_count', sa.SmallInteger(), server_default='30', nullable=False))
    op.add_column('specific_contract', sa.Column('attachment_types', postgresql.ARRAY(sa.String(length=100)), server_default='{application/pdf,application/zip}', nullable=False))
    for statement in _DEADLINE_TRIGGER:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER offer_received_before_deadline ON offer")
    op.execute("DROP FUNCTION offer_received_before_deadline()")
    op.drop_column('specific_contract', 'attachment_types')
    op.drop_column('specific_contract', 'attachment_max_count')
    op.drop_column('specific_contract', 'offer_max_bytes')
    op.drop_column('specific_contract', 'attachment_max_bytes')
    op.drop_column('specific_contract', 'opening_threshold')
    op.drop_index(op.f('ix_offer_attachment_offer_id'), table_name='offer_attachment')
    op.drop_table('offer_attachment')
    op.drop_table('opening_record')
    op.drop_index('uq_offer_one_submitted', table_name='offer', postgresql_where=sa.text("status = 'submitted'"))
    op.drop_index('uq_offer_one_draft', table_name='offer', postgresql_where=sa.text("status = 'draft'"))
    op.drop_index(op.f('ix_offer_vendor_organisation_id'), table_name='offer')
    op.drop_index(op.f('ix_offer_status'), table_name='offer')
    op.drop_index(op.f('ix_offer_specific_contract_id'), table_name='offer')
    op.drop_table('offer')
    op.drop_table('contract_key')
    op.drop_index('uq_opener_key_current', table_name='opener_key', postgresql_where=sa.text('retired_at IS NULL'))
    op.drop_index(op.f('ix_opener_key_user_id'), table_name='opener_key')
    op.drop_index(op.f('ix_opener_key_organisation_id'), table_name='opener_key')
    op.drop_table('opener_key')
    op.drop_table('idempotent_response')
    for name in ('offer_status', 'attachment_scan_status', 'attachment_integrity'):
        sa.Enum(name=name).drop(op.get_bind())
