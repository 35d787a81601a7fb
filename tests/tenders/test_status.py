"""What everyone reads of a procedure's status, never stale (domain.md §11.1):

- HC6: a specific contract reads `closed_for_offers` from its tender deadline's microsecond on, for everyone at
  once (the buyer, an invited vendor, the vendor's invitations, public discovery and its `status` filter),
  on the contract's DPS clock (a sandbox's runs faster), although nothing is stored at the deadline;
- HC5: the need follows its procedure, as its holder reads it: published → closed_for_offers → in_dialogue →
  chosen → contracted, or cancelled / unsuccessful.

Each test reads a status one microsecond before the deadline and at the deadline exactly: with the reading
derived from the stored status alone, the second reading says `open` (or `published`) and the test fails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.tenders.models import NeedStatus, SpecificContract
from marketplace.tenders.states import (
    NeedProgress,
    SpecificContractStatus,
    need_status_at,
    status_at,
)
from tests.awards.test_award import VENDORS, scores, submitted_offers
from tests.awards.test_contract import sign
from tests.tenders.test_needs import create
from tests.tenders.test_offers import DEADLINE, open_contract, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish
from tests.vendors.api import Client, categories_by_pair, expect, fetch, minimal_pdf

# The frozen clock and the app reading it, as for the DPS tests.
from tests.vendors.conftest import app, clock  # noqa: F401
from tests.vendors.test_sandbox import FACTOR, active_sandbox, sandbox_need, sandbox_now
from tests.world import World

pytestmark = pytest.mark.usefixtures("cpv")
JUST_BEFORE = DEADLINE - timedelta(microseconds=1)


async def contract_status(client: Client, world: World, cid: str, person: str) -> str:
    return str(expect(await client.get(f"/specific-contracts/{cid}", headers=world[person].headers), 200)["status"])


async def invitation_status(client: Client, world: World, cid: str, person: str = "vendor_member") -> str:
    mine = expect(await client.get("/my/invitations", headers=world[person].headers), 200)
    [status] = [m["status"] for m in mine if m["specificContractId"] == cid]
    return str(status)


async def need_status(client: Client, world: World, need_id: str, person: str = "holder_admin") -> str:
    """The need as its holder reads it, by id and in its list (HC5: without asking anyone)."""
    shown = expect(await client.get(f"/needs/{need_id}", headers=world[person].headers), 200)["status"]
    listed = {n["id"]: n["status"] for n in expect(await client.get("/needs", headers=world[person].headers), 200)}
    assert listed[need_id] == shown
    return str(shown)


async def discovered(client: Client, **params: Any) -> dict[str, str]:
    """Public discovery: specific contract id → status, for the listing with these filters."""
    page = expect(await client.get("/discovery/needs", params=params), 200)
    return {item["specificContractId"]: item["status"] for item in page["items"]}


async def stored_status(settings: Settings, cid: str) -> str:
    [row] = await fetch(settings, "SELECT status::text AS status FROM specific_contract WHERE id = $1",
                        uuid.UUID(cid))
    return str(row["status"])


# -- HC6 on a frozen real clock -------------------------------------------------------------------------------


async def test_everyone_reads_closed_for_offers_from_the_deadlines_microsecond(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)  # `vendor` and `other_vendor` invited; D = DEADLINE
    cid, need_id, dps_id = contract["id"], contract["needId"], contract["dpsId"]
    offer = await prepared_offer(client, world, cid)
    expect(await submit(client, world, offer["id"]), 200)

    async def everyone_reads(expected: str, need_expected: str) -> None:
        for person in ("buyer_admin", "buyer_evaluator", "vendor_member", "other_vendor_admin"):
            assert await contract_status(client, world, cid, person) == expected, person
        assert await invitation_status(client, world, cid) == expected
        assert await invitation_status(client, world, cid, "other_vendor_admin") == expected
        assert (await discovered(client))[cid] == expected
        # The `status` filter finds it under what it reads, and under nothing else.
        for status in ("open", "closed_for_offers"):
            assert (cid in await discovered(client, status=status)) == (status == expected), status
        assert await need_status(client, world, need_id) == need_expected
        filed = expect(await client.get(f"/dps/{dps_id}/needs", headers=world["buyer_admin"].headers), 200)
        assert {n["id"]: n["status"] for n in filed}[need_id] == need_expected

    clock.set(JUST_BEFORE)
    await everyone_reads("open", "published")
    clock.set(DEADLINE)
    await everyone_reads("closed_for_offers", "closed_for_offers")
    # Derived, not stored: the opening still finds the contract to open, opens it once, and only then is
    # `closed_for_offers` stored (the offers opened: the need is in dialogue).
    assert await stored_status(settings, cid) == "open"
    record = expect(await open_offers(client, world, cid), 200)
    assert [o["offer"] for o in record["document"]["offers"]] == [offer["id"]]
    expect(await open_offers(client, world, cid), 409)
    assert await stored_status(settings, cid) == "closed_for_offers"
    assert await contract_status(client, world, cid, "vendor_member") == "closed_for_offers"
    assert await need_status(client, world, need_id) == "in_dialogue"


async def test_a_deadline_moved_later_reads_open_again_until_the_new_deadline(
        client: Client, world: World, clock: FrozenClock) -> None:
    """The reading follows the deadline the contract has now, not the one it had (an extension before D)."""
    contract = await open_contract(client, world, clock)
    cid = contract["id"]
    later = DEADLINE + timedelta(days=3)
    expect(await client.post(f"/specific-contracts/{cid}/deadline", headers=world["buyer_admin"].headers, json={
        "tenderDeadline": later.isoformat(), "reason": "Report de la date limite."}), 200)
    clock.set(DEADLINE)
    assert await contract_status(client, world, cid, "vendor_member") == "open"
    assert cid in await discovered(client, status="open")
    clock.set(later - timedelta(microseconds=1))
    assert await invitation_status(client, world, cid) == "open"
    clock.set(later)
    assert await invitation_status(client, world, cid) == "closed_for_offers"
    assert cid in await discovered(client, status="closed_for_offers")
    assert await need_status(client, world, contract["needId"]) == "closed_for_offers"


# -- HC6 on a sandbox's accelerated clock ----------------------------------------------------------------------


async def test_a_sandbox_contract_closes_at_its_deadline_on_the_sandbox_clock(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    """Two contracts of one sandbox, their deadlines one microsecond apart (D and D + 1 µs): at the real instant
    the sandbox reads D exactly, the first reads closed_for_offers (at D) and the second open (at its own
    D − 1 µs); a real microsecond earlier (1 440 sandbox microseconds), both read open. The real clock then is
    a month short of either deadline: only the sandbox's clock closes them."""
    dps = await active_sandbox(client, world, clock)
    epoch = datetime.fromisoformat(dps["sandboxClock"]["epoch"])
    await admit(client, world, world["vendor_admin"], categories_by_pair(dps)["grand_age", "saas"])
    deadline = epoch + timedelta(days=42, hours=1)  # 2 522.5 real seconds after the epoch: read exactly
    cids, needs = [], []
    for at in (deadline, deadline + timedelta(microseconds=1)):
        need = await sandbox_need(client, world, dps["id"])
        contract = expect(await publish(client, world, need["id"], dps["id"], at.isoformat()), 201)
        assert contract["sandbox"] is True and contract["status"] == "open"
        cids.append(contract["id"])
        needs.append(need["id"])
    at_deadline = epoch + (deadline - epoch) / FACTOR

    async def reads(cid: str, need_id: str) -> tuple[str, str, str, str]:
        return (await contract_status(client, world, cid, "buyer_admin"),
                await contract_status(client, world, cid, "vendor_member"),
                await invitation_status(client, world, cid), await need_status(client, world, need_id))

    open_ = ("open", "open", "open", "published")
    closed = ("closed_for_offers", "closed_for_offers", "closed_for_offers", "closed_for_offers")
    clock.set(at_deadline - timedelta(microseconds=1))
    assert await sandbox_now(client, dps["id"]) == deadline - timedelta(microseconds=FACTOR)
    assert [await reads(c, n) for c, n in zip(cids, needs, strict=True)] == [open_, open_]
    clock.set(at_deadline)
    assert await sandbox_now(client, dps["id"]) == deadline
    assert clock.now() < deadline - timedelta(days=30)
    assert [await reads(c, n) for c, n in zip(cids, needs, strict=True)] == [closed, open_]
    clock.set(at_deadline + timedelta(microseconds=1))
    assert [await reads(c, n) for c, n in zip(cids, needs, strict=True)] == [closed, closed]
    # A rehearsal is never public, whatever it reads.
    assert not set(cids) & set(await discovered(client))
    assert [await stored_status(settings, c) for c in cids] == ["open", "open"]


# -- HC5: the need follows its procedure ------------------------------------------------------------------------


async def test_the_need_follows_its_procedure_to_the_signed_contract(
        client: Client, world: World, clock: FrozenClock) -> None:
    admin = world["buyer_admin"].headers
    cid, offers = await submitted_offers(client, world, clock)
    need_id = expect(await client.get(f"/specific-contracts/{cid}", headers=admin), 200)["needId"]
    clock.set(JUST_BEFORE)
    assert await need_status(client, world, need_id) == "published"
    clock.set(DEADLINE)
    assert await need_status(client, world, need_id) == "closed_for_offers"
    # The offers opened: the dialogue (clarifications) and the evaluation.
    expect(await open_offers(client, world, cid), 200)
    assert await need_status(client, world, need_id) == "in_dialogue"
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    assert await need_status(client, world, need_id) == "in_dialogue"
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    for person, mark in zip(VENDORS, (90, 60, 50), strict=True):
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=admin, json=scores(mark, mark)), 200)
    # The award, with a standstill the buyer chose to observe: chosen, during it and after it.
    award = expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json={
        "offerId": offers["vendor_admin"], "reasons": "Meilleure offre.", "standstillRequired": True}), 201)
    assert await contract_status(client, world, cid, "buyer_admin") == "standstill"
    assert await need_status(client, world, need_id) == "chosen"
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=admin,
                                   json={"amountCents": 4_800_000}), 201)["id"]
    clock.set(datetime.fromisoformat(award["earliestSignatureAt"]))
    assert await need_status(client, world, need_id) == "chosen"
    expect(await sign(client, world, kid, "vendor_admin", minimal_pdf("signé titulaire")), 201)
    assert await need_status(client, world, need_id) == "chosen"  # one signature is not the contract
    expect(await sign(client, world, kid, "buyer_admin", minimal_pdf("signé acheteur")), 201)
    assert await contract_status(client, world, cid, "vendor_member") == "contracted"
    assert await need_status(client, world, need_id) == "contracted"
    # Other holders still don't see it (404), whatever its status.
    expect(await client.get(f"/needs/{need_id}", headers=world["other_holder_admin"].headers), 404)


async def test_a_need_declared_sans_suite_after_its_deadline_reads_cancelled_and_frees_its_facilities(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    contract = await open_contract(client, world, clock)
    cid, need_id = contract["id"], contract["needId"]
    clock.set(DEADLINE)
    assert await need_status(client, world, need_id) == "closed_for_offers"
    done = expect(await client.post(f"/specific-contracts/{cid}/cancellation", headers=world["buyer_admin"].headers,
                                    json={"reasons": "Le besoin a disparu."}), 200)
    # What it left is what everyone read: closed for offers, not "open" past its deadline.
    assert (done["status"], done["previousStatus"]) == ("cancelled", "closed_for_offers")
    [row] = await fetch(settings, "SELECT previous_status FROM sans_suite_declaration WHERE specific_contract_id = $1",
                        uuid.UUID(cid))
    assert row["previous_status"] == "closed_for_offers"
    assert await need_status(client, world, need_id) == "cancelled"
    assert await contract_status(client, world, cid, "vendor_member") == "cancelled"
    assert (await discovered(client))[cid] == "cancelled"
    # N18: a cancelled project is no longer active; its ESMS go into another need of the campaign.
    facilities = expect(await client.get(f"/needs/{need_id}", headers=world["holder_admin"].headers),
                        200)["facilities"]
    again = await create(client, world, facilities=facilities)
    submitted = expect(await client.post(f"/needs/{again['id']}/submit", headers=world["holder_admin"].headers), 200)
    assert submitted["status"] == "submitted"


async def test_an_opening_that_finds_no_offer_leaves_the_need_unsuccessful(
        client: Client, world: World, clock: FrozenClock) -> None:
    contract = await open_contract(client, world, clock)
    clock.set(DEADLINE)
    assert await need_status(client, world, contract["needId"]) == "closed_for_offers"
    expect(await open_offers(client, world, contract["id"]), 200)
    assert await need_status(client, world, contract["needId"]) == "unsuccessful"


# -- the readings themselves -------------------------------------------------------------------------------------


def test_every_stored_stage_has_a_reading() -> None:
    """Every stored need status is a status the need can read, and every stage of machine (c) gives the need its
    reading (a stage added to either machine without its reading fails here, not in production)."""
    assert {s.value for s in NeedStatus} <= {p.value for p in NeedProgress}
    deadline = datetime(2026, 2, 17, 8, 0, tzinfo=UTC)
    contract = SpecificContract(status=SpecificContractStatus.OPEN, tender_deadline=deadline)
    expected = {
        # Only inside the publication's transaction, long before any deadline.
        SpecificContractStatus.DRAFT: ("published", "published"),
        SpecificContractStatus.OPEN: ("published", "closed_for_offers"),
        SpecificContractStatus.CLOSED_FOR_OFFERS: ("in_dialogue", "in_dialogue"),
        SpecificContractStatus.EVALUATION: ("in_dialogue", "in_dialogue"),
        SpecificContractStatus.AWARD_DECIDED: ("chosen", "chosen"),
        SpecificContractStatus.STANDSTILL: ("chosen", "chosen"),
        SpecificContractStatus.CONTRACTED: ("contracted", "contracted"),
        SpecificContractStatus.UNSUCCESSFUL: ("unsuccessful", "unsuccessful"),
        SpecificContractStatus.CANCELLED: ("cancelled", "cancelled"),
    }
    assert set(expected) == set(SpecificContractStatus)
    for stage, readings in expected.items():
        contract.status = stage
        assert tuple(need_status_at(NeedStatus.PUBLISHED, contract, at).value
                     for at in (deadline - timedelta(microseconds=1), deadline)) == readings, stage
        # The contract itself reads its stored stage, but OPEN past its deadline (HC6).
        assert status_at(contract, deadline) == (SpecificContractStatus.CLOSED_FOR_OFFERS
                                                 if stage == SpecificContractStatus.OPEN else stage)
    contract.status = SpecificContractStatus.OPEN
    assert status_at(contract, deadline - timedelta(microseconds=1)) == SpecificContractStatus.OPEN
    assert need_status_at(NeedStatus.SUBMITTED, None, deadline) == NeedProgress.SUBMITTED
