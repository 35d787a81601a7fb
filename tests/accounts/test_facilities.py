"""A grappe's facilities: its people list every ESMS of its member OGs, each with its OG, and file a need built
from that list (N1, N2, N18); the listing is the organisation's own (another holder gets 404)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.settings import Settings
from tests.tenders.test_needs import (
    filing_dps,
    finess,
    grappe_admin,
    need_body,
    register_grappe,
    register_og,
    sites,
    submit,
)
from tests.world import World


async def test_a_grappe_lists_its_ogs_facilities_and_files_a_need_built_from_them(
        client: AsyncTestClient[Litestar], world: World, settings: Settings, cpv: None) -> None:
    await filing_dps(client, world)
    # Three OGs of Provence-Alpes-Côte d'Azur, five facilities each (one with its category), in one grappe.
    ejs = [finess("13000002"), finess("83000002"), finess("84000002")]
    ets = [[finess(f"{ej[:2]}0003{n:02d}") for n in range(5)] for ej in ejs]
    og_ids = [await register_og(client, world, ej, og_ets) for ej, og_ets in zip(ejs, ets, strict=True)]
    category = await client.post(f"/organisations/{og_ids[2]}/facilities", headers=world["platform_admin"].headers,
                                 json={"name": "SSIAD du Ventoux", "finessEt": finess("84000399"),
                                       "categoryCode": "354"})
    assert category.status_code == 201, category.text
    ets[2].append(finess("84000399"))
    grappe = await register_grappe(client, world, "Grappe Provence", og_ids)
    lead = await grappe_admin(client, world, settings, grappe, "cheffe.facilities@example.fr")

    listed = await client.get(f"/organisations/{grappe}/facilities", headers=lead)
    assert listed.status_code == 200, listed.text
    facilities: list[dict[str, Any]] = listed.json()
    # Every facility of every member OG, each with its OG (id, name, FINESS EJ), its FINESS ET, name, category.
    by_og = {og: (f"OG {ej}", ej, set(og_ets)) for og, ej, og_ets in zip(og_ids, ejs, ets, strict=True)}
    assert len(facilities) == 16
    for facility in facilities:
        name, ej, og_ets = by_og[facility["organisationId"]]
        assert (facility["organisationName"], facility["finessEj"]) == (name, ej)
        assert facility["finessEt"] in og_ets and facility["name"]
    assert {f["finessEt"] for f in facilities} == {et for og_ets in ets for et in og_ets}
    assert [f["categoryCode"] for f in facilities if f["finessEt"] == finess("84000399")] == ["354"]

    # A type-1 need of the grappe over what the listing gave: it passes N2 (3 OGs, 15 ESMS or more) and N18
    # (each ESMS a known FINESS ET of one of the holder's OGs, in no other active project).
    done = await submit(client, lead, need_body(title="DUI commun de la grappe", projectType=1,
                                                holderOrganisationId=grappe,
                                                facilities=sites(*(f["finessEt"] for f in facilities))))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "submitted"
    assert sorted(f["finessEt"] for f in done.json()["facilities"]) == sorted(f["finessEt"] for f in facilities)

    # An OG's own listing stays its own facilities; a platform admin reads any.
    own = await client.get(f"/organisations/{og_ids[0]}/facilities", headers=world["platform_admin"].headers)
    assert {f["finessEt"] for f in own.json()} == set(ets[0])
    admin_view = await client.get(f"/organisations/{grappe}/facilities", headers=world["platform_admin"].headers)
    assert admin_view.json() == facilities
    # Anyone else: 404, another holder's admin as well as a vendor (existence doesn't leak).
    for person in ("other_holder_admin", "holder_admin", "vendor_admin"):
        refused = await client.get(f"/organisations/{grappe}/facilities", headers=world[person].headers)
        assert refused.status_code == 404, person
    # The grappe's lead reads the grappe's listing, not its member OGs' own (it is no member of them).
    assert (await client.get(f"/organisations/{og_ids[1]}/facilities", headers=lead)).status_code == 404
