"""open data: OCDS releases and DECP records, append-only (the database refuses UPDATE, DELETE and TRUNCATE), and
the DECP publication deadlines (domain.md §3, §4)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-08 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0031'
down_revision: str | None = '0030'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "marketplace_app"
APPEND_ONLY = ("ocds_release", "decp_record")


def _audit_columns() -> list[sa.Column[object]]:
    return [sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
            sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
            sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table('ocds_release',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('release_id', sa.String(length=400), nullable=False),
    sa.Column('ocid', sa.String(length=200), nullable=False),
    sa.Column('date', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=40)), nullable=False),
    sa.Column('release', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    *_audit_columns(),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocds_release')),
    sa.UniqueConstraint('release_id', name=op.f('uq_ocds_release_release_id'))
    )
    op.create_index(op.f('ix_ocds_release_ocid'), 'ocds_release', ['ocid'], unique=False)
    op.create_index(op.f('ix_ocds_release_date'), 'ocds_release', ['date'], unique=False)
    op.create_table('decp_record',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('modification_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('published_on', sa.Date(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_decp_record_contract_id_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['modification_id'], ['contract_modification.id'], name=op.f('fk_decp_record_modification_id_contract_modification'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decp_record')),
    sa.UniqueConstraint('contract_id', 'sequence', name=op.f('uq_decp_record_contract_id')),
    sa.UniqueConstraint('modification_id', name=op.f('uq_decp_record_modification_id'))
    )
    op.create_index(op.f('ix_decp_record_contract_id'), 'decp_record', ['contract_id'], unique=False)
    op.create_table('decp_obligation',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('buyer_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('notified_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('published_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('reminded_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('portal_receipt', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['contract_id'], ['contract.id'], name=op.f('fk_decp_obligation_contract_id_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['buyer_organisation_id'], ['organisation.id'], name=op.f('fk_decp_obligation_buyer_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_decp_obligation')),
    sa.UniqueConstraint('contract_id', name=op.f('uq_decp_obligation_contract_id'))
    )
    op.create_index(op.f('ix_decp_obligation_buyer_organisation_id'), 'decp_obligation', ['buyer_organisation_id'], unique=False)
    op.create_index(op.f('ix_decp_obligation_due_on'), 'decp_obligation', ['due_on'], unique=False)

    # §3.1: a release is immutable; §4.1: published essential data are never edited (changes are appended as
    # modifications). As the audit log (0002) and the deposit journal (0025): triggers refuse UPDATE, DELETE and
    # TRUNCATE to everyone, and the application's role has no such privilege.
    op.execute("""
        CREATE FUNCTION opendata_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION opendata_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION opendata_append_only()")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")
    op.execute("DROP FUNCTION opendata_append_only()")
    op.drop_index(op.f('ix_decp_obligation_due_on'), table_name='decp_obligation')
    op.drop_index(op.f('ix_decp_obligation_buyer_organisation_id'), table_name='decp_obligation')
    op.drop_table('decp_obligation')
    op.drop_index(op.f('ix_decp_record_contract_id'), table_name='decp_record')
    op.drop_table('decp_record')
    op.drop_index(op.f('ix_ocds_release_date'), table_name='ocds_release')
    op.drop_index(op.f('ix_ocds_release_ocid'), table_name='ocds_release')
    op.drop_table('ocds_release')
