"""public discovery of published needs: their search documents, and French text search without accents

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 04:48:34.638167+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The French configuration with accents folded before stemming: "interoperabilite" finds
# "interopérabilité". `unaccent` ships with PostgreSQL (contrib) and is a trusted extension: the schema
# owner creates it without being a superuser. Its function and dictionary are usable by every role, so
# the application's role needs no grant; the table gets its privileges from the default privileges of
# revision 0002.
TS_CONFIG = "french_unaccent"

# Status and deadline of a specific contract change after publication (machine (c), deadline changes):
# the search document follows them, whichever code changes them.
FOLLOW_CONTRACT = """
CREATE FUNCTION need_search_follow_contract() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE need_search SET status = NEW.status, tender_deadline = NEW.tender_deadline
    WHERE specific_contract_id = NEW.id;
    RETURN NULL;
END $$
"""

# Needs published before this revision get their document; the same statement as
# marketplace/tenders/search.py `_INDEX` at this revision (a copy: migrations don't import the app).
BACKFILL = """
INSERT INTO need_search (need_id, specific_contract_id, holder_organisation_id, category_id, sector,
                         delivery_mode, status, departements, cpv_codes, published_at, tender_deadline, document)
SELECT n.id, sc.id, n.holder_organisation_id, sc.category_id, n.sector, n.delivery_mode, sc.status,
       ARRAY(SELECT DISTINCT CASE WHEN left(f ->> 'finessEt', 2) IN ('97', '98') THEN CASE left(f ->> 'finessEt', 4)
                 WHEN '9701' THEN '971' WHEN '9702' THEN '972' WHEN '9703' THEN '973' WHEN '9704' THEN '974'
                 WHEN '9805' THEN '976' WHEN '9806' THEN '986' ELSE left(f ->> 'finessEt', 3) END
             ELSE left(f ->> 'finessEt', 2) END FROM jsonb_array_elements(n.facilities) AS f ORDER BY 1)::varchar(3)[],
       ARRAY(SELECT DISTINCT rpad(left(left(c.code, 8), k), 8, '0')
             FROM unnest(n.cpv_codes) AS c(code), generate_series(2, 8) AS k
             WHERE k <= greatest(2, length(rtrim(left(c.code, 8), '0'))) ORDER BY 1)::varchar(8)[],
       sc.invited_at, sc.tender_deadline,
       setweight(to_tsvector('french_unaccent', n.title), 'A')
       || setweight(to_tsvector('french_unaccent', concat_ws(' ', o.name, cat.title,
              (SELECT string_agg(fa.name, ' ') FROM facility fa
               WHERE fa.finess_et IN (SELECT f ->> 'finessEt' FROM jsonb_array_elements(n.facilities) AS f)))), 'B')
       || setweight(to_tsvector('french_unaccent', n.description), 'C')
FROM need n
JOIN specific_contract sc ON sc.need_id = n.id
JOIN organisation o ON o.id = n.holder_organisation_id
JOIN dps_category cat ON cat.id = sc.category_id
WHERE n.status = 'published'
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute(f"CREATE TEXT SEARCH CONFIGURATION {TS_CONFIG} (COPY = french)")
    op.execute(f"ALTER TEXT SEARCH CONFIGURATION {TS_CONFIG} "
               "ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem")
    op.create_table('need_search',
    sa.Column('need_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('specific_contract_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('holder_organisation_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('category_id', advanced_alchemy.types.guid.GUID(length=16), nullable=False),
    sa.Column('sector', postgresql.ENUM(name='dps_sector', create_type=False), nullable=True),
    sa.Column('delivery_mode', postgresql.ENUM(name='dps_delivery_mode', create_type=False), nullable=True),
    sa.Column('status', postgresql.ENUM(name='specific_contract_status', create_type=False), nullable=False),
    sa.Column('departements', postgresql.ARRAY(sa.String(length=3)), nullable=False),
    sa.Column('cpv_codes', postgresql.ARRAY(sa.String(length=8)), nullable=False),
    sa.Column('published_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('tender_deadline', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('document', postgresql.TSVECTOR(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['dps_category.id'], name=op.f('fk_need_search_category_id_dps_category'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['holder_organisation_id'], ['organisation.id'], name=op.f('fk_need_search_holder_organisation_id_organisation'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['need_id'], ['need.id'], name=op.f('fk_need_search_need_id_need'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['specific_contract_id'], ['specific_contract.id'], name=op.f('fk_need_search_specific_contract_id_specific_contract'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('need_id', name=op.f('pk_need_search')),
    sa.UniqueConstraint('specific_contract_id', name=op.f('uq_need_search_specific_contract_id'))
    )
    op.create_index(op.f('ix_need_search_category_id'), 'need_search', ['category_id'], unique=False)
    op.create_index('ix_need_search_cpv_codes', 'need_search', ['cpv_codes'], unique=False, postgresql_using='gin')
    op.create_index('ix_need_search_departements', 'need_search', ['departements'], unique=False, postgresql_using='gin')
    op.create_index('ix_need_search_document', 'need_search', ['document'], unique=False, postgresql_using='gin')
    op.create_index('ix_need_search_published_at_need_id', 'need_search', ['published_at', 'need_id'], unique=False)
    op.create_index(op.f('ix_need_search_status'), 'need_search', ['status'], unique=False)
    op.create_index(op.f('ix_need_search_tender_deadline'), 'need_search', ['tender_deadline'], unique=False)
    op.execute(FOLLOW_CONTRACT)
    op.execute("""
        CREATE TRIGGER need_search_follow_contract AFTER UPDATE OF status, tender_deadline ON specific_contract
        FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.tender_deadline IS DISTINCT FROM NEW.tender_deadline)
        EXECUTE FUNCTION need_search_follow_contract()
    """)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER need_search_follow_contract ON specific_contract")
    op.execute("DROP FUNCTION need_search_follow_contract()")
    op.drop_index(op.f('ix_need_search_tender_deadline'), table_name='need_search')
    op.drop_index(op.f('ix_need_search_status'), table_name='need_search')
    op.drop_index('ix_need_search_published_at_need_id', table_name='need_search')
    op.drop_index('ix_need_search_document', table_name='need_search', postgresql_using='gin')
    op.drop_index('ix_need_search_departements', table_name='need_search', postgresql_using='gin')
    op.drop_index('ix_need_search_cpv_codes', table_name='need_search', postgresql_using='gin')
    op.drop_index(op.f('ix_need_search_category_id'), table_name='need_search')
    op.drop_table('need_search')
    op.execute(f"DROP TEXT SEARCH CONFIGURATION {TS_CONFIG}")
    op.execute("DROP EXTENSION IF EXISTS unaccent")
