"""OCDS and DECP exports through the public API, built from a procedure run through the real API (domain.md §3, §4):
every export validated against the official schemas with the format checker on; a sealed offer's content (a canary
in its text, its file's name and its price) appears in no export before or after the opening, beyond what OCDS
allows (counts, then the awarded value: the signed contract's amount); releases immutable, stored once; sandbox
procedures never published."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from marketplace.app import asyncpg_dsn
from marketplace.lib.clock import FrozenClock
from marketplace.opendata.merge import compile_releases
from marketplace.opendata.ocds import canonical_hash
from marketplace.settings import Settings
from tests.awards.test_award import scores
from tests.awards.test_contract import sign
from tests.opendata.conftest import Jobs, RecordingPortal
from tests.opendata.schemas import (
    decp_errors,
    extended_release_schema,
    record_package_errors,
    release_errors,
    release_package_errors,
)
from tests.tenders.test_offers import DEADLINE, open_offers, prepared_offer, submit
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import (
    SECRET_REPRESENTATIVE,
    SECRET_TURNOVER,
    Client,
    categories_by_pair,
    dps_body,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
)
from tests.vendors.api import publish as publish_dps
from tests.world import ORGANISATIONS, World

pytestmark = pytest.mark.usefixtures("cpv")
VENDORS = ("vendor_admin", "other_vendor_admin", "third_vendor_admin")
WORLD_VENDOR_NAMES = [ORGANISATIONS[key][0] for key in ("vendor", "other_vendor", "third_vendor")]
# The offers' price: sealed content. Its every spelling is looked for in the exports.
PRICE_CENTS = 4_812_345
PRICE_SPELLINGS = ("4812345", "48123.45", "48123,45", "48 123")


async def procedure(client: Client, world: World, clock: FrozenClock,
                    canaries: dict[str, str]) -> tuple[dict[str, Any], str, dict[str, str]]:
    """An active DPS, a specific contract published on it, a sealed offer of each vendor carrying its canary in
    its text, its price schedule and its file's name; before the deadline."""
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    for person in VENDORS:
        await admit(client, world, world[person], category)
    need = await submitted_need(client, world)
    cid = expect(await publish(client, world, need["id"], dps["id"], "2026-02-17T09:00:00"), 201)["id"]
    offers = {}
    for person in VENDORS:
        canary = canaries[person]
        parts = {"priceSchedule": [{"item": f"Licence {canary}", "quantity": 1, "unitPriceCents": PRICE_CENTS}],
                 "answers": [{"criterion": "Prix", "answer": f"Prix {canary}"},
                             {"criterion": "Valeur technique", "answer": canary}]}
        offer = await prepared_offer(client, world, cid, person, parts=parts,
                                     files={f"offre-{canary}.pdf": minimal_pdf(f"contenu {canary}")})
        offers[person] = offer["id"]
        clock.advance(timedelta(minutes=1))
        expect(await submit(client, world, offer["id"], person), 200)
    return dps, cid, offers


async def award(client: Client, world: World, clock: FrozenClock, cid: str, offers: dict[str, str]) -> None:
    clock.set(DEADLINE)
    expect(await open_offers(client, world, cid), 200)
    admin = world["buyer_admin"].headers
    expect(await client.post(f"/specific-contracts/{cid}/evaluation", headers=admin), 200)
    expect(await client.post(f"/specific-contracts/{cid}/conflict-declarations", headers=admin,
                             json={"hasConflict": False, "statement": "Aucun lien."}), 201)
    for person, mark in (("vendor_admin", 90), ("other_vendor_admin", 60), ("third_vendor_admin", 50)):
        expect(await client.put(f"/offers/{offers[person]}/scores", headers=admin, json=scores(mark, mark)), 200)
    expect(await client.post(f"/specific-contracts/{cid}/award", headers=admin, json={
        "offerId": offers["vendor_admin"], "reasons": "Meilleure offre.", "standstillRequired": False}), 201)


async def signed_contract(client: Client, world: World, cid: str, amount_cents: int) -> str:
    kid = expect(await client.post(f"/specific-contracts/{cid}/contract", headers=world["buyer_admin"].headers,
                                   json={"amountCents": amount_cents}), 201)["id"]
    for person in ("buyer_admin", "vendor_admin"):
        expect(await sign(client, world, kid, person, minimal_pdf(f"signé {person}")), 201)
    return str(kid)


async def exports(client: Client, ocids: list[str]) -> dict[str, Any]:
    """Every public export, each validated against its official schema with the format checker on."""
    texts: dict[str, str] = {}
    bodies: dict[str, Any] = {}
    response = await client.get("/ocds/releases")
    assert response.status_code == 200, response.text
    bodies["releases"], texts["releases"] = response.json(), response.text
    assert release_package_errors(bodies["releases"]) == []
    for release in bodies["releases"]["releases"]:
        assert release_errors(release) == [], release["id"]
    for ocid in ocids:
        response = await client.get(f"/ocds/records/{ocid}")
        assert response.status_code == 200, response.text
        bodies[ocid], texts[ocid] = response.json(), response.text
        assert record_package_errors(bodies[ocid]) == []
        assert release_errors(bodies[ocid]["records"][0]["compiledRelease"]) == []
        single = await client.get("/ocds/releases", params={"ocid": ocid})
        assert {r["ocid"] for r in single.json()["releases"]} == {ocid}
        texts[f"{ocid}/releases"] = single.text
    response = await client.get("/decp/marches")
    assert response.status_code == 200, response.text
    bodies["decp"], texts["decp"] = response.json(), response.text
    if bodies["decp"]["marches"]["marche"]:
        assert decp_errors(bodies["decp"]) == []
    bodies["_texts"] = texts
    return bodies


def assert_sealed(bodies: dict[str, Any], canaries: dict[str, str], portal: RecordingPortal) -> None:
    """D13 / §3.5: nothing of an offer's content in any export, nor in what the portal was sent."""
    texts = [*bodies["_texts"].values(), *(repr(document) for _, document in portal.sent)]
    for canary in canaries.values():
        assert not [t for t in texts if canary in t]
    for spelling in PRICE_SPELLINGS:
        assert not [t for t in texts if spelling in t], spelling


def releases_of(bodies: dict[str, Any], ocid: str) -> dict[str, dict[str, Any]]:
    return {r["id"].removeprefix(f"{ocid}-"): r for r in bodies[ocid]["records"][0]["releases"]}


async def test_every_export_validates_and_no_sealed_content_ever_appears(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs,
        portal: RecordingPortal) -> None:
    canaries = {person: f"canari-{secrets.token_hex(12)}" for person in VENDORS}
    dps, cid, offers = await procedure(client, world, clock, canaries)
    prefix = settings.ocds_ocid_prefix
    dps_ocid, ocid = f"{prefix}-{dps['id']}", f"{prefix}-{cid}"

    # Before the opening: the DPS's notice (its categories as lots, the DPS technique) and the contract's tender
    # (relatedProcesses → the DPS); no bid, not even counted.
    await jobs.run()
    before = await exports(client, [dps_ocid, ocid])
    assert_sealed(before, canaries, portal)
    dps_releases = releases_of(before, dps_ocid)
    admissions = {key: r for key, r in dps_releases.items() if key.startswith("award-")}
    assert set(dps_releases) - set(admissions) == {"tender-notice", "tenderUpdate-active"}
    # §3.5: the vendors admitted to the category, as a framework's suppliers; nothing of their self-declaration.
    saas = categories_by_pair(dps)["grand_age", "saas"]
    assert sorted(a["awards"][0]["suppliers"][0]["name"] for a in admissions.values()) == sorted(
        WORLD_VENDOR_NAMES)
    assert all(a["awards"][0]["relatedLots"] == [saas] for a in admissions.values())
    for secret in (SECRET_REPRESENTATIVE, str(SECRET_TURNOVER)):
        assert not [t for t in before["_texts"].values() if secret in t]
    notice = dps_releases["tender-notice"]["tender"]
    # Open: the central purchasing body's DPS is usable by other buyers (techniques codelist).
    assert dps["usableByOtherBuyers"] is True
    assert notice["techniques"] == {"hasDynamicPurchasingSystem": True,
                                    "dynamicPurchasingSystem": {"type": "open", "status": "pending"}}
    assert {lot["id"] for lot in notice["lots"]} == {c["id"] for c in dps["categories"]}
    assert all(lot["techniques"]["hasDynamicPurchasingSystem"] for lot in notice["lots"])
    compiled_dps = before[dps_ocid]["records"][0]["compiledRelease"]
    assert compiled_dps["tender"]["techniques"]["dynamicPurchasingSystem"]["status"] == "active"
    tender = releases_of(before, ocid)["tender-invitation"]
    assert tender["relatedProcesses"] == [{"id": "dps", "relationship": ["framework"], "title": dps["title"],
                                           "scheme": "ocid", "identifier": dps_ocid}]
    assert tender["tender"]["tenderPeriod"]["endDate"] == "2026-02-17T08:00:00Z"
    assert "bids" not in before["_texts"][ocid]

    # The opening: counts only.
    await award(client, world, clock, cid, offers)
    await jobs.run()
    after_award = await exports(client, [dps_ocid, ocid])
    assert_sealed(after_award, canaries, portal)
    contract_releases = releases_of(after_award, ocid)
    opening = contract_releases["tenderUpdate-opening"]
    assert opening["bids"] == {"statistics": [{"id": "bids", "measure": "bids", "value": 3},
                                              {"id": "bidders", "measure": "bidders", "value": 3}]}
    awarded = next(r for key, r in contract_releases.items() if key.startswith("award-"))
    assert awarded["awards"][0]["status"] == "active" and "value" not in awarded["awards"][0]
    assert awarded["bids"]["details"] == [{"id": f"bid-{offers['vendor_admin']}", "status": "valid",
                                           "tenderers": [{"id": "FR-RCS-44306184100047",
                                                          "name": "Logiciels Médico-Sociaux SAS"}]}]

    # The contract, notified: the awarded value is its amount; DECP published (≥ 40,000 € HT), then a
    # modification appended to both.
    kid = await signed_contract(client, world, cid, 4_500_000)
    await jobs.run()
    clock.advance(timedelta(days=20))
    expect(await client.post(f"/contracts/{kid}/modifications", headers=world["buyer_admin"].headers,
                             json={"reason": "Module supplémentaire.", "amountCents": 5_000_050}), 201)
    stored, published = await jobs.run()
    assert (stored, published) == (1, 1)
    final = await exports(client, [dps_ocid, ocid])
    assert_sealed(final, canaries, portal)
    contract_releases = releases_of(final, ocid)
    assert contract_releases[f"contract-{kid}"]["contracts"][0]["value"] == {"amount": 45000, "currency": "EUR"}
    compiled = final[ocid]["records"][0]["compiledRelease"]
    assert compiled["tag"] == ["compiled"]
    assert compiled["tender"]["status"] == "complete"
    assert compiled["contracts"][0]["value"] == {"amount": 50000.5, "currency": "EUR"}
    assert compiled["contracts"][0]["status"] == "active"
    assert [a["rationale"] for a in compiled["contracts"][0]["amendments"]] == ["Module supplémentaire."]
    assert compiled["awards"][0]["value"] == {"amount": 45000, "currency": "EUR"}

    marches = final["decp"]["marches"]["marche"]
    assert len(marches) == 1
    marche = marches[0]
    assert marche["techniques"] == {"technique": ["Système d'acquisition dynamique"]}
    assert (marche["montant"], marche["offresRecues"], marche["acheteur"]["id"]) == (45000, 3, "55208131766522")
    assert marche["titulaires"] == [{"titulaire": {"typeIdentifiant": "SIRET", "id": "44306184100047"}}]
    assert marche["modifications"] == [{"modification": {
        "id": 1, "dateNotificationModification": "2026-03-09", "datePublicationDonneesModification": "2026-03-09",
        "montant": 50000.5}}]
    # What the portal was sent: the marché, then the same with its modification appended (the first never edited).
    assert [name for name, _ in portal.sent] == [f"decp-{marche['id']}.json", f"decp-{marche['id']}-m1.json"]
    first = portal.sent[0][1]["marches"]["marche"][0]
    assert "modifications" not in first and {k: v for k, v in marche.items() if k != "modifications"} == first


async def test_releases_are_immutable_and_stored_once(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs) -> None:
    canaries = {person: secrets.token_hex(8) for person in VENDORS}
    _, cid, offers = await procedure(client, world, clock, canaries)
    await award(client, world, clock, cid, offers)
    await signed_contract(client, world, cid, 4_000_000)
    stored, published = await jobs.run()
    assert stored >= 5 and published == 1
    # Idempotent: a second run (or the CLI at the same time) stores nothing again.
    assert await jobs.run() == (0, 0)
    rows = await fetch(settings, "SELECT release_id, release, sha256 FROM ocds_release")
    assert len({r["release_id"] for r in rows}) == len(rows) == stored
    for row in rows:
        assert canonical_hash(json.loads(row["release"])) == row["sha256"]
    # The database refuses any edit, to the application's role and to the owner alike.
    for url in (settings.database_url, settings.migration_url):
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for statement in ("UPDATE ocds_release SET tags = '{tender}'", "DELETE FROM ocds_release",
                              "UPDATE decp_record SET published_on = published_on", "DELETE FROM decp_record",
                              "TRUNCATE ocds_release", "TRUNCATE decp_record"):
                with pytest.raises(asyncpg.PostgresError):
                    await conn.execute(statement)
        finally:
            await conn.close()
    assert len(await fetch(settings, "SELECT 1 FROM ocds_release")) == stored


async def test_sandbox_procedures_are_never_published(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs) -> None:
    real = await open_dps(client, world, clock)
    body = {**dps_body(clock.now(), title="Bac à sable"), "sandbox": {"factor": 60}}
    sandbox = expect(await client.post("/dps", headers=world["buyer_admin"].headers, json=body), 201)
    assert sandbox["sandbox"] is True
    expect(await publish_dps(client, world, clock, sandbox["id"]), 200)
    await jobs.run()
    package = expect(await client.get("/ocds/releases"), 200)
    ocids = {r["ocid"] for r in package["releases"]}
    assert ocids == {f"{settings.ocds_ocid_prefix}-{real['id']}"}
    assert sandbox["id"] not in str(package)
    expect(await client.get(f"/ocds/records/{settings.ocds_ocid_prefix}-{sandbox['id']}"), 404)
    rows = await fetch(settings, "SELECT count(*) AS n FROM ocds_release WHERE ocid LIKE $1", f"%{sandbox['id']}")
    assert rows[0]["n"] == 0


def test_the_builtin_merge_agrees_with_ocdsmerge() -> None:
    import ocdsmerge  # the standard's implementation (a dev dependency), beside the built-in merge
    ocid = "ocds-sad000-1"
    releases = [
        {"ocid": ocid, "id": f"{ocid}-tender-1", "date": "2026-01-05T08:00:00Z", "tag": ["tender"],
         "initiationType": "tender", "parties": [{"id": "A", "name": "A", "roles": ["buyer"]}],
         "tender": {"id": "1", "status": "active", "techniques": {"hasDynamicPurchasingSystem": True},
                    "lots": [{"id": "L1", "title": "Lot"}]}},
        {"ocid": ocid, "id": f"{ocid}-award-1", "date": "2026-02-05T08:00:00Z", "tag": ["award"],
         "initiationType": "tender", "parties": [{"id": "B", "name": "B", "roles": ["supplier"]}],
         "awards": [{"id": "a1", "status": "active"}], "tender": {"id": "1", "status": "complete"}},
    ]
    ours = compile_releases(releases)
    theirs = ocdsmerge.Merger(schema=extended_release_schema()).create_compiled_release(releases)
    assert {k: v for k, v in ours.items() if k != "id"} == {k: v for k, v in theirs.items() if k != "id"}


async def test_an_admission_is_an_award_of_the_dps_and_its_end_cancels_it(
        client: Client, world: World, clock: FrozenClock, settings: Settings, jobs: Jobs) -> None:
    dps = await open_dps(client, world, clock)
    saas = categories_by_pair(dps)["grand_age", "saas"]
    request_id = await admit(client, world, world["vendor_admin"], saas)
    ocid = f"{settings.ocds_ocid_prefix}-{dps['id']}"
    await jobs.run()
    expect(await client.post(f"/admission-requests/{request_id}/withdraw", headers=world["vendor_admin"].headers),
           200)
    clock.advance(timedelta(hours=1))
    await jobs.run()
    record = expect(await client.get(f"/ocds/records/{ocid}"), 200)
    assert record_package_errors(record) == []
    releases = releases_of({ocid: record}, ocid)
    assert releases[f"award-{request_id}"]["awards"][0]["status"] == "active"
    assert releases[f"awardUpdate-{request_id}-withdrawn"]["awards"] == [{"id": request_id, "status": "cancelled"}]
    compiled = record["records"][0]["compiledRelease"]
    assert [(a["id"], a["status"], a["relatedLots"]) for a in compiled["awards"]] == [(request_id, "cancelled", [saas])]


async def test_a_malformed_instant_is_a_400_naming_it(client: Client, settings: Settings) -> None:
    """Found by probing: a naive time or one at the edge of the years reached the database (a 500). Malformed:
    400; written as the published pattern asks but naming no time the platform handles: 422 (a fuzzer's valid
    data is not refused as malformed)."""
    for value in ("2026-01-01T00:00:00", "1"):
        problem = expect(await client.get("/ocds/releases", params={"since": value}), 400)
        assert problem["field"] == "since", value
    for value in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2026-02-30T00:00:00Z",
                  "0000-00-00T00:00Z"):
        problem = expect(await client.get("/ocds/releases", params={"since": value}), 422)
        assert (problem["type"].rsplit("/", 1)[-1], problem["field"]) == ("impossible-instant", "since"), value
    package = expect(await client.get("/ocds/releases", params={"since": "2026-01-01T00:00:00+01:00"}), 200)
    # An empty page of the feed: the package schema asks for one release at least, the only thing it finds wrong
    # (a poller of `since` reads an empty page as "nothing new").
    assert package["releases"] == []
    assert release_package_errors(package) == ["releases: [] should be non-empty"]
    expect(await client.get(f"/ocds/records/{settings.ocds_ocid_prefix}-unknown"), 404)
    assert expect(await client.get("/decp/marches"), 200) == {"marches": {"marche": []}}
