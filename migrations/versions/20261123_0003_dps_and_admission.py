"""dps and admission

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:15:13.349646+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dps',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('buyer_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('validity_start', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('validity_end', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('usable_by_other_buyers', sa.Boolean(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'pending', 'active', 'cancelled', 'terminated', name='dps_status'), nullable=False),
    sa.Column('notice_sent_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('initial_window_end', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('award_criteria', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_organisation_id'], ['organisation.id'], name=op.f('fk_dps_buyer_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dps'))
    )
    op.create_index(op.f('ix_dps_buyer_organisation_id'), 'dps', ['buyer_organisation_id'], unique=False)
    op.create_index(op.f('ix_dps_status'), 'dps', ['status'], unique=False)
    op.create_table('dps_category',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dps_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('sector', sa.Enum('grand_age', 'handicap', 'domicile', name='dps_sector'), nullable=False),
    sa.Column('delivery_mode', sa.Enum('saas', 'on_premise', 'hosted', name='dps_delivery_mode'), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('selection_criteria', sa.Text(), nullable=False),
    sa.Column('required_documents', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dps_id'], ['dps.id'], name=op.f('fk_dps_category_dps_id_dps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dps_category')),
    sa.UniqueConstraint('dps_id', 'sector', 'delivery_mode', name=op.f('uq_dps_category_dps_id'))
    )
    op.create_index(op.f('ix_dps_category_dps_id'), 'dps_category', ['dps_id'], unique=False)
    op.create_table('admission_request',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dps_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('category_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('draft', 'under_evaluation', 'awaiting_documents', 'admitted', 'rejected', 'suspended', 'excluded', 'withdrawn', 'closed', name='admission_status'), nullable=False),
    sa.Column('self_declaration', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('referenced_software', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('due_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('paused_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('documents_requested', sa.Text(), nullable=True),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('decision_reasons', sa.Text(), nullable=True),
    sa.Column('receipt_sha256', sa.String(length=64), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['dps_category.id'], name=op.f('fk_admission_request_category_id_dps_category'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['dps_id'], ['dps.id'], name=op.f('fk_admission_request_dps_id_dps'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_admission_request_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admission_request'))
    )
    op.create_index(op.f('ix_admission_request_category_id'), 'admission_request', ['category_id'], unique=False)
    op.create_index(op.f('ix_admission_request_dps_id'), 'admission_request', ['dps_id'], unique=False)
    op.create_index(op.f('ix_admission_request_due_at'), 'admission_request', ['due_at'], unique=False)
    op.create_index(op.f('ix_admission_request_status'), 'admission_request', ['status'], unique=False)
    op.create_index(op.f('ix_admission_request_vendor_organisation_id'), 'admission_request', ['vendor_organisation_id'], unique=False)
    op.create_index('uq_admission_request_live', 'admission_request', ['category_id', 'vendor_organisation_id'], unique=True, postgresql_where=sa.text("status IN ('draft', 'under_evaluation', 'awaiting_documents', 'admitted', 'suspended')"))
    op.create_table('admission_document',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('request_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('superseded', sa.Boolean(), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['admission_request.id'], name=op.f('fk_admission_document_request_id_admission_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admission_document')),
    sa.UniqueConstraint('object_key', name=op.f('uq_admission_document_object_key'))
    )
    op.create_index(op.f('ix_admission_document_request_id'), 'admission_document', ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_admission_document_request_id'), table_name='admission_document')
    op.drop_table('admission_document')
    op.drop_index('uq_admission_request_live', table_name='admission_request', postgresql_where=sa.text("status IN ('draft', 'under_evaluation', 'awaiting_documents', 'admitted', 'suspended')"))
    op.drop_index(op.f('ix_admission_request_vendor_organisation_id'), table_name='admission_request')
    op.drop_index(op.f('ix_admission_request_status'), table_name='admission_request')
    op.drop_index(op.f('ix_admission_request_due_at'), table_name='admission_request')
    op.drop_index(op.f('ix_admission_request_dps_id'), table_name='admission_request')
    op.drop_index(op.f('ix_admission_request_category_id'), table_name='admission_request')
    op.drop_table('admission_request')
    op.drop_index(op.f('ix_dps_category_dps_id'), table_name='dps_category')
    op.drop_table('dps_category')
    op.drop_index(op.f('ix_dps_status'), table_name='dps')
    op.drop_index(op.f('ix_dps_buyer_organisation_id'), table_name='dps')
    op.drop_table('dps')
    for name in ('admission_status', 'dps_delivery_mode', 'dps_sector', 'dps_status'):
        sa.Enum(name=name).drop(op.get_bind())
