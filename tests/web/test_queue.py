"""The work queue's tiles (web/queue.py) over HTTP, in process on the FrozenClock: each counts what waits for the
right person, and nothing of another organisation. The states are built through the API (tests/awards,
tests/funding_api); the counts are read back from the page's tiles and compared with what the API says."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.awards.test_award import DEADLINE, submitted_offers
from tests.awards.test_contract import awarded_contract, sign
from tests.funding_api import give_evidence, request_tranche
from tests.tenders.test_offers import open_offers
from tests.vendors.api import expect, minimal_pdf
from tests.web.pages import Browser, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]
pytestmark = pytest.mark.usefixtures("cpv")


async def tiles(client: Client, person: str) -> tuple[dict[str, int], str]:
    """The work queue as `person` sees it (signed in afresh: the clock may have run past a session's life)."""
    web = Browser(client)
    await login(web, email_of(person))
    answer = await web.get("/app/")
    assert answer.status_code == 200
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r'id="compte-([a-z-]+)">(\d+)<', answer.text)}
    return counts, answer.text


async def test_deadlines_today_this_week_and_offers_awaiting_opening(client: Client, world: World,
                                                                     clock: FrozenClock) -> None:
    cid, _ = await submitted_offers(client, world, clock)  # deadline 17/02/2026 09:00 Paris, three offers in
    title = expect(await client.get(f"/specific-contracts/{cid}", headers=world["buyer_admin"].headers),
                   200)["title"]
    deadline = DEADLINE
    clock.set(deadline - timedelta(days=4))
    counts, page = await tiles(client, "buyer_admin")
    assert (counts["clotures-jour"], counts["clotures"], counts["ouvertures"]) == (0, 1, 0)
    assert title in page and "cette semaine" in page and "dans 4 j" in page
    clock.set(deadline - timedelta(hours=2))  # 07:00 in Paris on the day
    counts, page = await tiles(client, "buyer_admin")
    assert (counts["clotures-jour"], counts["clotures"], counts["ouvertures"]) == (1, 1, 0)
    assert "dans 2 h" in page
    # Past the deadline, not opened: counted, nothing of the three offers shown (D13).
    clock.set(deadline + timedelta(minutes=5))
    for person in ("buyer_admin", "buyer_opener"):
        counts, page = await tiles(client, person)
        assert (counts["clotures-jour"], counts["clotures"], counts["ouvertures"]) == (0, 0, 1), person
    assert "/app/marches?statut=closed_for_offers" in page
    for person in ("other_buyer_admin", "vendor_admin", "funder_admin"):
        counts, page = await tiles(client, person)
        assert counts.get("ouvertures", 0) == 0 and title not in page, person
    expect(await open_offers(client, world, cid), 200)
    counts, _ = await tiles(client, "buyer_admin")
    assert counts["ouvertures"] == 0


async def test_d15_justifications_and_d17_requests_for_the_buying_side(client: Client, world: World,
                                                                       clock: FrozenClock) -> None:
    cid, _award = await awarded_contract(client, world, clock, standstill=False)
    counts, _ = await tiles(client, "buyer_admin")
    assert (counts["justifications"], counts["motifs"]) == (0, 0)
    # D17: the losing vendor asks for the reasons; the buyer's admins answer them within 15 days.
    asked = expect(await client.post(f"/specific-contracts/{cid}/reasons-requests",
                                     headers=world["other_vendor_admin"].headers,
                                     json={"request": "Merci de nous communiquer les motifs."}), 201)
    counts, page = await tiles(client, "buyer_admin")
    assert counts["motifs"] == 1 and f"/app/marches/{cid}" in page and "dans 15 j" in page
    for person in ("buyer_evaluator", "other_buyer_admin", "other_vendor_admin"):
        counts, _ = await tiles(client, person)
        assert counts["motifs"] == 0, person
    expect(await client.post(f"/reasons-requests/{asked['id']}/answer", headers=world["buyer_admin"].headers,
                             json={"answer": "Votre offre était classée deuxième."}), 200)
    counts, _ = await tiles(client, "buyer_admin")
    assert counts["motifs"] == 0


async def test_d15_a_justification_requested_is_due_for_the_buying_side(client: Client, world: World,
                                                                         clock: FrozenClock) -> None:
    from tests.awards.test_abnormally_low import REASONS, evaluation

    _, offers = await evaluation(client, world, clock)
    expect(await client.post(f"/offers/{offers['other_vendor_admin']}/abnormally-low",
                             headers=world["buyer_evaluator"].headers,
                             json={"reasons": REASONS, "justificationDueAt": "2026-02-27T18:00:00"}), 201)
    for person in ("buyer_admin", "buyer_evaluator"):
        counts, page = await tiles(client, person)
        assert counts["justifications"] == 1 and "27/02/2026 18:00" in page and "justification attendue" in page
    for person in ("other_buyer_admin", "other_vendor_admin", "holder_admin"):
        counts, page = await tiles(client, person)
        assert counts["justifications"] == 0 and "27/02/2026 18:00" not in page, person
    # Past its due date unanswered: the buyer's decision is what waits.
    clock.set(datetime(2026, 2, 27, 17, 1, tzinfo=UTC))
    counts, page = await tiles(client, "buyer_admin")
    assert counts["justifications"] == 1 and "délai écoulé : à décider" in page


async def test_tranches_to_validate_for_the_funder_only(client: Client, world: World, clock: FrozenClock) -> None:
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    need_id = expect(await client.get(f"/specific-contracts/{cid}", headers=world["buyer_admin"].headers),
                     200)["needId"]
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": 4_200_000}), 201)["id"]
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé acheteur")), 201)
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("signé titulaire")), 201)
    expect(await give_evidence(client, world, need_id, 1, minimal_pdf("lancement")), 200)
    counts, _ = await tiles(client, "funder_admin")
    assert counts["tranches"] == 0  # gathered, not requested yet
    expect(await request_tranche(client, world, need_id, 1), 200)
    funding = expect(await client.get(f"/needs/{need_id}/funding", headers=world["funder_admin"].headers), 200)
    requested = sum(r["status"] == "requested" for t in funding["tranches"] for r in t["requests"])
    for person in ("funder_admin", "funder_instructor"):
        counts, page = await tiles(client, person)
        assert counts["tranches"] == requested == 1 and "/app/financements/" in page, person
    for person in ("other_funder_admin", "holder_admin", "buyer_admin"):
        counts, _ = await tiles(client, person)
        assert counts["tranches"] == 0, person


async def test_the_trend_table_has_the_weekly_counts_of_the_requests(client: Client, world: World,
                                                                      clock: FrozenClock) -> None:
    from tests.vendors.api import apply, categories_by_pair, create_dps, publish, upload_all

    dps = await create_dps(client, world, clock)
    expect(await publish(client, world, clock, dps["id"]), 200)
    categories = list(categories_by_pair(dps).values())
    for i, person in enumerate(("vendor_admin", "other_vendor_admin", "third_vendor_admin")):
        request = await apply(client, world[person], categories[0])
        await upload_all(client, world[person], request["id"], person)
        expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=world[person].headers), 200)
        if i == 0:
            clock.advance(timedelta(days=8))  # the first in the week before the last one
    queue = expect(await client.get(f"/dps/{dps['id']}/admission-queue", headers=world["buyer_admin"].headers), 200)
    _, page = await tiles(client, "buyer_admin")
    assert '<svg role="img" aria-labelledby="tendance-titre tendance-resume"' in page and "style=" not in page
    table = page[page.index('id="tendance-donnees"'):]
    rows = re.findall(r"<tr><th scope=\"row\">[^<]*</th><td>(\d+)</td><td>(\d+)</td></tr>", table)
    assert len(rows) == 8
    assert [int(r[0]) for r in rows] == [0] * 6 + [1, 2] and sum(int(r[0]) for r in rows) == len(queue)
    assert all(r[1] == "0" for r in rows)
    _, other = await tiles(client, "other_buyer_admin")
    other_rows = re.findall(r"<tr><th scope=\"row\">[^<]*</th><td>(\d+)</td>",
                            other[other.index('id="tendance-donnees"'):])
    assert [int(r) for r in other_rows] == [0] * 8
