"""the public search's GIN indexes without a pending list (fastupdate off)

With `fastupdate` on (PostgreSQL's default), a GIN index keeps new entries in an unsorted pending list until
VACUUM or the list's size limit (gin_pending_list_limit, 4 MB) moves them into the index, and every search scans
that whole list. Measured at 1,000,000 published needs (bench/search.py, issue 19): the département index's
lookup took 75 ms with 4,171 pending pages and 2 ms once they were merged. Needs are published a few at a time,
so each publication merging its own entries costs little; every search is then a plain index lookup.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-10 09:00:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0034'
down_revision: str | None = '0033'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = ("ix_need_search_document", "ix_need_search_departements", "ix_need_search_cpv_codes")


def upgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} SET (fastupdate = off)")
        # Turning it off stops new entries going to the list; what is already there is merged now.
        op.execute(f"SELECT gin_clean_pending_list('{index}'::regclass)")


def downgrade() -> None:
    for index in INDEXES:
        op.execute(f"ALTER INDEX {index} RESET (fastupdate)")
