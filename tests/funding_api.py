"""Funding through the API, for tests (domain.md §11.2): a funder's open call, a need filed to it and selected.

The helpers every part may call:

- `open_call(client, world, ...)`: a call for projects of a funder (the world's ARS Île-de-France by default),
  open on the test clock (by default its window runs from 2000 to 2100, so whatever clock the app reads).
- `file_need(client, world, need_id, call_id, ...)`: the holder files its submitted need to the call (FU3).
- `select_need(client, world, call_id, need_id, ...)`: the funder selects it with a signed decision (FU3).
- `fund(client, world, need_id, ...)`: all three for a submitted need, to the call N5 routes it to (the world's
  funders for regions 11 and 53; another region's ARS, or the national funder, made through the API on first
  use); idempotent, and a no-op for a sandbox need, a need not submitted or one already filed. The publication
  helper (tests/tenders/test_publication.py `publish`) calls it, so a published need is a funded one (N16).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import PARIS
from marketplace.lib.geography import departement_of_finess, region_of
from marketplace.tenders.campaigns import CAMPAIGNS
from tests.vendors.api import minimal_pdf
from tests.world import FUNDER_REGIONS, World

Client = AsyncTestClient[Litestar]

# A window wide enough to be open whatever the test's clock reads (N17).
WIDE_OPENS, WIDE_CLOSES = "2000-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00"
ENVELOPE_CENTS = 10**12
GRANT_CENTS = 5_000_000  # 50 000 €
WORLD_FUNDERS = {region: person for person, region in (("funder_admin", FUNDER_REGIONS["funder"]),
                                                       ("other_funder_admin", FUNDER_REGIONS["other_funder"]))}
_REFERENCES = itertools.count(1)


def _ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


async def open_call(client: Client, world: World, *, campaign: int = 2025, person: str = "funder_admin",
                    headers: dict[str, str] | None = None, opens_at: str = WIDE_OPENS, closes_at: str = WIDE_CLOSES,
                    envelope_cents: int = ENVELOPE_CENTS, reference: str | None = None,
                    sandbox: bool = False) -> dict[str, Any]:
    """A call for projects of `person`'s funder (or of the funder `headers` act for), campaign `campaign`; a
    rehearsal call with `sandbox`."""
    body = {"title": f"Appel à projets ESMS numérique {campaign}", "campaign": campaign,
            "reference": reference or f"AAP-{campaign}-{next(_REFERENCES):04d}", "opensAt": opens_at,
            "closesAt": closes_at, "envelopeCents": envelope_cents, "sandbox": sandbox}
    return dict(_ok(await client.post("/funding-calls", headers=headers or world[person].headers, json=body), 201))


async def file_need(client: Client, world: World, need_id: str, call_id: str, *,
                    headers: dict[str, str] | None = None) -> httpx.Response:
    """The holder files its need to the call (the `holder`'s admin unless `headers` says who)."""
    return await client.post(f"/needs/{need_id}/filing", headers=headers or world["holder_admin"].headers,
                             json={"callId": call_id})


async def select_need(client: Client, world: World, call_id: str, need_id: str, *,
                      amount_cents: int = GRANT_CENTS, decided_on: str, reference: str | None = None,
                      person: str = "funder_admin", headers: dict[str, str] | None = None,
                      document: bytes | None = None) -> httpx.Response:
    """The funder selects the need with its signed decision (a PDF, raw body)."""
    return await client.post(
        f"/funding-calls/{call_id}/projects/{need_id}/selection",
        params={"amountCents": amount_cents, "decidedOn": decided_on,
                "reference": reference or f"DEC-{next(_REFERENCES):05d}"},
        content=document or minimal_pdf(f"décision de financement {need_id}"),
        headers={**(headers or world[person].headers), "content-type": "application/pdf",
                 "x-filename": "decision.pdf"})


def paris_day(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(PARIS).date().isoformat()


async def funder_headers(client: Client, world: World, region: str | None) -> dict[str, str]:
    """Who acts for the funder of `region` (None: the national funder): the world's ARS for regions 11 and 53;
    any other is registered by the platform admin on first use, acting through an API key of its own."""
    if region in WORLD_FUNDERS:
        return world[WORLD_FUNDERS[region]].headers
    key = region or "national"
    if key not in world.funder_headers:
        admin = world["platform_admin"].headers
        body: dict[str, Any] = {"kind": "funder", "name": f"ARS {region}" if region else "CNSA / DNS"}
        body |= {"region": region} if region else {"national": True}
        created = await client.post("/organisations", headers=admin, json=body)
        if created.status_code == 409:
            listed = _ok(await client.get("/organisations", headers=admin), 200)
            organisation = next(o for o in listed if o["kind"] == "funder" and o["region"] == region)
        else:
            organisation = _ok(created, 201)
        api_key = _ok(await client.post(f"/organisations/{organisation['id']}/api-keys", headers=admin,
                                        json={"name": "Instruction", "roles": ["funder:admin", "funder:instructor"]}),
                      201)
        world.funder_headers[key] = {"Authorization": f"Bearer {api_key['key']}"}
    return world.funder_headers[key]


def routed_region(need: dict[str, Any]) -> str | None:
    """The region whose ARS N5 routes the need to (None: the national call)."""
    ets = {f["finessEt"] for f in need["facilities"]}
    threshold = CAMPAIGNS[need["campaign"]].national_threshold
    if threshold is not None and len(ets) >= threshold:
        return None
    regions = sorted({r for et in ets if (r := region_of(departement_of_finess(et))) is not None})
    assert regions, f"need {need['id']}: no facility in a region, so no ARS to file it to"
    return next((r for r in regions if r in WORLD_FUNDERS), regions[0])


async def _need(client: Client, world: World, need_id: str,
                holder_headers: dict[str, str] | None) -> tuple[dict[str, Any], dict[str, str]] | None:
    candidates = [holder_headers] if holder_headers else [world[p].headers for p in ("holder_admin",
                                                                                   "other_holder_admin")]
    for headers in candidates:
        response = await client.get(f"/needs/{need_id}", headers=headers)
        if response.status_code == 200:
            return response.json(), headers
    return None


async def fund(client: Client, world: World, need_id: str, *, holder_headers: dict[str, str] | None = None,
               amount_cents: int = GRANT_CENTS) -> dict[str, Any] | None:
    """File the submitted need to the call N5 routes it to and have its funder select it; returns the need's
    funding (GET /needs/{id}/funding), or None when there is nothing to do (a sandbox need, one not submitted,
    one filed already, or one none of the world's holders can read: give `holder_headers` then)."""
    found = await _need(client, world, need_id, holder_headers)
    if found is None:
        return None
    need, headers = found
    if need["sandbox"] or need["status"] != "submitted" or need.get("fundingStatus") is not None:
        return None
    region = routed_region(need)
    funder = await funder_headers(client, world, region)
    cache = (region or "national", need["campaign"])
    if cache not in world.funding_calls:
        world.funding_calls[cache] = (await open_call(client, world, campaign=need["campaign"], headers=funder))["id"]
    call_id = world.funding_calls[cache]
    filed = _ok(await file_need(client, world, need_id, call_id, headers=headers), 201)
    _ok(await select_need(client, world, call_id, need_id, amount_cents=amount_cents,
                          decided_on=paris_day(filed["filedAt"]), headers=funder), 201)
    return dict(_ok(await client.get(f"/needs/{need_id}/funding", headers=headers), 200))


# -- the grant's tranches (FU5) ----------------------------------------------------------------------------


def tranche_path(need_id: str, position: int, action: str) -> str:
    return f"/needs/{need_id}/funding/tranches/{position}/{action}"


async def give_evidence(client: Client, world: World, need_id: str, position: int, document: bytes | None = None,
                        *, person: str = "holder_admin") -> httpx.Response:
    """The holder sends a tranche's evidence (a PDF, raw body) before requesting it."""
    return await client.put(tranche_path(need_id, position, "evidence"),
                            content=document or minimal_pdf(f"preuve tranche {position} {need_id}"),
                            headers={**world[person].headers, "content-type": "application/pdf",
                                     "x-filename": f"preuve-{position}.pdf"})


async def request_tranche(client: Client, world: World, need_id: str, position: int, *,
                          usage: dict[str, Any] | None = None, person: str = "holder_admin") -> httpx.Response:
    """The holder requests a tranche (the third with its usage indicators, N15)."""
    body = {"usageIndicators": usage} if usage is not None else {}
    return await client.post(tranche_path(need_id, position, "request"), headers=world[person].headers, json=body)


async def validate_tranche(client: Client, world: World, need_id: str, position: int, *,
                           person: str = "funder_admin") -> httpx.Response:
    return await client.post(tranche_path(need_id, position, "validation"), headers=world[person].headers)


async def pay_tranche(client: Client, world: World, need_id: str, position: int, amount_cents: int, *,
                      paid_on: str, reference: str | None = None, person: str = "funder_admin") -> httpx.Response:
    return await client.post(tranche_path(need_id, position, "payment"), headers=world[person].headers,
                             json={"paidOn": paid_on, "amountCents": amount_cents,
                                   "reference": reference or f"VIR-{next(_REFERENCES):05d}"})
