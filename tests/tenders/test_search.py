"""Public discovery of published needs: French text search, filters, keyset pages, bad parameters, and the
query plan at scale (tenders/search.py)."""

from __future__ import annotations

import itertools
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable

from bench.seed_needs import seed
from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import FrozenClock
from marketplace.lib.geography import DEPARTEMENTS, departement_of_finess
from marketplace.settings import Settings
from marketplace.tenders import schemas
from marketplace.tenders import search as search_module
from marketplace.tenders.search import NeedSearchService, build_search, check_params
from tests.funding_api import fund
from tests.tenders.test_needs import create, finess
from tests.tenders.test_publication import WEIGHTS, ensure_opener
from tests.vendors.api import Client, categories_by_pair, expect, fetch, open_dps

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import FACILITIES, World

pytestmark = pytest.mark.usefixtures("cpv")
URL = "/discovery/needs"
_FACILITY_NUMBERS = itertools.count(1)


async def publish_need(client: Client, world: World, clock: FrozenClock, dps_id: str, *, days: int = 12,
                       person: str = "holder_admin", **overrides: Any) -> dict[str, Any]:
    """Create, submit and publish a need (as the holder, then the buyer); returns the contract.

    A published need keeps its ESMS for the campaign (N18): each one lists a facility of its own, registered
    for the holder in the same département as the one it stands for."""
    organisation = "other_holder" if person.startswith("other_holder") else "holder"
    facilities = overrides.pop("facilities", None) or [{"finessEt": FACILITIES[organisation][1]}]
    fresh = []
    for facility in facilities:
        et = finess(f"{facility['finessEt'][:4]}9{next(_FACILITY_NUMBERS):03d}")
        expect(await client.post(f"/organisations/{world.organisations[organisation]}/facilities",
                                 headers=world[person].headers, json={"name": f"ESMS {et}", "finessEt": et}), 201)
        fresh.append(facility | {"finessEt": et})
    need = await create(client, world, person, facilities=fresh, **overrides)
    expect(await client.post(f"/needs/{need['id']}/submit", headers=world[person].headers), 200)
    await ensure_opener(client, world)
    await fund(client, world, need["id"], holder_headers=world[person].headers)  # N16
    contract = expect(await client.post(f"/needs/{need['id']}/publish", headers=world["buyer_admin"].headers,
                                        json={"dpsId": dps_id, "awardCriteria": WEIGHTS,
                                              "tenderDeadline": (clock.now() + timedelta(days=days)).isoformat()}),
                      201)
    clock.advance(timedelta(minutes=1))  # publication instants apart, so the listing's order is known
    return dict(contract)


def other_holder(**overrides: Any) -> dict[str, Any]:
    """A need of `other_holder` (its facility is in Guadeloupe, 971)."""
    return {"facilities": [{"finessEt": FACILITIES["other_holder"][1], "equipmentBudgetCents": 0}]} | overrides


async def search(client: Client, **params: Any) -> dict[str, Any]:
    return dict(expect(await client.get(URL, params=params), 200))


async def titles(client: Client, **params: Any) -> list[str]:
    return [item["title"] for item in (await search(client, **params))["items"]]


async def test_french_text_search_finds_published_needs_only(client: Client, world: World, clock: FrozenClock,
                                                             settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    ehpad = await publish_need(
        client, world, clock, dps["id"], title="Logiciel de dossier usager informatisé pour l'EHPAD",
        description="Interopérabilité avec le DMP et la messagerie MSSanté ; identité qualifiée par l'INS.")
    await publish_need(client, world, clock, dps["id"], title="Planification des interventions à domicile",
                       description="Télégestion des tournées des intervenants du service d'aide à domicile.",
                       sector="handicap", deliveryMode="hosted")
    # A draft and a submitted need that say "logiciel" too are never public.
    await create(client, world, title="Logiciel brouillon", description="Un logiciel encore en préparation.")
    submitted = await create(client, world, "other_holder_admin", title="Logiciel soumis",
                             description="Un logiciel soumis, pas encore publié.", **other_holder())
    expect(await client.post(f"/needs/{submitted['id']}/submit", headers=world["other_holder_admin"].headers), 200)

    # Anonymous: no Authorization header. Stemming: "logiciels" finds "logiciel".
    found = await search(client, q="logiciels")
    assert [i["title"] for i in found["items"]] == ["Logiciel de dossier usager informatisé pour l'EHPAD"]
    item = found["items"][0]
    assert item["specificContractId"] == ehpad["id"] and item["status"] == "open"
    assert item["holderName"] == "Association Les Tilleuls" and item["departements"] == ["75"]
    assert item["regions"] == ["11"] and item["cpvCodes"] == ["48000000-8", "72000000"]
    assert item["rank"] > 0 and "MSSanté" in item["excerpt"]
    assert item["tenderDeadlineParis"].endswith("(heure de Paris, UTC+1)")
    assert found["nextCursor"] is None
    # Accents don't matter, either way round; a phrase; an excluded word; the facility's name is searched.
    assert await titles(client, q="interoperabilite") == [ehpad["title"]]
    assert await titles(client, q="TÉLÉGESTION") == ["Planification des interventions à domicile"]
    assert await titles(client, q='"aide à domicile"') == ["Planification des interventions à domicile"]
    assert await titles(client, q="tilleuls -domicile") == [ehpad["title"]]
    assert await titles(client, q="brouillon") == []
    assert await titles(client, q="soumis") == []
    # Without a text query: newest first, no rank.
    listing = await search(client)
    assert [i["title"] for i in listing["items"]] == ["Planification des interventions à domicile", ehpad["title"]]
    assert all("rank" not in i for i in listing["items"])


async def test_each_filter_narrows_the_results(client: Client, world: World, clock: FrozenClock,
                                               settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    cat = categories_by_pair(dps)
    paris = await publish_need(client, world, clock, dps["id"], days=12, title="Paris SaaS",
                               cpvCodes=["48814000-7"])
    onprem = await publish_need(client, world, clock, dps["id"], days=20, title="Paris sur site",
                                deliveryMode="on_premise", cpvCodes=["72000000"])
    guadeloupe = await publish_need(client, world, clock, dps["id"], days=30, person="other_holder_admin",
                                    **other_holder(title="Guadeloupe handicap", sector="handicap",
                                                   deliveryMode="hosted", cpvCodes=["48180000-3"]))
    every = {"Paris SaaS", "Paris sur site", "Guadeloupe handicap"}
    assert set(await titles(client)) == every

    async def only(**params: Any) -> set[str]:
        return set(await titles(client, **params))

    assert await only(categoryId=cat["grand_age", "on_premise"]) == {"Paris sur site"}
    assert await only(sector="handicap") == {"Guadeloupe handicap"}
    assert await only(deliveryMode="saas") == {"Paris SaaS"}
    assert await only(departement="75") == {"Paris SaaS", "Paris sur site"}
    assert await only(departement="971") == {"Guadeloupe handicap"}
    assert await only(departement="2a") == set()
    assert await only(region="11") == {"Paris SaaS", "Paris sur site"}
    assert await only(region="01") == {"Guadeloupe handicap"}
    assert await only(region="84") == set()
    # A CPV code finds the needs carrying it or a code below it.
    assert await only(cpv="48000000-8") == {"Paris SaaS", "Guadeloupe handicap"}
    assert await only(cpv="48814000") == {"Paris SaaS"}
    assert await only(cpv="72000000-5") == {"Paris sur site"}
    assert await only(status="open") == every
    # Deadlines: aware instants, and Paris wall-clock times (winter: UTC+1).
    deadline = datetime.fromisoformat(onprem["tenderDeadline"])
    assert await only(deadlineFrom=deadline.isoformat()) == {"Paris sur site", "Guadeloupe handicap"}
    assert await only(deadlineTo=deadline.isoformat()) == {"Paris SaaS", "Paris sur site"}
    local = deadline.astimezone(UTC).replace(tzinfo=None) + timedelta(hours=1)
    assert await only(deadlineFrom=local.isoformat(), deadlineTo=local.isoformat()) == {"Paris sur site"}
    assert await only(deadlineFrom=(local + timedelta(seconds=1)).isoformat(), sector="grand_age") == set()
    # Filters combine with the text.
    assert await only(q="paris", deliveryMode="saas") == {"Paris SaaS"}

    # The contract moves on: the search follows its status and its deadline.
    await fetch(settings, "UPDATE specific_contract SET status = 'closed_for_offers', "
                          "tender_deadline = tender_deadline + interval '40 days' WHERE id = $1",
                uuid.UUID(paris["id"]))
    assert await only(status="closed_for_offers") == {"Paris SaaS"}
    assert await only(status="open") == {"Paris sur site", "Guadeloupe handicap"}
    assert await only(deadlineFrom=datetime.fromisoformat(guadeloupe["tenderDeadline"]).isoformat()) == {
        "Paris SaaS", "Guadeloupe handicap"}


async def _seed(settings: Settings, count: int, now: datetime, *, random_seed: int = 2026) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        async with conn.transaction():
            await seed(conn, count, now=now, random_seed=random_seed, holders=120)
        await conn.execute("ANALYZE need_search")
    finally:
        await conn.close()


async def _all_pages(client: Client, between: Any = None, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    page = 0
    while True:
        result = await search(client, limit=7, **params, **({"cursor": cursor} if cursor else {}))
        seen += [item["needId"] for item in result["items"]]
        cursor = result["nextCursor"]
        if cursor is None:
            return seen
        page += 1
        if between is not None:
            await between(page)


@pytest.mark.parametrize("q", [None, "dossier usager"])
async def test_pages_neither_repeat_nor_skip_while_needs_are_published(
        client: Client, clock: FrozenClock, settings: Settings, q: str | None) -> None:
    # Published over the past year (the seed's clock), with the text of the programme.
    await _seed(settings, 40, clock.now())
    params = {"q": q} if q else {}
    before = {r["need_id"] for r in await fetch(settings, "SELECT need_id FROM need_search")}
    expected = [str(i) for i in before]
    # Publication keeps going while the client pages: newer needs, and needs older than the pages read.
    seeds = iter(range(1, 100))

    async def publish_more(page: int) -> None:
        await _seed(settings, 5, clock.now() + timedelta(minutes=page), random_seed=next(seeds))
        await _seed(settings, 5, clock.now() - timedelta(days=30), random_seed=next(seeds))

    seen = await _all_pages(client, publish_more, **params)
    assert len(seen) == len(set(seen)), "a page repeated a need"
    matching = set(expected) if q is None else {
        str(r["need_id"]) for r in await fetch(
            settings, "SELECT need_id FROM need_search WHERE document @@ websearch_to_tsquery('french_unaccent', $1) "
                      "AND need_id = ANY($2::uuid[])", q, list(before))}
    assert matching and matching <= set(seen), "a page skipped a need that was there from the start"


@pytest.mark.parametrize("in_a_departement", [False, True])
@pytest.mark.parametrize("words", ["common", "rare"])
async def test_a_text_search_ranks_exactly_the_most_recent_matches_across_spans_of_publication(
        client: Client, clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch, words: str,
        in_a_departement: bool) -> None:
    """The ranked window is read span by span going back in time (a day, 4 days, 16…; `_newest_first`),
    through the text index or, for common words, not: either way it holds exactly the N most recent matches,
    and the plain listing (one scan, no spans) every need newest first."""
    # Needs published over the past year: with a window of 9 (3 in a département), its last match is weeks old, so the
    # window is filled from several spans, the first ones holding few or none.
    await _seed(settings, 150, clock.now())
    window = 3 if in_a_departement else 9
    monkeypatch.setattr(search_module, "RANKED_WINDOW", window)
    # Which way the spans are read follows the words' share in the statistics; forced here both ways.
    monkeypatch.setattr(search_module, "COMMON_WORDS", 0.0 if words == "common" else 2.0)
    # In a département, a word of every description ("Établissements concernés"), so that it has enough.
    q = "établissements" if in_a_departement else "dossier usager"
    departement = None
    if in_a_departement:  # the seed's most common one, so that it holds more matches than the window
        departement = (await fetch(settings, "SELECT d FROM need_search, unnest(departements) AS d "
                                             "GROUP BY d ORDER BY count(*) DESC, d LIMIT 1"))[0]["d"]
    # With a département and common words, the window is read from the département's own rows
    # (`need_search_place`, kept by a trigger): the reference reads the array of the search document.
    where = "document @@ websearch_to_tsquery('french_unaccent', $1) AND ($2::text IS NULL OR $2 = ANY(departements))"
    expected = [str(r["need_id"]) for r in await fetch(settings, f"""
        SELECT need_id FROM (SELECT need_id, document FROM need_search WHERE {where}
                             ORDER BY published_at DESC, need_id DESC LIMIT {window}) AS w
        ORDER BY ts_rank(document, websearch_to_tsquery('french_unaccent', $1)) DESC, need_id""", q, departement)]
    matching = await fetch(settings, f"SELECT count(*) AS n FROM need_search WHERE {where}", q, departement)
    assert matching[0]["n"] > window, "the seed should match more needs than the window holds"
    params = {"q": q} | ({"departement": departement} if departement else {})
    assert await _all_pages(client, **params) == expected
    if departement is not None:
        return
    listing = [str(r["need_id"]) for r in await fetch(
        settings, "SELECT need_id FROM need_search ORDER BY published_at DESC, need_id DESC")]
    assert await _all_pages(client) == listing
    # A filtered listing reads the last day first, then everything older (`_statement`): the same order.
    clock.advance(timedelta(hours=-12))  # so that the last day holds some of the seed, not all of its pages
    sector = (await fetch(settings, "SELECT sector::text AS s FROM need_search GROUP BY 1 ORDER BY count(*) DESC"
                                    " LIMIT 1"))[0]["s"]
    filtered = [str(r["need_id"]) for r in await fetch(
        settings, "SELECT need_id FROM need_search WHERE sector::text = $1 ORDER BY published_at DESC, need_id DESC",
        sector)]
    assert len(filtered) > 7 and await _all_pages(client, sector=sector) == filtered


@pytest.mark.parametrize("share_needed", [0.0, 2.0])
async def test_the_words_share_chooses_how_the_window_is_read(
        clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch, share_needed: float) -> None:
    """Common words in a département: the département's own rows (`need_search_place`), the text not read
    through its index; otherwise the text index, span by span. Read off the statement the service sends."""
    await _seed(settings, 40, clock.now())
    monkeypatch.setattr(search_module, "COMMON_WORDS", share_needed)
    engine = create_async_engine(settings.database_url)
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: sent.append(statement))
    try:
        async with AsyncSession(engine) as session:
            await NeedSearchService(session, clock).search(msgspec_convert({"q": "dossier usager",
                                                                            "departement": "75"}))
    finally:
        await engine.dispose()
    search = next(statement for statement in sent if "document @@" in statement)
    common = share_needed == 0.0
    assert ("need_search_place" in search) is common
    # Common: checked on the département's rows (their copy of the document), never through the text index.
    assert bool(re.search(r"coalesce\(\(?need_search_place\.document @@", search)) is common
    assert bool(re.search(r"[ (]need_search\.document @@", search)) is not common
    assert ("UNION ALL" in search) is not common


async def test_the_departements_rows_follow_the_search_document(clock: FrozenClock, settings: Settings) -> None:
    """need_search_place (migrations 0035, 0036) is written by a trigger, whatever writes the search document:
    one row per département, with the document's copy that a search checks the words on."""
    await _seed(settings, 5, clock.now())

    async def places() -> set[tuple[str, str, datetime, str]]:
        return {(str(r["need_id"]), r["departement"], r["published_at"], r["document"]) for r in await fetch(
            settings, "SELECT need_id, departement, published_at, document::text FROM need_search_place")}

    async def expected() -> set[tuple[str, str, datetime, str]]:
        return {(str(r["need_id"]), r["d"], r["published_at"], r["document"]) for r in await fetch(
            settings, "SELECT need_id, d, published_at, document::text FROM need_search, unnest(departements) AS d")}

    assert await places() == await expected() and len(await places()) >= 5
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        need_id = await owner.fetchval("SELECT need_id FROM need_search ORDER BY need_id LIMIT 1")
        # A document written again (a need's facilities, or its publication instant, changed): its rows follow.
        await owner.execute("UPDATE need_search SET departements = '{2A,971}', published_at = published_at - "
                            "interval '1 day' WHERE need_id = $1", need_id)
        assert await places() == await expected()
        assert {p[1] for p in await places() if p[0] == str(need_id)} == {"2A", "971"}
        # The text alone rewritten (the need's title edited and indexed again): the copies follow.
        await owner.execute("UPDATE need_search SET document = to_tsvector('french_unaccent', 'Télégestion revue') "
                            "WHERE need_id = $1", need_id)
        assert await places() == await expected()
        assert {p[3] for p in await places() if p[0] == str(need_id)} == {"'revu':2 'telegest':1"}
        # A status change alone (the contract's trigger) rewrites nothing.
        await owner.execute("UPDATE need_search SET status = 'closed_for_offers' WHERE need_id = $1", need_id)
        assert await places() == await expected()
        await owner.execute("DELETE FROM need_search WHERE need_id = $1", need_id)
        assert await places() == await expected()
        assert all(p[0] != str(need_id) for p in await places())
    finally:
        await owner.close()



async def test_each_departement_has_its_partition_and_a_search_reads_only_its_own(
        clock: FrozenClock, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """need_search_place is stored one partition per département (migration 0038), so that a département's rows
    lie together: every row is in its département's partition, every département of lib/geography.py has one,
    and the search of a département reads that partition alone."""
    await _seed(settings, 40, clock.now())
    rows = await fetch(settings, "SELECT tableoid::regclass::text AS part, departement FROM need_search_place")
    assert rows and all(r["part"] == f"need_search_place_{r['departement'].lower()}" for r in rows)
    parts = {r["relname"] for r in await fetch(settings, "SELECT c.relname FROM pg_inherits i JOIN pg_class c "
                                                         "ON c.oid = i.inhrelid WHERE i.inhparent = "
                                                         "'need_search_place'::regclass")}
    assert parts == {f"need_search_place_{d.lower()}" for d in DEPARTEMENTS} | {"need_search_place_other"}

    monkeypatch.setattr(search_module, "COMMON_WORDS", 0.0)  # the département's rows, not the text index
    engine = create_async_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            query = check_params(msgspec_convert({"q": "dossier usager", "departement": "75"}), clock.now())
            raw = (await session.execute(Explain(build_search(query, common_words=True)))).scalar_one()
    finally:
        await engine.dispose()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    read = {node["Relation Name"] for node in _nodes(plan) if node.get("Relation Name", "").startswith(
        "need_search_place")}
    assert read == {"need_search_place_75"}, plan

async def test_how_common_a_text_is_comes_from_the_least_common_of_its_words(
        clock: FrozenClock, settings: Settings) -> None:
    await _seed(settings, 80, clock.now())  # ANALYZE reads every row of so small a table: the shares are exact
    shares = {r["lexeme"]: r["share"] for r in await fetch(settings, """
        SELECT l AS lexeme, count(*)::float8 / (SELECT count(*) FROM need_search) AS share
        FROM need_search, unnest(tsvector_to_array(document)) AS l WHERE l IN ('dossi', 'usag', 'logiciel')
        GROUP BY l""")}
    engine = create_async_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            service = NeedSearchService(session, clock)
            # Both words are in many needs, not always together: the least common one bounds the share.
            assert await service.word_share("dossier usager") == pytest.approx(min(shares["dossi"], shares["usag"]),
                                                                               abs=1e-3)
            assert await service.word_share("logiciels") == pytest.approx(shares["logiciel"], abs=1e-3)
            assert await service.common_words("dossier usager")
            # Only stop words: nothing to look for, so nothing is common.
            assert await service.word_share("de la du") is None
            assert not await service.common_words("de la du")
    finally:
        await engine.dispose()


async def test_bad_parameters_are_refused_naming_the_field(client: Client, world: World) -> None:
    async def refused(code: int, **params: Any) -> str:
        response = await client.get(URL, params=params)
        assert response.status_code == code, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        return str(body.get("field") or ",".join(e["field"] for e in body.get("errors", [])))

    assert await refused(400, limit=0) == "limit"
    assert await refused(400, limit=101) == "limit"
    assert await refused(400, categoryId="not-a-uuid") == "categoryId"
    assert await refused(400, sector="hospital") == "sector"
    assert await refused(400, status="opened") == "status"
    assert await refused(400, deadlineFrom="tomorrow") == "deadlineFrom"
    # A number is not read as a Unix time: the document promises an ISO 8601 date-time (found by fuzzing).
    assert await refused(400, deadlineTo="0.5") == "deadlineTo"
    assert await refused(422, departement="20") == "departement"
    assert await refused(400, departement="9999") == "departement"
    assert await refused(422, region="99") == "region"
    assert await refused(422, cpv="4800") == "cpv"
    assert await refused(400, q="x" * 201) == "q"
    assert await refused(400, q="a\x00b") == "q"
    assert await refused(422, cursor="garbage") == "cursor"
    assert await refused(422, deadlineFrom="2026-03-01T00:00:00Z", deadlineTo="2026-02-01T00:00:00Z") == "deadlineTo"
    # Paris wall-clock times the clocks skip, or show twice.
    assert await refused(422, deadlineFrom="2026-03-29T02:30:00") == "deadlineFrom"
    assert await refused(422, deadlineTo="2026-10-25T02:30:00") == "deadlineTo"
    # A cursor of a text search is not one of the plain listing (and the other way round).
    await _cursors_belong_to_their_mode(client)


async def _cursors_belong_to_their_mode(client: Client) -> None:
    import base64

    ranked = base64.urlsafe_b64encode(json.dumps(["r", 0.5, str(uuid.uuid4()), "2026-01-01T00:00:00+00:00"])
                                      .encode()).decode()
    listed = base64.urlsafe_b64encode(json.dumps(["t", "2026-01-01T00:00:00+00:00", str(uuid.uuid4())])
                                      .encode()).decode()
    assert (await client.get(URL, params={"cursor": ranked})).json()["field"] == "cursor"
    assert (await client.get(URL, params={"cursor": listed, "q": "logiciel"})).json()["field"] == "cursor"
    assert (await client.get(URL, params={"cursor": listed})).status_code == 200
    assert (await client.get(URL, params={"cursor": ranked, "q": "logiciel"})).status_code == 200


def test_every_shape_of_search_gets_a_value_for_each_of_its_parameters() -> None:
    """The service runs a kept statement per shape of search with `_values` (search.py `_statement`): a parameter
    the statement names and `_values` lacks, or leaves empty, would fail or match nothing only for that shape. A
    sample of the shapes (every filter alone, then random combinations), each checked against its own values."""
    import random

    from sqlalchemy.dialects import postgresql

    from marketplace.tenders.states import SpecificContractStatus

    now = datetime(2026, 1, 10, 12, tzinfo=UTC)
    names = ("specific_contract", "category", "sector", "mode", "departement", "region", "cpv", "deadline_from",
             "deadline_to", "after")
    combos = [dict.fromkeys(names, False) | {name: True} for name in names]
    draw = random.Random(19)
    combos += [{name: draw.random() < 0.5 for name in names} for _ in range(60)]
    dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
    checked = 0
    for given, (text, common), status in itertools.product(
            combos, [(False, False), (True, False), (True, True)],
            [None, SpecificContractStatus.OPEN, SpecificContractStatus.CLOSED_FOR_OFFERS]):
        cursor = None
        if given["after"]:
            cursor = (search_module.Cursor(True, 0.5, None, uuid.uuid4(), now) if text
                      else search_module.Cursor(False, None, now - timedelta(days=2), uuid.uuid4()))
        query = search_module.SearchQuery(
            now=now, q="dossier usager" if text else None, status=status, after=cursor, as_of=now if text else None,
            specific_contract_id=uuid.uuid4() if given["specific_contract"] else None,
            category_id=uuid.uuid4() if given["category"] else None, sector="handicap" if given["sector"] else None,
            delivery_mode="saas" if given["mode"] else None, departement="75" if given["departement"] else None,
            region="11" if given["region"] else None, cpv="48000000" if given["cpv"] else None,
            deadline_from=now if given["deadline_from"] else None, deadline_to=now if given["deadline_to"] else None)
        kept = search_module._statement(search_module._Shape.of(query, common)).compile(dialect=dialect)
        values = search_module._values(query)
        unset = sorted(name for name, bind in kept.binds.items()
                       if bind.value is None and bind.callable is None and values.get(name) is None)
        assert not unset, (given, text, common, status, unset)
        # What the benchmark and the plan tests explain is what the service runs.
        assert str(build_search(query, common_words=common).compile(dialect=dialect)) == str(kept)
        checked += 1
    assert checked == len(combos) * 9


class Explain(Executable, ClauseElement):
    """`EXPLAIN (FORMAT JSON)` of a statement, with its parameters bound as the service binds them."""

    inherit_cache = False

    def __init__(self, statement: Any) -> None:
        self.statement = statement


@compiles(Explain)
def _explain(element: Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


async def test_the_search_statement_uses_indexes_at_scale(clock: FrozenClock, settings: Settings) -> None:
    await _seed(settings, 20_000, clock.now())
    # The statement reads the départements in the FINESS numbers as lib/geography does (overseas too).
    rows = await fetch(settings, "SELECT n.facilities, s.departements FROM need n JOIN need_search s "
                                 "ON s.need_id = n.id")
    seen: set[str] = set()
    for row in rows:
        facilities = json.loads(row["facilities"])
        assert row["departements"] == sorted({departement_of_finess(f["finessEt"]) for f in facilities})
        seen |= set(row["departements"])
    assert {"2A", "971", "974", "976"} <= seen and seen <= DEPARTEMENTS

    # Migration 0034: the 20,000 documents went into the GIN indexes themselves, none into a pending list that
    # every search would scan (at 1,000,000 needs that list cost a département lookup 75 ms instead of 2).
    owner = await asyncpg.connect(asyncpg_dsn(settings.migration_url))
    try:
        for index in ("ix_need_search_document", "ix_need_search_departements", "ix_need_search_cpv_codes"):
            assert await owner.fetchval("SELECT gin_clean_pending_list($1::regclass)", index) == 0, index
    finally:
        await owner.close()

    now = clock.now()
    searches = {
        "text": {"q": "Ajaccio"},
        "common text": {"q": "logiciels dossier usager"},
        "common text + département": {"q": "dossier usager", "departement": "75"},
        "text + département": {"q": "interoperabilite", "departement": "69"},
        "listing": {},
        "filtered listing": {"departement": "75", "sector": "handicap"},
        "region + cpv": {"region": "84", "cpv": "48814000"},
        "deadline window": {"deadlineFrom": (now + timedelta(days=1)).isoformat(),
                            "deadlineTo": (now + timedelta(days=3)).isoformat()},
        # HC6: the status as read now (an open contract past its deadline reads closed_for_offers).
        "open": {"status": "open"},
        "closed for offers + text": {"q": "interoperabilite", "status": "closed_for_offers"},
    }
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            for name, params in searches.items():
                query = check_params(msgspec_convert(params), now)
                # As the service plans it: its settings hold for this transaction (`_PLANNING`).
                await conn.execute(search_module._PLANNING)
                raw = (await conn.execute(Explain(build_search(query, common_words=name.startswith("common"))))
                       ).scalar_one()
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                scans = [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in _nodes(plan)
                         if "Scan" in n["Node Type"]]
                seq = [s for s in scans if s[0] == "Seq Scan" and s[1] in ("need_search", "need")]
                assert not seq, f"{name}: sequential scan in {scans}"
                assert any(s[1] == "need_search" and s[2] for s in scans), f"{name}: {scans}"
    finally:
        await engine.dispose()


def msgspec_convert(params: dict[str, Any]) -> schemas.NeedSearchParams:
    import msgspec

    renamed = {{"deadlineFrom": "deadline_from", "deadlineTo": "deadline_to"}.get(k, k): v for k, v in params.items()}
    return msgspec.convert(renamed, schemas.NeedSearchParams, strict=False)
