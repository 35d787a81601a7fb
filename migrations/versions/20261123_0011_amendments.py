"""amendments of specific contracts, and the sending state of notifications

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 04:50:47.977414+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The point of no return of an e-mail delivery (notifications/jobs.py); used by later transactions only.
    op.execute("ALTER TYPE notification_email_status ADD VALUE IF NOT EXISTS 'sending' BEFORE 'sent'")
    op.create_table('contract_amendment',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('kind', sa.Enum('document', 'deadline', name='contract_amendment_kind'), nullable=False),
    sa.Column('amended_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('amended_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('old_value', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('new_value', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_contract_amendment_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_amendment'))
    )
    op.create_index(op.f('ix_contract_amendment_specific_contract_id'), 'contract_amendment', ['specific_contract_id'], unique=False)
    op.create_table('contract_document',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('replaces_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('published_by', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['replaces_id'], ['contract_document.id'], name=op.f('fk_contract_document_replaces_id_contract_document'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_contract_document_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_document')),
    sa.UniqueConstraint('object_key', name=op.f('uq_contract_document_object_key'))
    )
    op.create_index(op.f('ix_contract_document_specific_contract_id'), 'contract_document', ['specific_contract_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_contract_document_specific_contract_id'), table_name='contract_document')
    op.drop_table('contract_document')
    op.drop_index(op.f('ix_contract_amendment_specific_contract_id'), table_name='contract_amendment')
    op.drop_table('contract_amendment')
    sa.Enum(name='contract_amendment_kind').drop(op.get_bind())
    # PostgreSQL can't drop an enum value: a delivery past its point of no return counts as sent.
    op.execute("ALTER TABLE notification ALTER COLUMN email_status DROP DEFAULT")
    op.execute("UPDATE notification SET email_status = 'sent' WHERE email_status = 'sending'")
    op.execute("ALTER TYPE notification_email_status RENAME TO notification_email_status_old")
    op.execute("CREATE TYPE notification_email_status AS ENUM ('pending', 'sent', 'not_configured')")
    op.execute("ALTER TABLE notification ALTER COLUMN email_status TYPE notification_email_status "
               "USING email_status::text::notification_email_status")
    op.execute("DROP TYPE notification_email_status_old")
