"""rehearsal (sandbox) calls for projects: a call's sandbox flag, set at its creation, and the database refusing a
need filed to a call of the other world (a rehearsal need to a real call, or the reverse)

Revision ID: 0026
Revises: 0023
Create Date: 2026-12-06 10:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whatever code writes them, a need is filed to a call of its own world (sandbox or real), as a specific
# contract joins a need and a DPS of the same world (migration 0018); and a call stays what it was created as.
_TRIGGERS = (
    """CREATE FUNCTION need_filed_same_world() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.call_id IS NOT NULL
            AND NEW.sandbox IS DISTINCT FROM (SELECT sandbox FROM funding_call WHERE id = NEW.call_id) THEN
        RAISE EXCEPTION 'sandbox: need % and call % are not of the same world', NEW.id, NEW.call_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$""",
    """CREATE TRIGGER need_filed_same_world BEFORE INSERT OR UPDATE OF call_id ON need
    FOR EACH ROW EXECUTE FUNCTION need_filed_same_world()""",
    """CREATE FUNCTION funding_call_sandbox_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sandbox IS DISTINCT FROM OLD.sandbox THEN
        RAISE EXCEPTION 'sandbox: call % stays what it was created as', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$""",
    """CREATE TRIGGER funding_call_sandbox_fixed BEFORE UPDATE OF sandbox ON funding_call
    FOR EACH ROW EXECUTE FUNCTION funding_call_sandbox_fixed()""",
)


def upgrade() -> None:
    op.add_column('funding_call', sa.Column('sandbox', sa.Boolean(), server_default=sa.text('false'),
                                            nullable=False))
    op.create_index(op.f('ix_funding_call_sandbox'), 'funding_call', ['sandbox'], unique=False)
    for statement in _TRIGGERS:  # one per call: asyncpg prepares what it runs
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER funding_call_sandbox_fixed ON funding_call")
    op.execute("DROP FUNCTION funding_call_sandbox_fixed()")
    op.execute("DROP TRIGGER need_filed_same_world ON need")
    op.execute("DROP FUNCTION need_filed_same_world()")
    op.drop_index(op.f('ix_funding_call_sandbox'), table_name='funding_call')
    op.drop_column('funding_call', 'sandbox')
