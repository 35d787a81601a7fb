"""the public search's départements, one row each, in publication order (need_search_place)

A text search with a département ranks the 500 most recent needs of that département holding the words. The
département is in an array (a need's facilities may be in several), which only a GIN index can read, and a GIN
index gives its rows in no order: at 1,000,000 needs every search read all of a département's 13,000 needs (or
a long stretch of them) to keep the most recent matches, 30 to 140 ms (bench/search.py, issue 19). One row per
département of each published need, keyed by département then publication instant, is read newest first
and stops at the window. A trigger keeps it with the search document, whatever writes that.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-11 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = '0035'
down_revision: str | None = '0034'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLLOW_DOCUMENT = """
CREATE FUNCTION need_search_place_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM need_search_place WHERE need_id = NEW.need_id;
    INSERT INTO need_search_place (departement, published_at, need_id)
    SELECT DISTINCT d, NEW.published_at, NEW.need_id FROM unnest(NEW.departements) AS d;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table('need_search_place',
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('published_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('need_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['need_id'], ['need_search.need_id'], name=op.f('fk_need_search_place_need_id_need_search'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('departement', 'published_at', 'need_id', name=op.f('pk_need_search_place'))
    )
    op.create_index(op.f('ix_need_search_place_need_id'), 'need_search_place', ['need_id'], unique=False)
    op.execute(FOLLOW_DOCUMENT)
    op.execute("CREATE TRIGGER need_search_place_follow AFTER INSERT OR UPDATE OF departements, published_at "
               "ON need_search FOR EACH ROW EXECUTE FUNCTION need_search_place_follow()")
    op.execute("INSERT INTO need_search_place (departement, published_at, need_id) "
               "SELECT DISTINCT d, s.published_at, s.need_id FROM need_search AS s, unnest(s.departements) AS d")


def downgrade() -> None:
    op.execute("DROP TRIGGER need_search_place_follow ON need_search")
    op.execute("DROP FUNCTION need_search_place_follow()")
    op.drop_index(op.f('ix_need_search_place_need_id'), table_name='need_search_place')
    op.drop_table('need_search_place')
