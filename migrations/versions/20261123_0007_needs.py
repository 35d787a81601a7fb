"""needs: expressions of need of project holders (domain.md §6)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 03:54:39.908102+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # sector and delivery_mode reuse the DPS categories' types (0003): a need targets one category (N19).
    op.create_table('need',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('holder_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', name='need_status'), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('campaign', sa.Integer(), nullable=False),
    sa.Column('project_type', sa.SmallInteger(), nullable=False),
    sa.Column('facilities', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('requested_call', sa.Enum('regional', 'national', name='need_call'), nullable=False),
    sa.Column('multiregional', sa.Boolean(), nullable=False),
    sa.Column('core_services', postgresql.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('gdpr_compliance', sa.Boolean(), nullable=False),
    sa.Column('target_map_convergence', sa.Boolean(), nullable=False),
    sa.Column('business_continuity', sa.Boolean(), nullable=False),
    sa.Column('usage_targets_declared', sa.Boolean(), nullable=False),
    sa.Column('companion_dui_acquisition', sa.Boolean(), nullable=False),
    sa.Column('software', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('funding_schedule', postgresql.ARRAY(sa.Integer()), nullable=False),
    sa.Column('ars_prevalidation_reference', sa.String(length=100), nullable=True),
    sa.Column('ars_prevalidated_on', sa.Date(), nullable=True),
    sa.Column('applied_on', sa.Date(), nullable=False),
    sa.Column('sector', postgresql.ENUM(name='dps_sector', create_type=False), nullable=True),
    sa.Column('delivery_mode', postgresql.ENUM(name='dps_delivery_mode', create_type=False), nullable=True),
    sa.Column('cpv_codes', postgresql.ARRAY(sa.String(length=10)), nullable=False),
    sa.Column('submitted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_organisation_id'], ['organisation.id'], name=op.f('fk_need_holder_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_need'))
    )
    op.create_index(op.f('ix_need_campaign'), 'need', ['campaign'], unique=False)
    op.create_index(op.f('ix_need_holder_organisation_id'), 'need', ['holder_organisation_id'], unique=False)
    op.create_index(op.f('ix_need_status'), 'need', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_need_status'), table_name='need')
    op.drop_index(op.f('ix_need_holder_organisation_id'), table_name='need')
    op.drop_index(op.f('ix_need_campaign'), table_name='need')
    op.drop_table('need')
    sa.Enum(name='need_call').drop(op.get_bind())
    sa.Enum(name='need_status').drop(op.get_bind())
