"""the journal of failed deposits (D14b) and the late admissions (D14c); the offer-deadline trigger lets an
admitted vendor's offer in until its window ends, and no one else's

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-06 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0025'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "marketplace_app"
APPEND_ONLY = ("deposit_attempt", "late_admission")

# P2 / G3 still: no offer becomes `submitted` unless it was received strictly before its contract's deadline
# (D14) — or, D14c, strictly before the end of the window a late admission of the buying side gave its vendor
# on that contract. Nothing else stored late passes, whatever code writes it.
_TRIGGER_WITH_ADMISSIONS = """
CREATE OR REPLACE FUNCTION offer_received_before_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'submitted' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'submitted') THEN
        IF NEW.received_at IS NULL OR (NEW.received_at >= (
                SELECT tender_deadline FROM specific_contract WHERE id = NEW.specific_contract_id)
            AND NOT EXISTS (
                SELECT 1 FROM late_admission la
                WHERE la.specific_contract_id = NEW.specific_contract_id
                  AND la.vendor_organisation_id = NEW.vendor_organisation_id
                  AND NEW.received_at < la.deposit_until)) THEN
            RAISE EXCEPTION 'D14: offer % received at % is not before its deadline, nor in a late admission (D14c)',
                NEW.id, NEW.received_at USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$
"""

# The body of migration 0012, put back by the downgrade.
_TRIGGER_0012 = """
CREATE OR REPLACE FUNCTION offer_received_before_deadline() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def _audit_columns() -> list[sa.Column[object]]:
    return [sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
            sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
            sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table('deposit_attempt',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('offer_id', advanced_alchemy.types.guid.GUID(length=16), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('started_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('refused_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('bytes_received', sa.BigInteger(), nullable=False),
    sa.Column('declared_bytes', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.SmallInteger(), nullable=False),
    sa.Column('problem', sa.String(length=100), nullable=False),
    sa.Column('rule', sa.String(length=30), nullable=True),
    sa.Column('field', sa.String(length=100), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('limit_name', sa.String(length=50), nullable=True),
    sa.Column('limit_value', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_deposit_attempt_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_deposit_attempt_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_attempt'))
    )
    op.create_index(op.f('ix_deposit_attempt_specific_contract_id'), 'deposit_attempt', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_deposit_attempt_vendor_organisation_id'), 'deposit_attempt', ['vendor_organisation_id'], unique=False)
    op.create_table('late_admission',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('vendor_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=200), nullable=False),
    sa.Column('decided_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('attempt_ids', postgresql.ARRAY(sa.Uuid()), nullable=False),
    sa.Column('deposit_until', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    *_audit_columns(),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_late_admission_specific_contract_id_specific_contract'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['vendor_organisation_id'], ['organisation.id'], name=op.f('fk_late_admission_vendor_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_late_admission')),
    sa.UniqueConstraint('specific_contract_id', 'vendor_organisation_id', name=op.f('uq_late_admission_specific_contract_id'))
    )
    op.create_index(op.f('ix_late_admission_specific_contract_id'), 'late_admission', ['specific_contract_id'], unique=False)
    op.create_index(op.f('ix_late_admission_vendor_organisation_id'), 'late_admission', ['vendor_organisation_id'], unique=False)

    # D14b: the journal is append-only, as the audit log is (migration 0002): triggers refuse UPDATE, DELETE and
    # TRUNCATE to everyone, and the application's role has no such privilege. D14c: a decision is never edited
    # either (the trigger below trusts it).
    op.execute("""
        CREATE FUNCTION deposit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION deposit_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION deposit_append_only()")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
    op.execute(_TRIGGER_WITH_ADMISSIONS)


def downgrade() -> None:
    op.execute(_TRIGGER_0012)
    for table in reversed(APPEND_ONLY):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")
    op.execute("DROP FUNCTION deposit_append_only()")
    op.drop_index(op.f('ix_late_admission_vendor_organisation_id'), table_name='late_admission')
    op.drop_index(op.f('ix_late_admission_specific_contract_id'), table_name='late_admission')
    op.drop_table('late_admission')
    op.drop_index(op.f('ix_deposit_attempt_vendor_organisation_id'), table_name='deposit_attempt')
    op.drop_index(op.f('ix_deposit_attempt_specific_contract_id'), table_name='deposit_attempt')
    op.drop_table('deposit_attempt')
