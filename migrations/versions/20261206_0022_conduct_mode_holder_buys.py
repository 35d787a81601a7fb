"""each DPS says how its specific contracts are conducted (HC1); a specific contract keeps its mode, its DPS's buying
organisation and its holder (HC2, HC3), and whether the holder sits on its evaluation committee

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

conduct_mode = postgresql.ENUM('intermediation', 'centralised', name='dps_conduct_mode', create_type=False)


def upgrade() -> None:
    conduct_mode.create(op.get_bind(), checkfirst=False)
    # The DPS that exist were run by their buying organisation: centralised. New ones default to intermediation,
    # ESMS numérique's way (HC1).
    op.add_column('dps', sa.Column('conduct_mode', conduct_mode, nullable=False, server_default='centralised'))
    op.alter_column('dps', 'conduct_mode', server_default='intermediation')
    op.add_column('specific_contract', sa.Column('conduct_mode', conduct_mode, nullable=True))
    op.add_column('specific_contract', sa.Column('dps_organisation_id', sa.Uuid(), nullable=True))
    op.add_column('specific_contract', sa.Column('holder_organisation_id', sa.Uuid(), nullable=True))
    op.add_column('specific_contract', sa.Column('holder_on_committee', sa.Boolean(), nullable=False,
                                                 server_default=sa.text('false')))
    op.execute("UPDATE specific_contract sc SET conduct_mode = d.conduct_mode, dps_organisation_id = "
               "d.buyer_organisation_id, holder_organisation_id = n.holder_organisation_id FROM dps d, need n "
               "WHERE d.id = sc.dps_id AND n.id = sc.need_id")
    for column in ('conduct_mode', 'dps_organisation_id', 'holder_organisation_id'):
        op.alter_column('specific_contract', column, nullable=False)
    op.create_index(op.f('ix_specific_contract_dps_organisation_id'), 'specific_contract', ['dps_organisation_id'],
                    unique=False)
    op.create_index(op.f('ix_specific_contract_holder_organisation_id'), 'specific_contract',
                    ['holder_organisation_id'], unique=False)
    op.create_foreign_key(op.f('fk_specific_contract_dps_organisation_id_organisation'), 'specific_contract',
                          'organisation', ['dps_organisation_id'], ['id'], ondelete='RESTRICT')
    op.create_foreign_key(op.f('fk_specific_contract_holder_organisation_id_organisation'), 'specific_contract',
                          'organisation', ['holder_organisation_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    op.drop_constraint(op.f('fk_specific_contract_holder_organisation_id_organisation'), 'specific_contract',
                       type_='foreignkey')
    op.drop_constraint(op.f('fk_specific_contract_dps_organisation_id_organisation'), 'specific_contract',
                       type_='foreignkey')
    op.drop_index(op.f('ix_specific_contract_holder_organisation_id'), table_name='specific_contract')
    op.drop_index(op.f('ix_specific_contract_dps_organisation_id'), table_name='specific_contract')
    op.drop_column('specific_contract', 'holder_on_committee')
    op.drop_column('specific_contract', 'holder_organisation_id')
    op.drop_column('specific_contract', 'dps_organisation_id')
    op.drop_column('specific_contract', 'conduct_mode')
    op.drop_column('dps', 'conduct_mode')
    conduct_mode.drop(op.get_bind(), checkfirst=False)
