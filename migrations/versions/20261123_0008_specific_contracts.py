"""specific contracts: a submitted need published on a DPS, and its invitations (D8–D10, §1.5)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 04:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A need put on a DPS is published (§6); the new value is only used by later transactions.
    op.execute("ALTER TYPE need_status ADD VALUE IF NOT EXISTS 'published'")
    op.create_table('specific_contract',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('need_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('dps_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('category_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('buyer_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('draft', 'open', 'closed_for_offers', 'evaluation', 'award_decided', 'standstill',
                                'contracted', 'unsuccessful', 'cancelled', name='specific_contract_status'),
              nullable=False),
    sa.Column('invited_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('tender_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('award_criteria', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['buyer_organisation_id'], ['organisation.id'],
                            name=op.f('fk_specific_contract_buyer_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['category_id'], ['dps_category.id'],
                            name=op.f('fk_specific_contract_category_id_dps_category'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['dps_id'], ['dps.id'], name=op.f('fk_specific_contract_dps_id_dps'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_specific_contract_need_id_need'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_specific_contract')),
    sa.UniqueConstraint('need_id', name=op.f('uq_specific_contract_need_id'))
    )
    op.create_index(op.f('ix_specific_contract_buyer_organisation_id'), 'specific_contract',
                    ['buyer_organisation_id'], unique=False)
    op.create_index(op.f('ix_specific_contract_category_id'), 'specific_contract', ['category_id'], unique=False)
    op.create_index(op.f('ix_specific_contract_dps_id'), 'specific_contract', ['dps_id'], unique=False)
    op.create_index(op.f('ix_specific_contract_status'), 'specific_contract', ['status'], unique=False)
    op.create_table('contract_invitation',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('admission_request_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('invited_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['admission_request_id'], ['admission_request.id'],
                            name=op.f('fk_contract_invitation_admission_request_id_admission_request'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'],
                            name=op.f('fk_contract_invitation_specific_contract_id_specific_contract'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'],
                            name=op.f('fk_contract_invitation_vendor_organisation_id_organisation'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_invitation')),
    sa.UniqueConstraint('specific_contract_id', 'vendor_organisation_id',
                        name=op.f('uq_contract_invitation_specific_contract_id'))
    )
    op.create_index(op.f('ix_contract_invitation_admission_request_id'), 'contract_invitation',
                    ['admission_request_id'], unique=False)
    op.create_index(op.f('ix_contract_invitation_specific_contract_id'), 'contract_invitation',
                    ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_contract_invitation_vendor_organisation_id'), 'contract_invitation',
                    ['vendor_organisation_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_contract_invitation_vendor_organisation_id'), table_name='contract_invitation')
    op.drop_index(op.f('ix_contract_invitation_specific_contract_id'), table_name='contract_invitation')
    op.drop_index(op.f('ix_contract_invitation_admission_request_id'), table_name='contract_invitation')
    op.drop_table('contract_invitation')
    op.drop_index(op.f('ix_specific_contract_status'), table_name='specific_contract')
    op.drop_index(op.f('ix_specific_contract_dps_id'), table_name='specific_contract')
    op.drop_index(op.f('ix_specific_contract_category_id'), table_name='specific_contract')
    op.drop_index(op.f('ix_specific_contract_buyer_organisation_id'), table_name='specific_contract')
    op.drop_table('specific_contract')
    sa.Enum(name='specific_contract_status').drop(op.get_bind())
    # PostgreSQL can't drop an enum value: published needs go back to submitted, and the type is rebuilt.
    op.execute("ALTER TABLE need ALTER COLUMN status DROP DEFAULT")
    op.execute("UPDATE need SET status = 'submitted' WHERE status = 'published'")
    op.execute("ALTER TYPE need_status RENAME TO need_status_old")
    op.execute("CREATE TYPE need_status AS ENUM ('draft', 'submitted')")
    op.execute("ALTER TABLE need ALTER COLUMN status TYPE need_status USING status::text::need_status")
    op.execute("DROP TYPE need_status_old")
