"""Expressions of need through the API: drafts, and submission checked against the programme rules."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from stdnum import luhn

from marketplace.lib.clock import SystemClock
from marketplace.settings import Settings
from marketplace.tenders.models import Need
from marketplace.tenders.needs import NeedService

# The `cpv` fixture lives in tests/conftest.py; still importable from here, where tests used to take it.
from tests.conftest import cpv  # noqa: F401
from tests.vendors.api import audit_actions, dps_body, fetch
from tests.world import FACILITIES, PASSWORD, World


def finess(prefix: str) -> str:
    """A Luhn-valid FINESS from its first 8 characters."""
    return prefix + luhn.calc_check_digit(prefix)


def need_body(**overrides: Any) -> dict[str, Any]:
    """A type-2 (conformity) need of the `holder` OG for its one facility, valid in campaign 2025."""
    body: dict[str, Any] = {
        "title": "Mise en conformité du DUI", "description": "Mise en conformité Ségur du dossier usager.",
        "campaign": 2025, "projectType": 2, "requestedCall": "regional", "appliedOn": "2025-03-01",
        "facilities": [{"finessEt": FACILITIES["holder"][1], "equipmentBudgetCents": 0}],
        "coreServices": ["ins", "mss", "dmp", "eprescription"],
        "gdprCompliance": True, "targetMapConvergence": True, "businessContinuity": True,
        "usageTargetsDeclared": True, "software": {"couloir": "MS1", "referenced": True},
        "fundingSchedule": [40, 40, 20], "arsPrevalidationReference": "ARS-IDF-2025-042",
        "arsPrevalidatedOn": "2025-06-01", "sector": "grand_age", "deliveryMode": "saas",
        "cpvCodes": ["48000000-8", "72000000"],
    }
    return body | overrides


_SIRENS = itertools.count(1)


def siret() -> str:
    """A fresh SIRET that passes its checks (Luhn over the SIREN, then over the 14 digits)."""
    siren = finess(f"41{next(_SIRENS):06d}")
    head = siren + "0001"
    return head + luhn.calc_check_digit(head)


async def register_og(client: AsyncTestClient[Litestar], world: World, finess_ej: str,
                      facilities: list[str]) -> str:
    """An OG (holder with its FINESS EJ) and its facilities, registered by the platform admin through the API."""
    admin = world["platform_admin"].headers
    og = await client.post("/organisations", headers=admin, json={
        "kind": "holder", "name": f"OG {finess_ej}", "siret": siret(), "finessEj": finess_ej})
    assert og.status_code == 201, og.text
    og_id: str = og.json()["id"]
    await add_facilities(client, world, og_id, facilities)
    return og_id


async def add_facilities(client: AsyncTestClient[Litestar], world: World, og_id: str, finess_ets: list[str]) -> None:
    for et in finess_ets:
        added = await client.post(f"/organisations/{og_id}/facilities", headers=world["platform_admin"].headers,
                                  json={"name": f"ESMS {et}", "finessEt": et})
        assert added.status_code == 201, added.text


async def register_grappe(client: AsyncTestClient[Litestar], world: World, name: str, og_ids: list[str]) -> str:
    """A grappe of the OGs, led by the first, registered by the platform admin through the API."""
    grappe = await client.post("/organisations", headers=world["platform_admin"].headers, json={
        "kind": "holder", "name": name, "isGrappe": True, "grappeMemberIds": og_ids, "leadOrganisationId": og_ids[0]})
    assert grappe.status_code == 201, grappe.text
    assert grappe.json()["grappeMemberIds"] == og_ids
    grappe_id: str = grappe.json()["id"]
    return grappe_id


async def grappe_admin(client: AsyncTestClient[Litestar], world: World, settings: Settings,
                       organisation_id: str, email: str) -> dict[str, str]:
    """The headers of a person who administers the organisation and leads its projects: the platform admin invites
    them, they accept with the code of the e-mail (read from the outbox) and log in (an existing account proves
    itself with its password)."""
    invited = await client.post(f"/organisations/{organisation_id}/invitations",
                                headers=world["platform_admin"].headers,
                                json={"email": email, "roles": ["holder:admin", "holder:project_lead"]})
    assert invited.status_code == 201, invited.text
    [row] = await fetch(settings, "SELECT body FROM notification WHERE kind = 'accounts.invitation'"
                                  " AND recipient_email = $1 ORDER BY created_at DESC LIMIT 1", email)
    code = row["body"].split("code d'invitation : ", 1)[1].split()[0]
    accepted = await client.post("/invitations/accept",
                                 json={"token": code, "fullName": "Cheffe de projet", "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return {"Authorization": f"Bearer {accepted.json()['accessToken']}"}


def sites(*finess_ets: str) -> list[dict[str, Any]]:
    return [{"finessEt": et} for et in finess_ets]


async def filing_dps(client: AsyncTestClient[Litestar], world: World | None = None) -> str:
    """The DPS a test's needs are filed to (D2): the newest published real one, else (given `world`) a DPS of
    the world's buyer created and published through the API, in force whatever the app's clock reads."""
    listed = await client.get("/dps")
    assert listed.status_code == 200, listed.text
    if listed.json()["items"]:
        return str(listed.json()["items"][0]["id"])
    assert world is not None, "no published DPS to file the need to"
    buyer = world["buyer_admin"].headers
    body = dps_body(datetime(2020, 1, 1, tzinfo=UTC)) | {"validityEnd": "2100-01-01T00:00:00+00:00"}
    dps = await client.post("/dps", headers=buyer, json=body)
    assert dps.status_code == 201, dps.text
    published = await client.post(f"/dps/{dps.json()['id']}/publish", headers=buyer,
                                  json={"initialWindowEnd": "2099-01-01T00:00:00+00:00"})
    assert published.status_code == 200, published.text
    return str(dps.json()["id"])


@pytest.fixture(autouse=True)
async def _a_dps_to_file_to(client: AsyncTestClient[Litestar], world: World) -> None:
    """Needs are filed to a DPS before submission (D2): these tests have one."""
    await filing_dps(client, world)


async def submit(client: AsyncTestClient[Litestar], headers: dict[str, str], body: dict[str, Any]) -> Any:
    """Create the draft, submit it, and return the submission's response."""
    body = {"dpsId": await filing_dps(client)} | body
    created = await client.post("/needs", headers=headers, json=body)
    assert created.status_code == 201, created.text
    return await client.post(f"/needs/{created.json()['id']}/submit", headers=headers)


def violations(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    return [(v["rule"], v["field"]) for v in response.json()["violations"]]


async def create(client: AsyncTestClient[Litestar], world: World, person: str = "holder_admin",
                 **overrides: Any) -> dict[str, Any]:
    if "dpsId" not in overrides and not overrides.get("sandbox"):
        overrides["dpsId"] = await filing_dps(client, world)
    response = await client.post("/needs", headers=world[person].headers, json=need_body(**overrides))
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/needs/{response.json()['id']}"
    result: dict[str, Any] = response.json()
    return result


async def test_a_valid_need_is_created_as_draft_then_submitted(
        client: AsyncTestClient[Litestar], world: World, settings: Settings, cpv: None) -> None:
    need = await create(client, world)
    assert need["status"] == "draft" and need["holderOrganisationId"] == str(world.organisations["holder"])
    assert need["cpvCodes"] == ["48000000-8", "72000000"]

    edited = await client.put(f"/needs/{need['id']}", headers=world["holder_admin"].headers,
                              json=need_body(title="Mise en conformité du DUI (v2)", dpsId=need["dpsId"]))
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Mise en conformité du DUI (v2)"

    submitted = await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted" and submitted.json()["submittedAt"]
    assert await audit_actions(settings, need["id"]) == ["need.created", "need.updated", "need.submitted"]

    # Members of the holder read it; a submitted need is no longer edited or submitted again.
    shown = await client.get(f"/needs/{need['id']}", headers=world["holder_member"].headers)
    assert shown.status_code == 200 and shown.json()["status"] == "submitted"
    listed = await client.get("/needs", headers=world["holder_member"].headers)
    assert [n["id"] for n in listed.json()] == [need["id"]]
    again = await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers)
    assert again.status_code == 409
    edit = await client.put(f"/needs/{need['id']}", headers=world["holder_admin"].headers, json=need_body())
    assert edit.status_code == 409


async def test_submission_names_the_rule_and_lists_every_violation(
        client: AsyncTestClient[Litestar], world: World, settings: Settings, cpv: None) -> None:
    # Type 1 (acquisition) by a single OG with one facility, and no GDPR declaration.
    need = await create(client, world, projectType=1, gdprCompliance=False)
    response = await client.post(f"/needs/{need['id']}/submit", headers=world["holder_admin"].headers)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["rule"] == "N2" and problem["field"] == "holder.isGrappe"
    assert "at least 3 OGs and at least 15 facilities" in problem["detail"]
    assert "(and 2 more violations)" in problem["detail"]
    found = [(v["rule"], v["field"]) for v in problem["violations"]]
    assert found == [("N2", "holder.isGrappe"), ("N2", "facilities"), ("N9", "gdprCompliance")]
    assert "this one lists 1 facility of 1 OG" in problem["violations"][1]["message"]
    # Refused: still a draft, and nothing audited but the creation.
    shown = await client.get(f"/needs/{need['id']}", headers=world["holder_admin"].headers)
    assert shown.json()["status"] == "draft"
    assert await audit_actions(settings, need["id"]) == ["need.created"]


async def test_an_unknown_cpv_code_is_refused_naming_the_field(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    response = await client.post("/needs", headers=world["holder_admin"].headers,
                                 json=need_body(cpvCodes=["48000000-8", "12345678"]))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "cpvCodes[1]"
    assert "not in the CPV 2008 table" in response.json()["detail"]
    wrong_check = await client.post("/needs", headers=world["holder_admin"].headers,
                                    json=need_body(cpvCodes=["48000000-9"]))
    assert wrong_check.status_code == 422 and wrong_check.json()["field"] == "cpvCodes[0]"
    assert "check digit" in wrong_check.json()["detail"]


async def test_with_no_cpv_table_imported_the_refusal_names_the_import_command(
        client: AsyncTestClient[Litestar], world: World) -> None:
    """No `cpv` fixture: the server's table is empty, which the holder can't fix; the 422 says who can, how."""
    response = await client.post("/needs", headers=world["holder_admin"].headers, json=need_body())
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "cpvCodes[0]"
    assert "the CPV 2008 table is empty" in problem["detail"]
    assert "./run import-cpv cpv_en.json --version cpv-2008" in problem["detail"]


async def test_facilities_must_be_the_holders_and_free_in_the_campaign(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    admin = world["holder_admin"].headers
    # Another OG's facility.
    foreign = await create(client, world, facilities=[
        {"finessEt": FACILITIES["holder"][1]}, {"finessEt": FACILITIES["other_holder"][1]}])
    response = await client.post(f"/needs/{foreign['id']}/submit", headers=admin)
    assert response.status_code == 422, response.text
    assert response.json()["rule"] == "N18" and response.json()["field"] == "facilities[1].ogFinessEj"
    # A facility nobody registered.
    unknown = await create(client, world, facilities=[{"finessEt": finess("75000099")}])
    response = await client.post(f"/needs/{unknown['id']}/submit", headers=admin)
    assert response.status_code == 422 and response.json()["field"] == "facilities[0].finessEt"
    assert "not a registered facility" in response.json()["detail"]
    # A malformed FINESS is refused on the draft already.
    bad = await client.post("/needs", headers=admin, json=need_body(facilities=[{"finessEt": "750000011"}]))
    assert bad.status_code == 422 and bad.json()["field"] == "facilities[0].finessEt"

    # A second facility registered by the OG; the first need takes both, a second one of the same
    # campaign cannot take them again (another campaign can).
    second = finess("75000040")
    added = await client.post(f"/organisations/{world.organisations['holder']}/facilities", headers=admin,
                              json={"name": "SSIAD Les Tilleuls", "finessEt": second})
    assert added.status_code == 201, added.text
    both = [{"finessEt": FACILITIES["holder"][1]}, {"finessEt": second}]
    first = await create(client, world, facilities=both)
    assert (await client.post(f"/needs/{first['id']}/submit", headers=admin)).status_code == 200
    clash = await create(client, world, facilities=[{"finessEt": second}])
    response = await client.post(f"/needs/{clash['id']}/submit", headers=admin)
    assert response.status_code == 422 and response.json()["rule"] == "N18"
    assert "already in another active project of campaign 2025" in response.json()["detail"]
    later = await create(client, world, campaign=2023, facilities=[{"finessEt": second}])
    assert (await client.post(f"/needs/{later['id']}/submit", headers=admin)).status_code == 200


async def test_a_grappe_files_a_type_1_need(client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    ogs = [str(world.organisations["holder"]), str(world.organisations["other_holder"])]
    grappe = await client.post("/organisations", headers=world["platform_admin"].headers, json={
        "kind": "holder", "name": "Grappe Sud", "isGrappe": True, "grappeMemberIds": ogs,
        "leadOrganisationId": ogs[0]})
    assert grappe.status_code == 201, grappe.text
    # The world's holder admin is not a member of the grappe: it cannot file for it.
    refused = await client.post("/needs", headers=world["holder_admin"].headers,
                                json=need_body(holderOrganisationId=grappe.json()["id"]))
    assert refused.status_code == 422 and refused.json()["field"] == "holderOrganisationId"


async def test_others_do_not_see_a_need_and_vendors_cannot_file_one(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    need = await create(client, world)
    other = world["other_holder_admin"].headers
    assert (await client.get(f"/needs/{need['id']}", headers=other)).status_code == 404
    assert (await client.put(f"/needs/{need['id']}", headers=other, json=need_body())).status_code == 404
    assert (await client.post(f"/needs/{need['id']}/submit", headers=other)).status_code == 404
    assert (await client.get("/needs", headers=other)).json() == []
    # A plain member of the holder reads, but does not write.
    member = world["holder_member"].headers
    assert (await client.post(f"/needs/{need['id']}/submit", headers=member)).status_code == 403
    assert (await client.post("/needs", headers=member, json=need_body())).status_code == 403
    # Vendors are stopped by role.
    vendor = world["vendor_admin"].headers
    assert (await client.post("/needs", headers=vendor, json=need_body())).status_code == 403
    assert (await client.get(f"/needs/{need['id']}", headers=vendor)).status_code == 403
    assert (await client.post("/needs")).status_code == 401


async def test_a_grappe_of_3_ogs_and_15_facilities_submits_a_type_1_need(
        client: AsyncTestClient[Litestar], world: World, settings: Settings, cpv: None) -> None:
    # N2: a type-1 (acquisition) project is carried by a grappe of at least 3 OGs totalling at least 15 ESMS.
    # Three OGs of Provence-Alpes-Côte d'Azur with five facilities each, grouped under the first.
    ejs = [finess("13000001"), finess("83000001"), finess("84000001")]
    ets = [[finess(f"{ej[:2]}0001{n:02d}") for n in range(5)] for ej in ejs]
    og_ids = [await register_og(client, world, ej, og_ets) for ej, og_ets in zip(ejs, ets, strict=True)]
    grappe = await register_grappe(client, world, "Grappe Provence", og_ids)
    lead = await grappe_admin(client, world, settings, grappe, "cheffe.projet@example.fr")
    every = [et for og_ets in ets for et in og_ets]

    def acquisition(**overrides: Any) -> dict[str, Any]:
        return need_body(**{"title": "Acquisition d'un DUI commun", "projectType": 1,
                            "holderOrganisationId": grappe} | overrides)

    # 14 facilities: one short of N2, and of N6's grouping of 15 (the facilities are not in Corsica or overseas).
    short = await submit(client, lead, acquisition(facilities=sites(*every[:14])))
    assert violations(short) == [("N2", "facilities"), ("N6", "facilities")]
    assert short.json()["detail"] == ("N2: a type-1 project needs the facilities of at least 3 OGs and at least 15"
                                      " facilities; this one lists 14 facilities of 3 OGs (and 1 more violation)")
    assert short.json()["violations"][1]["message"] == (
        "N6: a grouping needs at least 15 ESSMS (8 in Corsica and overseas); this one has 14")

    # 2 OGs with 15 facilities between them: N2 counts the OGs too.
    pair = await register_grappe(client, world, "Grappe Provence (deux OG)", og_ids[:2])
    extra = [finess(f"830002{n:02d}") for n in range(5)]
    await add_facilities(client, world, og_ids[1], extra)
    pair_lead = await grappe_admin(client, world, settings, pair, "cheffe.projet@example.fr")
    two = await submit(client, pair_lead, acquisition(holderOrganisationId=pair, facilities=sites(*every[:10], *extra)))
    assert violations(two) == [("N2", "holder.ogs")]
    assert two.json()["detail"] == ("N2: a type-1 project needs the facilities of at least 3 OGs and at least 15"
                                    " facilities; this grappe has 2 OGs (this one lists 15 facilities of 2 OGs)")
    # The 3-OG grappe listing the 15 facilities of two of its OGs: the third, dormant member does not count.
    dormant = await submit(client, lead, acquisition(facilities=sites(*every[:10], *extra)))
    assert violations(dormant) == [("N2", "facilities")]
    assert dormant.json()["detail"] == ("N2: a type-1 project needs the facilities of at least 3 OGs and at least"
                                        " 15 facilities; this one lists 15 facilities of 2 OGs")

    # 3 OGs and their 15 facilities: submitted, and read by the grappe's lead.
    done = await submit(client, lead, acquisition(facilities=sites(*every)))
    assert done.status_code == 200, done.text
    need = done.json()
    assert need["status"] == "submitted" and need["holderOrganisationId"] == grappe
    assert [f["finessEt"] for f in need["facilities"]] == every
    listed = {n["id"]: n["status"] for n in (await client.get("/needs", headers=lead)).json()}
    assert listed[need["id"]] == "submitted" and sorted(listed.values()) == ["draft", "draft", "draft", "submitted"]
    # The refused drafts claimed nothing; the submitted need now holds its 15 ESMS for the campaign (N18).
    again = await submit(client, lead, acquisition(facilities=sites(*every)))
    assert ("N18", "facilities[0].finessEt") in violations(again)


async def test_a_grouping_in_corsica_and_overseas_needs_8_essms_instead_of_15(
        client: AsyncTestClient[Litestar], world: World, settings: Settings, cpv: None) -> None:
    # N6 (généralisation, 2022+): a grouping has at least 15 ESSMS, 8 when every one of them is in Corsica or
    # overseas; N2 lowers its type-1 total the same way. The département comes from each FINESS ET (§2.3):
    # 9701… is Guadeloupe (971), 9702… Martinique (972), 2A… Corse-du-Sud (checked on format only).
    guadeloupe = await register_og(client, world, finess("97010001"), [finess(f"970101{n:02d}") for n in range(3)])
    martinique = await register_og(client, world, finess("97020001"), [finess(f"970201{n:02d}") for n in range(3)])
    corse = await register_og(client, world, "2A0000018", ["2A0001015", "2A0001023"])
    overseas_ets = [finess(f"970101{n:02d}") for n in range(3)] + [finess(f"970201{n:02d}") for n in range(3)]
    corsican_ets = ["2A0001015", "2A0001023"]
    # The same shape in metropolitan France: Gironde, Rhône, Nord.
    metropolitan_ets = [[finess(f"{dep}0001{n:02d}") for n in range(count)]
                        for dep, count in (("33", 3), ("69", 3), ("59", 2))]
    metropolitan = [await register_og(client, world, finess(f"{dep}000001"), ets)
                    for dep, ets in zip(("33", "69", "59"), metropolitan_ets, strict=True)]
    email = "coordination.outre-mer@example.fr"

    async def eight_facilities(og_ids: list[str], ets: list[str], name: str) -> Any:
        grappe = await register_grappe(client, world, name, og_ids)
        lead = await grappe_admin(client, world, settings, grappe, email)
        assert len(ets) == 8
        return await submit(client, lead, need_body(
            title="Acquisition d'un DUI commun", projectType=1, holderOrganisationId=grappe, multiregional=True,
            facilities=sites(*ets)))

    # Metropolitan: 8 ESSMS are too few for N2 and N6, which name their numbers.
    refused = await eight_facilities(metropolitan, [et for ets in metropolitan_ets for et in ets], "Grappe Métropole")
    assert violations(refused) == [("N2", "facilities"), ("N6", "facilities")]
    messages = [v["message"] for v in refused.json()["violations"]]
    assert messages == ["N2: a type-1 project needs the facilities of at least 3 OGs and at least 15 facilities; this"
                        " one lists 8 facilities of 3 OGs",
                        "N6: a grouping needs at least 15 ESSMS (8 in Corsica and overseas); this one has 8"]
    # Mixed: 6 ESSMS overseas and 2 in Gironde are not "in Corsica and overseas".
    mixed = await eight_facilities([guadeloupe, martinique, metropolitan[0]],
                                   overseas_ets + metropolitan_ets[0][:2], "Grappe Atlantique")
    assert violations(mixed) == [("N2", "facilities"), ("N6", "facilities")]

    # Guadeloupe, Martinique and Corsica: the same 8 ESSMS pass.
    accepted = await eight_facilities([guadeloupe, martinique, corse], overseas_ets + corsican_ets, "Grappe Îles")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "submitted"

    # The rules were given INSEE départements, not the first three characters of the FINESS ("970").
    engine = create_async_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            need = await session.get(Need, uuid.UUID(accepted.json()["id"]))
            assert need is not None
            facts, unknown = await NeedService(session, SystemClock()).facts(need)
    finally:
        await engine.dispose()
    assert unknown == []
    assert [f.departement for f in facts.facilities] == ["971"] * 3 + ["972"] * 3 + ["2A"] * 2


async def test_a_need_is_submitted_without_an_ars_reference_and_reads_its_funding_standing(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    # FU4: N16 no longer asks the need for a free-text ARS pre-validation at submission; the need reads where it
    # stands with its funder instead: filed to no call yet.
    admin = world["holder_admin"].headers
    body = need_body()
    del body["arsPrevalidationReference"], body["arsPrevalidatedOn"]
    submitted = await submit(client, admin, body)
    assert submitted.status_code == 200, submitted.text
    need = submitted.json()
    assert need["status"] == "submitted" and need["arsPrevalidationReference"] is None
    assert (need["callId"], need["fundingStatus"], need["fundingFiledAt"]) == (None, None, None)


async def test_a_type_3_equipment_need_within_the_2024_cap_is_submitted(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    # N4: equipment for one small OG (< 15 ESMS) that also carries a DUI acquisition project; N13: in campaign 2024
    # the equipment aid is at most 10 000 € per ESSMS. The application falls in the 2024 regional call (N17: until
    # 15 Sep). (The free-text ARS pre-validation is kept as the holder gives it, no longer checked: N16 is the
    # funder's decision, at publication.)
    admin = world["holder_admin"].headers
    second = finess("75000040")
    await add_facilities(client, world, str(world.organisations["holder"]), [second])
    first = FACILITIES["holder"][1]

    def equipment(first_cents: int, second_cents: int) -> dict[str, Any]:
        return need_body(title="Équipement des ESSMS", campaign=2024, projectType=3, companionDuiAcquisition=True,
                         appliedOn="2024-09-02", arsPrevalidationReference="ARS-IDF-2024-117",
                         arsPrevalidatedOn="2024-10-15",
                         facilities=[{"finessEt": first, "equipmentBudgetCents": first_cents},
                                     {"finessEt": second, "equipmentBudgetCents": second_cents}])

    # One cent over the cap for one ESSMS: N13 names the facility, the cap and the amount.
    over = await submit(client, admin, equipment(1_000_001, 750_000))
    assert violations(over) == [("N13", "facilities[0].equipmentBudgetCents")]
    assert over.json()["detail"] == (f"N13: equipment aid is at most 10 000 € per ESSMS in campaign 2024;"
                                     f" ESSMS {first} asks 10 000.01 €")

    # At the cap and below it: submitted, with the amounts asked.
    within = await submit(client, admin, equipment(1_000_000, 750_000))
    assert within.status_code == 200, within.text
    assert within.json()["status"] == "submitted" and within.json()["projectType"] == 3
    assert [f["equipmentBudgetCents"] for f in within.json()["facilities"]] == [1_000_000, 750_000]


async def test_facilities_in_two_regions_make_a_need_multiregional_whatever_it_declares(
        client: AsyncTestClient[Litestar], world: World, cpv: None) -> None:
    # In 2024 a multiregional need applies by 1 Jun, a regional one by 15 Sep (N17). An OG of Paris with a site in
    # the Rhône applied on 1 Jul without declaring its need multiregional: the facilities say it is.
    admin = world["holder_admin"].headers
    paris, lyon, marseille = finess("75000040"), finess("69000040"), finess("13000040")
    await add_facilities(client, world, str(world.organisations["holder"]), [paris, lyon, marseille])

    def conformity(*ets: str) -> dict[str, Any]:
        return need_body(campaign=2024, appliedOn="2024-07-01", arsPrevalidatedOn="2024-10-15",
                         multiregional=False, facilities=sites(*ets))

    late = await submit(client, admin, conformity(FACILITIES["holder"][1], lyon))
    assert violations(late) == [("N17", "appliedOn")]
    assert late.json()["detail"] == ("N17: the multiregional ARS call of campaign 2024 closed on 2024-06-01;"
                                     " the application is dated 2024-07-01")
    # Both sites in Île-de-France: a regional need, in time for its call.
    in_time = await submit(client, admin, conformity(FACILITIES["holder"][1], paris))
    assert in_time.status_code == 200, in_time.text
    assert in_time.json()["multiregional"] is False
    # Applied in time for the multiregional call, the two-region need reads back as the rules judged it.
    early = await submit(client, admin, conformity(lyon, marseille) | {
        "appliedOn": "2024-05-15", "arsPrevalidatedOn": "2024-05-20"})
    assert early.status_code == 200, early.text
    assert early.json()["multiregional"] is True
    read = await client.get(f"/needs/{early.json()['id']}", headers=admin)
    assert read.json()["multiregional"] is True
