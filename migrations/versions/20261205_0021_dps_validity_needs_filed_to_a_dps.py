"""a need names the DPS it is filed to and the buying organisation to run it (D2); D6 alerts sent once each;
the evaluation clock no longer pauses (R2162-45), so the pause instant goes

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 17:30:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy
import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('need', sa.Column('dps_id', sa.Uuid(), nullable=True))
    op.add_column('need', sa.Column('buyer_organisation_id', sa.Uuid(), nullable=True))
    op.create_index(op.f('ix_need_dps_id'), 'need', ['dps_id'], unique=False)
    op.create_index(op.f('ix_need_buyer_organisation_id'), 'need', ['buyer_organisation_id'], unique=False)
    op.create_foreign_key(op.f('fk_need_dps_id_dps'), 'need', 'dps', ['dps_id'], ['id'], ondelete='RESTRICT')
    op.create_foreign_key(op.f('fk_need_buyer_organisation_id_organisation'), 'need', 'organisation',
                          ['buyer_organisation_id'], ['id'], ondelete='RESTRICT')
    # A need already published names the DPS of its specific contract, and that contract's buying organisation.
    op.execute("UPDATE need SET dps_id = sc.dps_id, buyer_organisation_id = sc.buyer_organisation_id "
               "FROM specific_contract sc WHERE sc.need_id = need.id")
    op.add_column('admission_request', sa.Column(
        'due_soon_alerted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.add_column('admission_request', sa.Column(
        'overdue_alerted_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.drop_column('admission_request', 'paused_at')


def downgrade() -> None:
    op.add_column('admission_request', sa.Column(
        'paused_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.drop_column('admission_request', 'overdue_alerted_at')
    op.drop_column('admission_request', 'due_soon_alerted_at')
    op.drop_constraint(op.f('fk_need_buyer_organisation_id_organisation'), 'need', type_='foreignkey')
    op.drop_constraint(op.f('fk_need_dps_id_dps'), 'need', type_='foreignkey')
    op.drop_index(op.f('ix_need_buyer_organisation_id'), table_name='need')
    op.drop_index(op.f('ix_need_dps_id'), table_name='need')
    op.drop_column('need', 'buyer_organisation_id')
    op.drop_column('need', 'dps_id')
