"""the audit chain linked at commit (issue 19): an event is inserted with its content's digest, and a deferred
trigger links it to the chain's head when its transaction commits

Until now `lib.audit.record` took the chain's advisory lock, read the head and the next id, computed the hash and
inserted the row: three round trips, the lock then held by the application until its commit, while its event loop
served other requests between them. Under 64 concurrent submissions every audited act queued behind that lock.

Now the application inserts the event with `content_sha256` (the SHA-256 of its canonical JSON, which PostgreSQL
can't reproduce) in one statement; the constraint trigger below runs at the commit, takes the same lock, and
sets the link: `chain_position` (the head's + 1), `prev_hash` (the head's hash) and
`hash = sha256(prev_hash ':' id ':' content_sha256)`. The lock is held from that trigger to the commit's end,
inside the database. The chain's order is `chain_position`, the order of the commits; ids are taken at insert
and no longer follow it. The events recorded before this migration keep their hash (`content_sha256` NULL:
`lib.audit.canonical` with the id), and their position is their id.

The append-only trigger lets exactly that update through: from the link trigger (depth 2), on a row not linked
yet, the content unchanged. The application's role gets UPDATE on the three link columns for it, and can use it
no other way.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-13 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0037'
down_revision: str | None = '0036'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "marketplace_app"
# lib/audit.py's _CHAIN_LOCK, "MKPAUDIT".
CHAIN_LOCK = 0x4D4B_5041_5544_4954

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The link set at commit (audit_event_link): once, by that trigger, on a row whose content it leaves.
    IF TG_OP = 'UPDATE' AND pg_trigger_depth() = 2 AND OLD.hash IS NULL AND OLD.chain_position IS NULL
            AND NEW.hash IS NOT NULL AND NEW.chain_position IS NOT NULL
            AND (NEW.id, NEW.at, NEW.action, NEW.actor, NEW.organisation_id, NEW.target_type, NEW.target_id,
                 NEW.details, NEW.content_sha256)
                IS NOT DISTINCT FROM (OLD.id, OLD.at, OLD.action, OLD.actor, OLD.organisation_id, OLD.target_type,
                                      OLD.target_id, OLD.details, OLD.content_sha256) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
"""

LINK = f"""
CREATE FUNCTION audit_event_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head record;
    previous varchar(64);
BEGIN
    PERFORM pg_advisory_xact_lock({CHAIN_LOCK});
    -- A statement after the lock's, so its snapshot sees the head the lock's previous holder committed.
    SELECT hash, chain_position INTO head FROM audit_event WHERE chain_position IS NOT NULL
        ORDER BY chain_position DESC LIMIT 1;
    previous := coalesce(head.hash, repeat('0', 64));
    UPDATE audit_event
       SET chain_position = coalesce(head.chain_position, 0) + 1, prev_hash = previous,
           hash = encode(sha256(convert_to(previous || ':' || NEW.id || ':' || NEW.content_sha256, 'UTF8')), 'hex')
     WHERE id = NEW.id;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.add_column('audit_event', sa.Column('content_sha256', sa.String(length=64), nullable=True))
    op.add_column('audit_event', sa.Column('chain_position', sa.BigInteger(), nullable=True))
    op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete")
    op.execute("UPDATE audit_event SET chain_position = id")
    op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete")
    op.alter_column('audit_event', 'prev_hash', existing_type=sa.String(length=64), nullable=True)
    op.alter_column('audit_event', 'hash', existing_type=sa.String(length=64), nullable=True)
    op.create_unique_constraint(op.f('uq_audit_event_chain_position'), 'audit_event', ['chain_position'])
    op.execute(APPEND_ONLY)
    op.execute(LINK)
    op.execute("""
        CREATE CONSTRAINT TRIGGER audit_event_link AFTER INSERT ON audit_event
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_event_link()
    """)
    op.execute(f"GRANT UPDATE (chain_position, prev_hash, hash) ON audit_event TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE UPDATE (chain_position, prev_hash, hash) ON audit_event FROM {APP_ROLE}")
    op.execute("DROP TRIGGER audit_event_link ON audit_event")
    op.execute("DROP FUNCTION audit_event_link()")
    op.execute("""
        CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
    """)
    op.drop_constraint(op.f('uq_audit_event_chain_position'), 'audit_event', type_='unique')
    # Events linked at commit have no hash of the earlier form: the downgrade refuses rather than lose them.
    op.execute("""
        DO $$ BEGIN
            IF EXISTS (SELECT FROM audit_event WHERE content_sha256 IS NOT NULL) THEN
                RAISE EXCEPTION 'audit events linked at commit exist: their chain has no form before 0037';
            END IF;
        END $$;
    """)
    op.alter_column('audit_event', 'hash', existing_type=sa.String(length=64), nullable=False)
    op.alter_column('audit_event', 'prev_hash', existing_type=sa.String(length=64), nullable=False)
    op.drop_column('audit_event', 'chain_position')
    op.drop_column('audit_event', 'content_sha256')
