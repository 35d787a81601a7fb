"""Public discovery of published needs and their specific contracts: full-text search and filters.

A need becomes public when a buyer publishes it (status `published`, with a specific contract); drafts and
submitted needs are never listed, because only publication writes a row of `need_search`, the search
document this module queries. The row holds every filter and every sort key of the listing, so each has an
index on one table (GIN on the text, the départements and the CPV codes; btree on the category, the status,
the deadline and the publication instant) and no query reads `need` until the page is chosen.

Text search uses PostgreSQL's French configuration with accents folded (`french_unaccent`, migration 0010:
`unaccent` then the French stemmer), so "logiciels" finds "logiciel" and "interoperabilite" finds
"interopérabilité". The free text goes through `websearch_to_tsquery`, which never fails on user input
("quoted phrases", `or`, `-excluded`).

Pagination is by keyset: the cursor carries the last row's sort key and id, so a page never repeats nor
skips a row that existed when the first page was read, whatever is published in between. The order is
(rank desc, need id) with a text query, (publication instant desc, need id desc) without.

With a text query, ranking every match costs a few microseconds per match, and the programme's words
("dossier usager", "EHPAD") match a third of all needs: at 100,000 needs that is over 100 ms for one
query. So the ranked set is a window: the RANKED_WINDOW most recent matches, published until the first
page was read (the cursor carries that instant, so the window stays put while paging). A query whose
words are rarer than that ranks every match; a common one ranks the most recent ones, which for calls
for competition are also the ones still open. Filters apply before the window.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.models import Organisation
from marketplace.errors import NotFound, RuleViolation
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.lib.geography import (
    DEPARTEMENTS,
    REGIONS,
    departement_of_finess_sql,
    departements_of_region,
    region_of,
)
from marketplace.reference.cpv import CpvInputError, parse_cpv
from marketplace.tenders import schemas
from marketplace.tenders.deposits import deposit_limits
from marketplace.tenders.errors import InvalidSearch, UnknownSearchValue
from marketplace.tenders.models import Need, NeedSearch, NeedSearchPlace, SpecificContract
from marketplace.tenders.states import SpecificContractStatus, reads_as_sql, status_at_sql
from marketplace.vendors.models import DpsCategory

# The text search configuration of migration 0010 (french with unaccent); a constant, never user input.
TS_CONFIG = "french_unaccent"
EXCERPT_CHARS = 280
# With a text query, the most recent matches ranked; see the module's docstring.
RANKED_WINDOW = 500
# The spans of publication a text search reads, newest first (`_newest_first`): a day, then four times longer
# each time; a search for a common word stops in the first, a rarer word's in one of the next.
_SPANS = tuple(timedelta(days=4 ** k) for k in range(6))
# The listing's first span, walked whatever the filters (`_statement`).
_RECENT = timedelta(days=1)
# ts_headline picks the fragments of the description around the matched words; no markup is added, so
# clients never receive HTML they would have to escape.
_HEADLINE_OPTIONS = "MaxWords=40, MinWords=20, MaxFragments=2, FragmentDelimiter=\" … \", StartSel=\"\", StopSel=\"\""
# PostgreSQL text can't hold NUL; an unpaired surrogate can't be encoded: refused as bad input, not a 500.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The type of the instants a search binds (aware, stored in UTC), as the columns they are compared with.
_INSTANT = NeedSearch.published_at.type

# The search document of published needs, written set-based: for one need at publication, or for every
# published need at once (a backfill). The département of a facility is the one `lib.geography`
# reads in its FINESS (overseas: 9701… is 971); a CPV code brings every code above it in the tree
# (its digits, one fewer at a time down to the division, zero-padded, as `reference.cpv.cpv_parent`).
# Title weighs most, then who and where (holder, facilities, category), then the description. A sandbox need
# (vendors/sandbox.py) is a rehearsal: it never gets a search document, so no discovery query can find it.
_INDEX = """
INSERT INTO need_search (need_id, specific_contract_id, holder_organisation_id, category_id, sector,
                         delivery_mode, status, departements, cpv_codes, published_at, tender_deadline, document)
SELECT n.id, sc.id, n.holder_organisation_id, sc.category_id, n.sector, n.delivery_mode, sc.status,
       ARRAY(SELECT DISTINCT {departement} FROM jsonb_array_elements(n.facilities) AS f ORDER BY 1)::varchar(3)[],
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
WHERE n.status = 'published' AND NOT n.sandbox {where}
ON CONFLICT (need_id) DO UPDATE SET
    specific_contract_id = excluded.specific_contract_id, holder_organisation_id = excluded.holder_organisation_id,
    category_id = excluded.category_id, sector = excluded.sector, delivery_mode = excluded.delivery_mode,
    status = excluded.status, departements = excluded.departements, cpv_codes = excluded.cpv_codes,
    published_at = excluded.published_at, tender_deadline = excluded.tender_deadline, document = excluded.document
"""
_INDEX = _INDEX.replace("{departement}", departement_of_finess_sql("(f ->> 'finessEt')"))
# nosemgrep: sql-built-from-strings  # a constant condition; the ids are bound
_INDEX_SOME = text(_INDEX.format(where="AND n.id = ANY(CAST(:need_ids AS uuid[]))"))
# Every published need at once: the benchmark's seeding (bench/seed_needs.py).
INDEX_ALL_SQL = _INDEX.format(where="")


async def index_needs(session: AsyncSession, need_ids: Sequence[uuid.UUID]) -> None:
    """(Re)write the search documents of these needs, if published; one statement whatever their number."""
    await session.execute(_INDEX_SOME, {"need_ids": list(need_ids)})




# -- the query --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's sort key (a rank, or a publication instant) and id;
    with a text query, also the instant the first page was read (the ranked window's bound)."""

    ranked: bool
    rank: float | None
    published_at: datetime | None
    need_id: uuid.UUID
    as_of: datetime | None = None

    def encode(self) -> str:
        if self.ranked:
            raw: list[Any] = ["r", self.rank, str(self.need_id), self.as_of.isoformat() if self.as_of else None]
        else:
            raw = ["t", self.published_at.isoformat() if self.published_at else None, str(self.need_id)]
        return base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":")).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            if isinstance(raw, list) and len(raw) == 4 and raw[0] == "r" and isinstance(raw[1], (int, float)) \
                    and not isinstance(raw[1], bool):
                as_of = datetime.fromisoformat(raw[3])
                if as_of.tzinfo is not None:
                    return cls(True, float(raw[1]), None, uuid.UUID(raw[2]), as_of)
            if isinstance(raw, list) and len(raw) == 3 and raw[0] == "t":
                at = datetime.fromisoformat(raw[1])
                if at.tzinfo is not None:
                    return cls(False, None, at, uuid.UUID(raw[2]))
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            pass
        raise UnknownSearchValue("cursor: not a cursor this listing gave (use `nextCursor` as it is)", field="cursor")


@dataclass(frozen=True)
class SearchQuery:
    """A checked search: what `_statement` (its shape) and `_values` turn into SQL."""

    # The instant the statuses are read at (HC6); public needs are real ones, on the real clock.
    now: datetime
    q: str | None = None
    category_id: uuid.UUID | None = None
    sector: str | None = None
    delivery_mode: str | None = None
    departement: str | None = None
    region: str | None = None
    cpv: str | None = None
    status: SpecificContractStatus | None = None
    deadline_from: datetime | None = None
    deadline_to: datetime | None = None
    limit: int = 20
    after: Cursor | None = None
    # With a text query: only needs published until then are ranked (fixed by the first page).
    as_of: datetime | None = None
    # One published contract's own row (its public view); never taken from the wire's parameters.
    specific_contract_id: uuid.UUID | None = None


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if _UNSTORABLE.search(value):
        raise InvalidSearch(f"{field}: contains a NUL or an unpaired surrogate character", field=field)
    return value.strip() or None


def _instant(field: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return paris_instant(value)
    except InvalidLocalTime as exc:
        raise RuleViolation(f"{field}: {exc}", field=field) from exc


def check_params(params: schemas.NeedSearchParams, now: datetime) -> SearchQuery:
    """The parameters as the wire gives them, checked; each refusal names its parameter."""
    departement = _text("departement", params.departement)
    if departement is not None:
        departement = departement.upper()
        if departement not in DEPARTEMENTS:
            raise UnknownSearchValue(f"departement: {departement!r} is not a département code (\"75\", \"2A\", "
                                "\"971\"…, INSEE COG 2024)", field="departement")
    region = _text("region", params.region)
    if region is not None and region not in REGIONS:
        raise UnknownSearchValue(f"region: {region!r} is not an INSEE region code (\"11\" Île-de-France, "
                            "\"84\" Auvergne-Rhône-Alpes…, COG 2024)", field="region")
    cpv = _text("cpv", params.cpv)
    if cpv is not None:
        try:
            cpv = parse_cpv(cpv)[0]
        except CpvInputError as exc:
            raise UnknownSearchValue(f"cpv: {exc}", field="cpv") from exc
    deadline_from = _instant("deadlineFrom", params.deadline_from)
    deadline_to = _instant("deadlineTo", params.deadline_to)
    if deadline_from is not None and deadline_to is not None and deadline_to < deadline_from:
        raise UnknownSearchValue("deadlineTo: must not be before deadlineFrom", field="deadlineTo")
    q = _text("q", params.q)
    cursor = _text("cursor", params.cursor)
    after = Cursor.decode(cursor) if cursor is not None else None
    if after is not None and after.ranked != (q is not None):
        raise UnknownSearchValue("cursor: this cursor belongs to a listing " + ("with" if after.ranked else "without")
                            + " a text query `q`", field="cursor")
    return SearchQuery(q=q, category_id=params.category_id, sector=params.sector, delivery_mode=params.delivery_mode,
                       departement=departement, region=region, cpv=cpv, status=params.status,
                       deadline_from=deadline_from, deadline_to=deadline_to, limit=params.limit, after=after,
                       as_of=(after.as_of if after is not None else now) if q is not None else None, now=now)


@dataclass(frozen=True)
class _Shape:
    """What a search's statement depends on besides its values: which parameters are given (and the status,
    which changes the condition), whether the text's words are common. One statement is built per shape and
    kept (`_statement`); every search binds its own values to it (`_values`)."""

    text: bool
    common_words: bool
    specific_contract: bool
    category: bool
    sector: bool
    delivery_mode: bool
    status: SpecificContractStatus | None
    departement: bool
    region: bool
    cpv: bool
    deadline_from: bool
    deadline_to: bool
    as_of: bool
    after: bool

    @classmethod
    def of(cls, query: SearchQuery, common_words: bool) -> _Shape:
        after = query.after
        return cls(text=query.q is not None, common_words=common_words and query.q is not None,
                   specific_contract=query.specific_contract_id is not None,
                   category=query.category_id is not None, sector=query.sector is not None,
                   delivery_mode=query.delivery_mode is not None, status=query.status,
                   departement=query.departement is not None, region=query.region is not None,
                   cpv=query.cpv is not None, deadline_from=query.deadline_from is not None,
                   deadline_to=query.deadline_to is not None, as_of=query.as_of is not None,
                   after=after is not None and (after.rank if query.q is not None else after.published_at) is not None)


def _values(query: SearchQuery) -> dict[str, Any]:
    """The values of a search's statement, by the names `_statement` binds; a name its shape lacks is ignored."""
    after = query.after
    if query.q is not None:
        anchor = query.as_of or query.now
    else:
        anchor = after.published_at if after is not None and after.published_at is not None else query.now
    return {
        "now": query.now, "q": query.q, "as_of": query.as_of, "window": RANKED_WINDOW,
        "page_limit": query.limit + 1, "specific_contract_id": query.specific_contract_id,
        "category_id": query.category_id, "sector": query.sector, "delivery_mode": query.delivery_mode,
        "departement": query.departement,
        "departement_in": [query.departement] if query.departement is not None else None,
        "region_departements": list(departements_of_region(query.region)) if query.region is not None else None,
        "cpv_in": [query.cpv] if query.cpv is not None else None,
        "deadline_from": query.deadline_from, "deadline_to": query.deadline_to,
        "after_rank": after.rank if after is not None else None,
        "after_published_at": after.published_at if after is not None else None,
        "after_need_id": after.need_id if after is not None else None,
        "recent_bound": anchor - _RECENT,
        **{f"span_{k}": anchor - span for k, span in enumerate(_SPANS)},
    }


def _bind(name: str, type_: Any = None) -> Any:
    # Named, so that a kept statement takes each search's values by name (`_values`).
    return bindparam(name, type_=type_)


def _tsquery() -> Any:
    return func.websearch_to_tsquery(literal_column(f"'{TS_CONFIG}'::regconfig"), _bind("q", String()))


def _filters(shape: _Shape, *, departement: bool = True) -> list[Any]:
    """One condition per parameter given; each can use its own index of `need_search`."""
    s = NeedSearch
    filters: list[Any] = []
    if shape.specific_contract:
        filters.append(s.specific_contract_id == _bind("specific_contract_id"))
    if shape.category:
        filters.append(s.category_id == _bind("category_id"))
    if shape.sector:
        filters.append(s.sector == _bind("sector"))
    if shape.delivery_mode:
        filters.append(s.delivery_mode == _bind("delivery_mode"))
    if shape.status is not None:
        # HC6: the status as read now, not the stored one the trigger copies: past its deadline an unopened
        # contract is no longer found as `open`, and is found as `closed_for_offers`.
        filters.append(reads_as_sql(s.status, s.tender_deadline, shape.status, _bind("now", _INSTANT)))
    if shape.departement and departement:
        filters.append(s.departements.overlap(_bind("departement_in")))
    if shape.region:
        filters.append(s.departements.overlap(_bind("region_departements")))
    if shape.cpv:
        filters.append(s.cpv_codes.contains(_bind("cpv_in")))
    if shape.deadline_from:
        filters.append(s.tender_deadline >= _bind("deadline_from"))
    if shape.deadline_to:
        filters.append(s.tender_deadline <= _bind("deadline_to"))
    return filters


def _newest_first(rows: Select[*tuple[Any, ...]], *, walk: bool = True) -> Select[*tuple[Any, ...]]:
    """The `window` most recently published of `rows` (a select of `need_search`), read span by span back from
    the search's anchor (`_values`: `span_0` is a day before it, `span_1` four days…).

    One index cannot serve both a filter (a rare word, a département) and the order by publication: walking
    the publication index backwards reads every non-matching row until `limit` match (a word in 1 % of a
    million needs: 35,000 rows, ~140 ms), and a filter's index finds every match, however old, before
    sorting. So the rows are read by spans of publication going back from `anchor`, each four times as long
    as the one after it (a day, 4 days, 16…, then everything older), each span planned for its own bounds,
    and the outer LIMIT stops once `limit` rows are found: PostgreSQL runs the branches of a UNION ALL one
    after the other and never starts the next once the limit is met. The result is exactly the `limit` most
    recent, as one scan would give: the spans are disjoint and newest first. The page's order is applied
    by the caller (the rows come in publication order, but only a few are sorted). Parallel plans are off
    for searches (`_PLANNING`), since a parallel append would run the spans out of order.

    Without `walk`, a span is never read by walking the publication index until `limit` rows match (its
    order is written so that the index cannot give it): it is read whole, through its range or a filter's
    index, and sorted. That bounds a span's cost by its size when PostgreSQL cannot estimate how many of its
    rows match (a condition it cannot read through an index, see `_window`), where an early stop it
    expects would otherwise become a walk through every older row.
    """
    s = NeedSearch
    window = _bind("window", Integer())
    branches = []
    upper: str | None = None
    for k in (*range(len(_SPANS)), None):
        lower = f"span_{k}" if k is not None else None
        branch = rows
        if upper is not None:
            branch = branch.where(s.published_at <= _bind(upper))
        if lower is not None:
            branch = branch.where(s.published_at > _bind(lower))
        newest = s.published_at if walk else s.published_at + literal_column("interval '0'")
        branches.append(branch.order_by(newest.desc(), s.need_id.desc()).limit(window))
        upper = lower
    spans = union_all(*branches).subquery("spans")
    return select(*spans.c).limit(window)


def build_search(query: SearchQuery, *, common_words: bool = False) -> Select[*tuple[Any, ...]]:
    """The one statement a search runs, with its values bound: a page of `limit + 1` rows (the extra one says
    a next page exists). The service runs the kept statement of the query's shape with `_values` instead, which
    is the same SQL without rebuilding it."""
    return _statement(_Shape.of(query, common_words)).params(_values(query))


def _window(shape: _Shape, filters: list[Any], tsquery: Any) -> Any:
    """A text search's candidates (`need_id`, `document`): the RANKED_WINDOW most recent matches published until
    `as_of`, read span by span (`_newest_first`): through the text index when the words are rare, through the
    publication or the filters' indexes when they are common; either way no more than the window is ranked."""
    s = NeedSearch
    window_size = _bind("window", Integer())
    matches: Any = s.document.op("@@")(tsquery)
    if shape.common_words:
        # Not indexable as written (`coalesce` is not an operator of the text index), so each span is read
        # through the publication index or the filters' indexes, the words checked on the rows found.
        matches = func.coalesce(matches, False)
    if shape.common_words and shape.departement:
        # The département's own rows, newest first (`need_search_place`), until the window is full: the
        # words are common enough that a few times the window's size is read. They are checked on the
        # row's copy of the document, so `need_search` is read only for the other filters, if any.
        place = NeedSearchPlace
        window = (select(place.need_id.label("need_id"), place.document.label("document"))
                  .where(place.departement == _bind("departement"),
                         func.coalesce(place.document.op("@@")(tsquery), False)))
        others = _filters(shape, departement=False)
        if others:
            window = window.join(s, s.need_id == place.need_id).where(*others)
        if shape.as_of:
            window = window.where(place.published_at <= _bind("as_of", _INSTANT))
        candidates = (window.order_by(place.published_at.desc(), place.need_id.desc()).limit(window_size)
                      .subquery("candidates"))
    else:
        window = select(s.need_id.label("need_id"), s.document.label("document")).where(matches, *filters)
        if shape.as_of:
            window = window.where(s.published_at <= _bind("as_of", _INSTANT))
        if shape.common_words and not filters:
            # Common words alone: one walk of the publication index, newest first, stopping at the window
            # (a few thousand rows); spans would only add their planning.
            candidates = (window.order_by(s.published_at.desc(), s.need_id.desc()).limit(window_size)
                          .subquery("candidates"))
        else:
            # With filters too, each span read whole (see `_newest_first`): PostgreSQL would otherwise weigh
            # a walk against the filters' indexes blind to how many rows hold the words.
            candidates = _newest_first(window, walk=not shape.common_words).subquery("candidates")
    return candidates


# A kept statement weighs ~70 KiB; the public endpoint has thousands of possible shapes, a few dozen in use.
@functools.lru_cache(maxsize=128)
def _statement(shape: _Shape) -> Select[*tuple[Any, ...]]:
    """The statement of a shape of search, its values left to bind by name (`_values`). Building it costs a few
    milliseconds of Python, more than PostgreSQL spends on most searches, so it is built once per shape.

    The page is chosen on `need_search` alone, with its indexes; the need's title and description, the
    holder's name and the category's title are joined for the page's rows only.

    `common_words` (`NeedSearchService.common_words`): the text's words are in many needs. Reading the text
    index for them costs a tenth of a microsecond per need that has them, however old (a third of a million
    needs: 70 ms, in each span), while the most recent matches are found by reading a few thousand recent
    rows; PostgreSQL misjudges both, so the statement is written to leave it no choice.
    """
    s = NeedSearch
    filters = _filters(shape)
    now = _bind("now", _INSTANT)
    page_limit = _bind("page_limit", Integer())
    if shape.text:
        tsquery = _tsquery()
        candidates = _window(shape, filters, tsquery)
        ranked = select(candidates.c.need_id,
                        func.ts_rank(candidates.c.document, tsquery).label("rank")).subquery("ranked")
        page_query: Select[*tuple[Any, ...]] = select(ranked.c.need_id, ranked.c.rank)
        if shape.after:
            # A bound float8: the real rank compares with it exactly (float4 widens without loss).
            rank = _bind("after_rank", Float())
            page_query = page_query.where(or_(ranked.c.rank < rank, and_(
                ranked.c.rank == rank, ranked.c.need_id > _bind("after_need_id", s.need_id.type))))
        page = page_query.order_by(ranked.c.rank.desc(), ranked.c.need_id).limit(page_limit).subquery("page")
        order: tuple[Any, ...] = (page.c.rank.desc(), page.c.need_id)
        excerpt = func.ts_headline(literal_column(f"'{TS_CONFIG}'::regconfig"), Need.description, tsquery,
                                   _HEADLINE_OPTIONS)
        rank_column: Any = page.c.rank
    else:
        def listing(*conditions: Any) -> Select[*tuple[Any, ...]]:
            rows = select(s.need_id.label("need_id")).where(*conditions)
            if shape.after:
                rows = rows.where(tuple_(s.published_at, s.need_id) < tuple_(
                    _bind("after_published_at", _INSTANT), _bind("after_need_id", s.need_id.type)))
            return rows.order_by(s.published_at.desc(), s.need_id.desc()).limit(page_limit)

        if not filters or shape.specific_contract:
            page = listing(*filters).subquery("page")
        else:
            # The last day first, walked newest first whatever the filters (written so that their indexes
            # can't serve): a page of common filters is there, found in a few hundred rows. Then everything
            # older, read as PostgreSQL chooses. It assumes filters independent of the publication date, and
            # the status is not: `open` is every recent need and almost no old one, so for "open, home care,
            # Île-de-France" it read 97,000 open needs through the status index to keep 21 (44 ms at 1,000,000
            # needs) where walking the last day finds them in under a thousand rows. Same rows as one scan
            # (`_newest_first`: disjoint, newest first, under one LIMIT). The day ends at the cursor's
            # instant on later pages (`_values`: `recent_bound`).
            recent = listing(func.coalesce(and_(*filters), False), s.published_at > _bind("recent_bound", _INSTANT))
            older = listing(*filters, s.published_at <= _bind("recent_bound", _INSTANT))
            both = union_all(recent, older).subquery("both")
            page = select(*both.c).limit(page_limit).subquery("page")
        order = (s.published_at.desc(), s.need_id.desc())
        excerpt = func.left(Need.description, EXCERPT_CHARS + 1)
        rank_column = literal_column("NULL::real")

    return (select(s.need_id, s.specific_contract_id, s.holder_organisation_id, s.category_id, s.sector,
                   s.delivery_mode, status_at_sql(s.status, s.tender_deadline, now).label("status"),
                   s.departements, s.published_at, s.tender_deadline,
                   Need.title, Need.cpv_codes, excerpt.label("excerpt"), Organisation.name.label("holder_name"),
                   DpsCategory.title.label("category_title"), rank_column.label("rank"),
                   # D14a: the limits a deposit can hit, published with the need.
                   SpecificContract.attachment_max_bytes, SpecificContract.offer_max_bytes,
                   SpecificContract.attachment_max_count, SpecificContract.attachment_types)
            .select_from(page)
            .join(s, s.need_id == page.c.need_id)
            .join(SpecificContract, SpecificContract.id == s.specific_contract_id)
            .join(Need, Need.id == s.need_id)
            .join(Organisation, Organisation.id == s.holder_organisation_id)
            .join(DpsCategory, DpsCategory.id == s.category_id)
            .order_by(*order))


def _excerpt(value: str, ranked: bool) -> str:
    value = " ".join(value.split())
    if ranked or len(value) <= EXCERPT_CHARS:
        return value
    cut = value[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + " …"


def _public_need(row: Any, ranked: bool) -> schemas.PublicNeed:
    return schemas.PublicNeed(
        need_id=row.need_id, specific_contract_id=row.specific_contract_id, title=row.title,
        excerpt=_excerpt(row.excerpt or "", ranked),
        holder_organisation_id=row.holder_organisation_id, holder_name=row.holder_name,
        category_id=row.category_id, category_title=row.category_title, sector=row.sector,
        delivery_mode=row.delivery_mode, departements=list(row.departements),
        regions=sorted({r for r in (region_of(d) for d in row.departements) if r is not None}),
        cpv_codes=list(row.cpv_codes), status=row.status, published_at=row.published_at,
        tender_deadline=row.tender_deadline, tender_deadline_paris=format_paris(row.tender_deadline),
        deposit_limits=deposit_limits(row), rank=row.rank)


# Each search planned for its own values (see `search`), and never in parallel: `_newest_first` relies on the
# spans being read one after the other, newest first, which a parallel append would not do. Joins in the order
# the statement writes them (`_statement`: the page first, then each of its rows' tables by primary key): the
# planner otherwise weighs every order of the six tables and their subqueries, 2 to 6.6 ms of planning per
# search at 1,000,000 needs against 1.2 to 1.5 ms so, for the same plans (bench/RESULTS.md).
_PLANNING_SQL = ("set_config('plan_cache_mode', 'force_custom_plan', true), "
                 "set_config('max_parallel_workers_per_gather', '0', true), "
                 "set_config('join_collapse_limit', '1', true), set_config('from_collapse_limit', '1', true)")
# nosemgrep: sql-built-from-strings  # two constants of this module, no value; `q` is bound
_PLANNING = text(f"SELECT {_PLANNING_SQL}")


# How common the text's words are, from the statistics ANALYZE keeps on the search documents (the share of
# documents holding each of the most common lexemes): the least common word's share, which bounds how many
# documents hold them all. A word the statistics don't list is rarer than every word they list. PostgreSQL's
# own estimate multiplies the words' shares, as if they were independent: "circuit du médicament" is in 21 %
# of the seeded needs, estimated 4.5 %.
_WORD_SHARE_SQL = """
WITH stats AS (
    SELECT most_common_elems::text::text[] AS lexemes, most_common_elem_freqs AS shares FROM pg_stats
    WHERE schemaname = current_schema() AND tablename = 'need_search' AND attname = 'document')
SELECT min(coalesce(shares[array_position(lexemes, l.lexeme)], shares[cardinality(lexemes) + 1]))
FROM stats, unnest(tsvector_to_array(to_tsvector('french_unaccent', :q))) AS l(lexeme)
"""
# A text search's two first steps in one round trip.
# nosemgrep: sql-built-from-strings  # two constants of this module, no value; `q` is bound
_PLANNING_AND_WORD_SHARE = text(f"SELECT {_PLANNING_SQL}, ({_WORD_SHARE_SQL}) AS share")
# From this share up, walking the recent rows finds the window sooner than the text index does (measured at
# 1,000,000 needs: bench/RESULTS.md).
COMMON_WORDS = 0.05


class NeedSearchService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def search(self, params: schemas.NeedSearchParams) -> schemas.PublicNeedPage:
        query = check_params(params, self.clock.now())
        # The statement is prepared once per connection and reused for every search; after a few runs
        # PostgreSQL may plan it once for any parameters, blind to how common the words or the
        # département are, and pick the wrong index (a common word ranked through the text index costs
        # 5–10 times more). Planning each search for its own parameters costs well under a millisecond.
        common = False
        if query.q is None:
            await self.session.execute(_PLANNING)
        else:
            common = await self.common_words(query.q)  # the planning settings too (`word_share`)
        rows = await self._page(query, common)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = [_public_need(row, query.q is not None) for row in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = Cursor(query.q is not None, last.rank, None if query.q else last.published_at,
                                 last.need_id, query.as_of).encode()
        return schemas.PublicNeedPage(items=items, next_cursor=next_cursor, limit=query.limit)

    async def _page(self, query: SearchQuery, common_words: bool) -> Sequence[Any]:
        # The kept statement of this shape with this search's values (`_statement`), run as Core: nothing of the
        # ORM's bookkeeping is needed for rows that are read once and turned into the answer.
        connection = await self.session.connection()
        return (await connection.execute(_statement(_Shape.of(query, common_words)), _values(query))).all()

    async def word_share(self, q: str) -> float | None:
        """The share of the published needs holding the text's least common word, by the statistics; None
        without statistics yet (a new table) or without a word to look for (only stop words). The same
        statement sets the transaction's planning for a search (`_PLANNING`)."""
        share = (await self.session.execute(_PLANNING_AND_WORD_SHARE, {"q": q})).one().share
        return None if share is None else float(share)

    async def common_words(self, q: str) -> bool:
        """Whether every word of the text is in at least COMMON_WORDS of the published needs (see
        `_window`)."""
        share = await self.word_share(q)
        return share is not None and share >= COMMON_WORDS

    async def published_contract(self, contract_id: uuid.UUID) -> schemas.PublicNeed:
        """One published specific contract as the search shows it to anyone (its row of `need_search`, read
        now): a draft, a sandbox's or an unknown contract has none, so it is a 404 like any unknown id."""
        rows = await self._page(SearchQuery(now=self.clock.now(), specific_contract_id=contract_id, limit=1), False)
        if not rows:
            raise NotFound("No published specific contract has this id.")
        return _public_need(rows[0], False)
