"""The grant paid in tranches (FU5, N14, N15) through the API: 40 % at the project's start once the contract is
signed (with the kick-off report), 40 % at acceptance testing (the PV de recette), 20 % once usage is verified
(the usage indicators, as data): requested by the holder in order with their evidence, validated or refused by
the funder, then paid exactly their amount — never more than the decision granted."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.app import asyncpg_dsn
from marketplace.funding.states import FUNDING_SCHEDULE, TrancheKind, split_amount
from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.awards.test_contract import awarded_contract, sign
from tests.funding_api import give_evidence, pay_tranche, request_tranche, tranche_path, validate_tranche
from tests.vendors.api import Client, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.world import World, email_of

pytestmark = pytest.mark.usefixtures("cpv")

USAGE = {"activeDuiUsers": 212, "esmsUsing": 1, "measuredOn": "2026-09-30", "comment": "Relevé trimestriel."}


async def funded_and_awarded(client: Client, world: World, clock: FrozenClock) -> tuple[str, str]:
    """A need published (so funded: tests/tenders' `publish` files it and has its funder select it, 5 000 000
    cents) and awarded; (its id, its specific contract's id)."""
    cid, _ = await awarded_contract(client, world, clock, standstill=False)
    need_id = expect(await client.get(f"/specific-contracts/{cid}", headers=world["buyer_admin"].headers),
                     200)["needId"]
    return str(need_id), cid


async def test_the_tranches_are_requested_in_order_with_their_evidence_validated_and_paid(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    nid, cid = await funded_and_awarded(client, world, clock)
    funding = expect(await client.get(f"/needs/{nid}/funding", headers=world["holder_member"].headers), 200)
    granted = funding["decision"]["amountCents"]
    amounts = [t["amountCents"] for t in funding["tranches"]]
    assert sum(amounts) == granted == 5_000_000 and amounts == [2_000_000, 2_000_000, 1_000_000]
    today = clock.now().date().isoformat()

    # The first tranche: requested with its evidence, once the contract is signed by both parties.
    missing = expect(await request_tranche(client, world, nid, 1), 422)
    assert (missing["rule"], missing["field"]) == ("FU5", "evidence")
    expect(await give_evidence(client, world, nid, 1, person="holder_member"), 403)
    expect(await give_evidence(client, world, nid, 1, person="other_holder_admin"), 404)
    draft = expect(await give_evidence(client, world, nid, 1, minimal_pdf("première version")), 200)
    kickoff = minimal_pdf("Compte rendu de la réunion de lancement du 2 mars 2026")
    draft = expect(await give_evidence(client, world, nid, 1, kickoff), 200)  # replaces the draft's document
    [request] = draft["tranches"][0]["requests"]
    assert (request["status"], request["evidence"]["sha256"]) == ("draft", hashlib.sha256(kickoff).hexdigest())
    # The evidence being gathered is the holder's until the tranche is requested: its funder doesn't see it.
    seen = expect(await client.get(f"/needs/{nid}/funding", headers=world["funder_admin"].headers), 200)
    assert (seen["tranches"][0]["requests"], seen["tranches"][0]["evidencePath"]) == ([], None)
    expect(await client.get(tranche_path(nid, 1, "evidence"), headers=world["funder_admin"].headers), 404)
    unsigned = expect(await request_tranche(client, world, nid, 1), 409)
    assert (unsigned["rule"], unsigned["field"]) == ("FU5", "contract")
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": 4_200_000}), 201)["id"]
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé acheteur")), 201)
    assert expect(await request_tranche(client, world, nid, 1), 409)["field"] == "contract"  # one side only
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("signé titulaire")), 201)
    # The second before the first is validated: out of order (FU5); indicators belong to the last tranche.
    expect(await give_evidence(client, world, nid, 2, minimal_pdf("PV de recette")), 200)
    order = expect(await request_tranche(client, world, nid, 2), 409)
    assert (order["rule"], order["field"], order["waitingFor"]) == ("FU5", "position", 1)
    assert expect(await request_tranche(client, world, nid, 1, usage=USAGE), 422)["field"] == "usageIndicators"
    requested = expect(await request_tranche(client, world, nid, 1), 200)
    first = requested["tranches"][0]
    assert (first["status"], first["requests"][0]["status"], first["requests"][0]["contractId"]) == (
        "requested", "requested", kid)
    expect(await request_tranche(client, world, nid, 1), 409)  # requested already
    expect(await give_evidence(client, world, nid, 1), 409)  # its evidence is on record now
    told = await fetch(settings, "SELECT recipient_email FROM notification WHERE kind = 'funding.tranche_requested'")
    assert {email_of("funder_admin"), email_of("funder_instructor")} <= {r["recipient_email"] for r in told}

    # The funder validates (its admin or instructor; not the holder; another funder learns nothing), then pays
    # exactly the tranche's amount, once.
    expect(await validate_tranche(client, world, nid, 1, person="holder_admin"), 403)
    expect(await validate_tranche(client, world, nid, 1, person="other_funder_admin"), 404)
    expect(await pay_tranche(client, world, nid, 1, 2_000_000, paid_on=today), 409)  # not validated yet
    validated = expect(await validate_tranche(client, world, nid, 1, person="funder_instructor"), 200)
    assert validated["tranches"][0]["status"] == "validated"
    expect(await validate_tranche(client, world, nid, 1), 409)
    for wrong in (2_000_001, 1_999_999, 5_000_000):
        over = expect(await pay_tranche(client, world, nid, 1, wrong, paid_on=today), 422)
        assert (over["rule"], over["field"], over["trancheCents"]) == ("FU5", "amountCents", 2_000_000)
    future = (clock.now() + timedelta(days=2)).date().isoformat()
    assert expect(await pay_tranche(client, world, nid, 1, 2_000_000, paid_on=future), 422)["field"] == "paidOn"
    paid = expect(await pay_tranche(client, world, nid, 1, 2_000_000, paid_on=today, reference="VIR-2026-001"), 200)
    assert (paid["tranches"][0]["status"], paid["tranches"][0]["paidAmountCents"], paid["paidCents"]) == (
        "paid", 2_000_000, 2_000_000)
    expect(await pay_tranche(client, world, nid, 1, 2_000_000, paid_on=today), 409)  # paid once

    # The third before the second is validated: refused, naming FU5, whatever its evidence.
    expect(await give_evidence(client, world, nid, 3, minimal_pdf("Tableau des indicateurs d'usage")), 200)
    early = expect(await request_tranche(client, world, nid, 3, usage=USAGE), 409)
    assert (early["rule"], early["waitingFor"]) == ("FU5", 2)

    # The second: requested, refused with reasons, requested again with new evidence, validated, paid.
    expect(await request_tranche(client, world, nid, 2), 200)
    reasons = "Le procès-verbal de recette n'est pas signé par le titulaire."
    expect(await client.post(tranche_path(nid, 2, "refusal"), headers=world["funder_admin"].headers, json={}), 400)
    refused = expect(await client.post(tranche_path(nid, 2, "refusal"), headers=world["funder_admin"].headers,
                                       json={"reasons": reasons}), 200)
    second = refused["tranches"][1]
    assert (second["status"], second["requests"][0]["refusalReasons"]) == ("refused", reasons)
    told = await fetch(settings, "SELECT body FROM notification WHERE kind = 'funding.tranche_refused' AND "
                                 "recipient_email = $1", email_of("holder_admin"))
    assert reasons in told[0]["body"]
    assert expect(await request_tranche(client, world, nid, 2), 422)["field"] == "evidence"  # new evidence first
    signed_pv = minimal_pdf("PV de recette signé par les deux parties")
    expect(await give_evidence(client, world, nid, 2, signed_pv), 200)
    again = expect(await request_tranche(client, world, nid, 2), 200)
    assert [(r["status"], r["evidence"]["sha256"]) for r in again["tranches"][1]["requests"]] == [
        ("requested", hashlib.sha256(signed_pv).hexdigest()), ("refused", second["requests"][0]["evidence"]["sha256"])]
    expect(await validate_tranche(client, world, nid, 2), 200)
    expect(await pay_tranche(client, world, nid, 2, 2_000_000, paid_on=today), 200)

    # The third: the usage indicators are required (N15), then kept as reported.
    no_usage = expect(await request_tranche(client, world, nid, 3), 422)
    assert (no_usage["rule"], no_usage["field"]) == ("N15", "usageIndicators")
    bad = await client.post(tranche_path(nid, 3, "request"), headers=world["holder_admin"].headers,
                            json={"usageIndicators": {"activeDuiUsers": -1}})
    assert bad.status_code == 400, bad.text
    third = expect(await request_tranche(client, world, nid, 3, usage=USAGE), 200)["tranches"][2]
    assert third["requests"][0]["usageIndicators"] == USAGE
    expect(await validate_tranche(client, world, nid, 3), 200)
    done = expect(await pay_tranche(client, world, nid, 3, 1_000_000, paid_on=today), 200)
    assert [t["status"] for t in done["tranches"]] == ["paid", "paid", "paid"]
    assert done["paidCents"] == sum(t["paidAmountCents"] for t in done["tranches"]) == granted

    # The evidence is read by the holder and the funder, each download audited; every act is on the audit trail.
    for person in ("holder_member", "funder_admin"):
        redirect = await client.get(tranche_path(nid, 2, "evidence"), headers=world[person].headers,
                                    follow_redirects=False)
        assert redirect.status_code == 307, redirect.text
    expect(await client.get(tranche_path(nid, 2, "evidence"), headers=world["other_funder_admin"].headers), 404)
    no_such = expect(await client.get(tranche_path(nid, 4, "evidence"), headers=world["holder_admin"].headers), 400)
    assert no_such["field"] == "position"  # a grant has three tranches (N14)
    actions = [r["action"] for r in await fetch(
        settings, "SELECT action FROM audit_event WHERE details->>'need' = $1 AND action LIKE 'grant_tranche.%' "
                  "ORDER BY id", nid)]
    assert actions.count("grant_tranche.paid") == 3 and actions.count("grant_tranche.refused") == 1
    assert actions.count("grant_tranche.requested") == 4 and actions.count("grant_tranche.evidence_received") == 5


async def test_nothing_is_paid_beyond_the_decision_even_behind_the_api(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """FU5: a payment is exactly its tranche's amount, so the tranches never pay more than the decision granted;
    the database holds it too, whatever code writes."""
    nid, _ = await funded_and_awarded(client, world, clock)
    db = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        tranche = await db.fetchrow("SELECT id, amount_cents FROM grant_tranche WHERE need_id = $1 AND position = 3",
                                    uuid.UUID(nid))
        with pytest.raises(asyncpg.CheckViolationError, match="paid_exactly"):
            await db.execute("UPDATE grant_tranche SET status = 'paid', paid_amount_cents = amount_cents + 1, "
                             "paid_on = current_date WHERE id = $1", tranche["id"])
        with pytest.raises(asyncpg.CheckViolationError, match="paid_when_paid"):
            await db.execute("UPDATE grant_tranche SET status = 'paid' WHERE id = $1", tranche["id"])
        total = await db.fetchval("SELECT sum(t.amount_cents) = d.amount_cents FROM grant_tranche t JOIN "
                                  "funding_decision d ON d.id = t.decision_id WHERE t.need_id = $1 GROUP BY "
                                  "d.amount_cents", uuid.UUID(nid))
        assert total is True
    finally:
        await db.close()


@given(st.integers(min_value=1, max_value=10**15))
def test_the_tranches_add_up_to_the_decision_to_the_cent(amount: int) -> None:
    """N14: 40/40/20, each share rounded down and the remainder on the last: the sum is the amount, exactly."""
    shares = split_amount(amount)
    assert sum(cents for _, _, cents in shares) == amount
    assert [(kind, percent) for kind, percent, _ in shares] == list(FUNDING_SCHEDULE)
    assert [kind for kind, _, _ in shares] == [TrancheKind.START, TrancheKind.ACCEPTANCE_TESTING,
                                               TrancheKind.USAGE_VERIFIED]
    first, second, last = (cents for _, _, cents in shares)
    assert first == second == amount * 40 // 100 and 0 <= last - amount * 20 // 100 < 3
