"""sandbox procedures on an accelerated clock: a DPS's sandbox factor, epoch and skipped time, a need's sandbox flag, and
the database refusing any specific contract that mixes a sandbox need with a real DPS (or the reverse)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-23 07:46:33.577425+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whatever code writes them, a specific contract joins a need and a DPS of the same world (sandbox or real),
# and neither a DPS's clock nor a need's flag changes once set: the services' checks, backed here.
_GUARDS = ("""
CREATE FUNCTION specific_contract_same_world() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sandbox FROM need WHERE id = NEW.need_id)
            IS DISTINCT FROM (SELECT sandbox_factor IS NOT NULL FROM dps WHERE id = NEW.dps_id) THEN
        RAISE EXCEPTION 'sandbox: specific contract % mixes a sandbox object with a real one', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER specific_contract_same_world BEFORE INSERT OR UPDATE OF need_id, dps_id ON specific_contract
    FOR EACH ROW EXECUTE FUNCTION specific_contract_same_world()
""", """
CREATE FUNCTION need_sandbox_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sandbox IS DISTINCT FROM OLD.sandbox THEN
        RAISE EXCEPTION 'sandbox: need % stays what it was created as', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER need_sandbox_fixed BEFORE UPDATE OF sandbox ON need
    FOR EACH ROW EXECUTE FUNCTION need_sandbox_fixed()
""", """
CREATE FUNCTION dps_sandbox_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.sandbox_factor IS DISTINCT FROM OLD.sandbox_factor OR NEW.sandbox_epoch IS DISTINCT FROM OLD.sandbox_epoch THEN
        RAISE EXCEPTION 'sandbox: the clock of DPS % is set at its creation', OLD.id
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.sandbox_skipped < OLD.sandbox_skipped THEN
        RAISE EXCEPTION 'sandbox: the clock of DPS % never goes back', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$
""", """
CREATE TRIGGER dps_sandbox_fixed BEFORE UPDATE OF sandbox_factor, sandbox_epoch, sandbox_skipped ON dps
    FOR EACH ROW EXECUTE FUNCTION dps_sandbox_fixed()
""")


def upgrade() -> None:
    op.add_column('dps', sa.Column('sandbox_factor', sa.Integer(), nullable=True))
    op.add_column('dps', sa.Column('sandbox_epoch', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True),
                                   nullable=True))
    op.add_column('dps', sa.Column('sandbox_skipped', sa.Interval(), server_default=sa.text("'0'::interval"),
                                   nullable=False))
    op.create_index(op.f('ix_dps_sandbox_factor'), 'dps', ['sandbox_factor'], unique=False)
    op.create_check_constraint(
        op.f('ck_dps_sandbox_clock'), 'dps',
        "(sandbox_factor IS NULL AND sandbox_epoch IS NULL AND sandbox_skipped = '0') OR "
        "(sandbox_factor BETWEEN 2 AND 86400 AND sandbox_epoch IS NOT NULL AND sandbox_skipped >= '0')")
    op.add_column('need', sa.Column('sandbox', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    for statement in _GUARDS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER dps_sandbox_fixed ON dps")
    op.execute("DROP FUNCTION dps_sandbox_fixed()")
    op.execute("DROP TRIGGER need_sandbox_fixed ON need")
    op.execute("DROP FUNCTION need_sandbox_fixed()")
    op.execute("DROP TRIGGER specific_contract_same_world ON specific_contract")
    op.execute("DROP FUNCTION specific_contract_same_world()")
    op.drop_column('need', 'sandbox')
    op.drop_constraint(op.f('ck_dps_sandbox_clock'), 'dps', type_='check')
    op.drop_index(op.f('ix_dps_sandbox_factor'), table_name='dps')
    op.drop_column('dps', 'sandbox_skipped')
    op.drop_column('dps', 'sandbox_epoch')
    op.drop_column('dps', 'sandbox_factor')
