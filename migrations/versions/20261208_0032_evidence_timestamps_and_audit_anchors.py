"""RFC 3161 time-stamps (G4, G14): the token of each receipt and opening record, and the audit chain's daily
anchor; both append-only, as the audit log is

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-08 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0032'
down_revision: str | None = '0031'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "marketplace_app"
APPEND_ONLY = ("evidence_timestamp", "audit_anchor")


def upgrade() -> None:
    op.create_table('evidence_timestamp',
    sa.Column('id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('subject_type', sa.String(length=30), nullable=False),
    sa.Column('subject_id', sa.String(length=100), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('token', sa.LargeBinary(), nullable=False),
    sa.Column('gen_time', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_timestamp')),
    sa.UniqueConstraint('subject_type', 'subject_id', name=op.f('uq_evidence_timestamp_subject_type'))
    )
    op.create_table('audit_anchor',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('event_hash', sa.String(length=64), nullable=False),
    sa.Column('token', sa.LargeBinary(), nullable=False),
    sa.Column('gen_time', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('created_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchor')),
    sa.UniqueConstraint('day', name=op.f('uq_audit_anchor_day'))
    )
    # A token or an anchor is evidence: never rewritten. Triggers refuse UPDATE, DELETE and TRUNCATE to everyone,
    # and the application's role has no such privilege (as for the audit log, migration 0002).
    op.execute("""
        CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION evidence_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION evidence_append_only()")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(APPEND_ONLY):
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER {table}_no_update_delete ON {table}")
    op.execute("DROP FUNCTION evidence_append_only()")
    op.drop_table('audit_anchor')
    op.drop_table('evidence_timestamp')
