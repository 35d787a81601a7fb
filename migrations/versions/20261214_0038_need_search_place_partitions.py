"""the public search's département rows, one partition per département (need_search_place)

A text search of common words in a département walks that département's rows newest first and checks the words
on each, until 500 match. In one table the rows of all départements are interleaved as needs are published, so
each row read is on its own 8 KiB page (about 8 rows per page): 8,525 pages for the 8,456 rows of Corse-du-Sud
at 1,000,000 needs. With one partition per département its rows are stored together, in publication order, and
the walk reads about one page per 8 rows: the statement's time fell by a third at 1,000,000 needs (issue 19,
bench/RESULTS.md). A search names one département, so PostgreSQL reads only its partition. Codes outside the list
(none today: migration 0035 takes them from FINESS numbers) land in the default partition.

The département codes are those of marketplace/lib/geography.py on the day of this revision, written out: a
migration does not follow later edits of the code.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-14 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0038'
down_revision: str | None = '0037'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEPARTEMENTS = (
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
    "21", "22", "23", "24", "25", "26", "27", "28", "29", "2A", "2B", "30", "31", "32", "33", "34", "35", "36", "37",
    "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56",
    "57", "58", "59", "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75",
    "76", "77", "78", "79", "80", "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94",
    "95", "971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987", "988")

COLUMNS = "departement, published_at, need_id, document"


def _constraints() -> None:
    op.execute("ALTER TABLE need_search_place ADD CONSTRAINT pk_need_search_place "
               "PRIMARY KEY (departement, published_at, need_id)")
    op.execute("CREATE INDEX ix_need_search_place_need_id ON need_search_place (need_id)")
    op.execute("ALTER TABLE need_search_place ADD CONSTRAINT fk_need_search_place_need_id_need_search "
               "FOREIGN KEY (need_id) REFERENCES need_search (need_id) ON DELETE CASCADE")


def upgrade() -> None:
    op.execute("ALTER TABLE need_search_place RENAME TO need_search_place_single")
    op.execute("CREATE TABLE need_search_place (departement varchar(3) NOT NULL, published_at timestamptz NOT NULL, "
               "need_id uuid NOT NULL, document tsvector NOT NULL) PARTITION BY LIST (departement)")
    for code in DEPARTEMENTS:
        op.execute(f"CREATE TABLE need_search_place_{code.lower()} PARTITION OF need_search_place "
                   f"FOR VALUES IN ('{code}')")
    op.execute("CREATE TABLE need_search_place_other PARTITION OF need_search_place DEFAULT")
    # Each partition filled in publication order, as new needs will follow.
    op.execute(f"INSERT INTO need_search_place ({COLUMNS}) SELECT {COLUMNS} FROM need_search_place_single "
               "ORDER BY departement, published_at, need_id")
    op.execute("DROP TABLE need_search_place_single")
    _constraints()
    op.execute("ANALYZE need_search_place")


def downgrade() -> None:
    op.execute("ALTER TABLE need_search_place RENAME TO need_search_place_partitioned")
    op.execute("CREATE TABLE need_search_place (departement varchar(3) NOT NULL, published_at timestamptz NOT NULL, "
               "need_id uuid NOT NULL, document tsvector NOT NULL)")
    op.execute(f"INSERT INTO need_search_place ({COLUMNS}) SELECT {COLUMNS} FROM need_search_place_partitioned")
    op.execute("DROP TABLE need_search_place_partitioned")
    _constraints()
