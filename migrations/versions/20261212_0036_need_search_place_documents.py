"""the search document beside each département row of the public search (need_search_place.document)

A text search of common words in a département walks that département's rows newest first and checks the words
on each, until 500 match. Each check looked its document up in `need_search` (its primary key, then its row):
four buffers and ~7 µs per row, 66 ms for "aide à domicile" in Paris at 1,000,000 needs, where 8,530 rows are
read (bench/search.py, issue 19). With the document on the département's row, the check reads that row only.
The trigger of migration 0035 copies it, and follows a rewritten document too.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-12 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0036'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOLLOW_DOCUMENT = """
CREATE OR REPLACE FUNCTION need_search_place_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM need_search_place WHERE need_id = NEW.need_id;
    INSERT INTO need_search_place (departement, published_at, need_id, document)
    SELECT DISTINCT d, NEW.published_at, NEW.need_id, NEW.document FROM unnest(NEW.departements) AS d;
    RETURN NULL;
END $$
"""

FOLLOW_DOCUMENT_0035 = """
CREATE OR REPLACE FUNCTION need_search_place_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM need_search_place WHERE need_id = NEW.need_id;
    INSERT INTO need_search_place (departement, published_at, need_id)
    SELECT DISTINCT d, NEW.published_at, NEW.need_id FROM unnest(NEW.departements) AS d;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column('need_search_place', sa.Column('document', postgresql.TSVECTOR(), nullable=True))
    op.execute("UPDATE need_search_place AS p SET document = s.document FROM need_search AS s "
               "WHERE s.need_id = p.need_id")
    op.alter_column('need_search_place', 'document', nullable=False)
    op.execute(FOLLOW_DOCUMENT)
    op.execute("DROP TRIGGER need_search_place_follow ON need_search")
    op.execute("CREATE TRIGGER need_search_place_follow AFTER INSERT OR UPDATE OF departements, published_at, "
               "document ON need_search FOR EACH ROW EXECUTE FUNCTION need_search_place_follow()")


def downgrade() -> None:
    op.execute("DROP TRIGGER need_search_place_follow ON need_search")
    op.execute(FOLLOW_DOCUMENT_0035)
    op.execute("CREATE TRIGGER need_search_place_follow AFTER INSERT OR UPDATE OF departements, published_at "
               "ON need_search FOR EACH ROW EXECUTE FUNCTION need_search_place_follow()")
    op.drop_column('need_search_place', 'document')
