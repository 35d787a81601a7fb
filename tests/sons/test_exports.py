"""The ASP payment requests exported as JSON (issue 16, must show 4): every document of an order walked to PAID
validates against the JSON Schema the API publishes; a document off the shape does not; each reads its own."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import (
    IBAN,
    SIGNATORY,
    TTC,
    Client,
    accept,
    asp,
    balance,
    dispositif,
    draft,
    facturx,
    ok,
    request_of,
    sign,
    solution,
)
from tests.world import World


def validator(schema: dict[str, Any]) -> Callable[[dict[str, Any]], list[str]]:
    """The schema's errors for a document (draft 2020-12, formats checked)."""
    jsonschema.Draft202012Validator.check_schema(schema)
    py = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return lambda document: [e.message for e in py.iter_errors(document)]


async def paid_order(client: Client, world: World, settings: Settings, clock: FrozenClock) -> dict[str, Any]:
    """An order from its draft to PAID, with an amendment of its advance."""
    found = await dispositif(client, world, settings, clock.now())
    sol = await solution(client, world, found["id"], clock.now())
    vendor = world["vendor_admin"].headers
    ok(await client.post("/sons/enrolments", headers=vendor, json={
        "iban": IBAN, "vatStatus": "liable", "enrolmentReference": "ASP-ENR-42",
        "referencingNumber": sol["referencingNumber"]}), 201)
    order = ok(await draft(client, world, sol["id"]), 201)
    ok(await sign(client, world, order["id"]), 200)
    order = ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=vendor), 201)
    advance = request_of(order, "advance")
    ok(await asp(client, world, advance["id"], "TO_MODIFY", note="RIB illisible"), 200)
    ok(await client.post(f"/sons/asp-requests/{advance['id']}/refile", headers=vendor), 200)
    ok(await asp(client, world, advance["id"], "VALIDATED"), 200)
    ok(await asp(client, world, advance["id"], "DECIDED_PAID"), 200)
    order = ok(await client.post(f"/sons/orders/{order['id']}/amendments", headers=vendor,
                                 json={"amountCents": 10_000}), 201)
    amendment = request_of(order, "amendment", 1)
    ok(await asp(client, world, amendment["id"], "VALIDATED"), 200)
    ok(await asp(client, world, amendment["id"], "DECIDED_PAID"), 200)
    ok(await client.post(f"/sons/orders/{order['id']}/deployment", headers=vendor), 200)
    ok(await accept(client, world, order["id"], mss_case="CAS_1"), 200)
    order = ok(await balance(client, world, order["id"], facturx()), 201)
    order = ok(await asp(client, world, request_of(order, "balance")["id"], "DECIDED_PAID"), 200)
    assert (order["status"], order["paidCents"]) == ("paid", TTC)
    return dict(order)


async def test_the_payment_requests_validate_against_the_published_schema(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    order = await paid_order(client, world, settings, clock)
    # The schema is published: anyone, signed in or not, reads it.
    published = await client.get("/sons/schemas/payment-request.json")
    assert published.status_code == 200 and published.headers["content-type"].startswith("application/schema+json")
    schema = published.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    errors = validator(schema)

    documents = ok(await client.get("/sons/payment-requests", headers=world["vendor_admin"].headers), 200)
    assert [(d["kind"], d["position"], d["status"]) for d in documents] == [
        ("advance", 0, "DECIDED_PAID"), ("amendment", 1, "DECIDED_PAID"), ("balance", 0, "DECIDED_PAID")]
    for document in documents:
        assert errors(document) == [], (document["kind"], errors(document))
        assert document["$schema"] == "/sons/schemas/payment-request.json" and document["schemaVersion"] == "1"
        assert document["order"]["orderRef"] == order["orderRef"] and document["order"]["status"] == "paid"
    advance, _, final = documents
    assert advance["amountCents"] == TTC * 3000 // 10_000 and advance["amountEur"] == "4320.00"
    assert [e["status"] for e in advance["history"]] == ["REQUESTED", "TO_MODIFY", "REQUESTED", "VALIDATED",
                                                         "DECIDED_PAID"]
    assert advance["invoice"] is None and advance["acceptance"] is None
    assert (final["invoice"]["grandTotalCents"], final["invoice"]["buyerName"]) == (TTC, SIGNATORY)
    assert (final["acceptance"]["kind"], final["acceptance"]["mssCase"], final["mssCase"]) == ("VA", "CAS_1", "CAS_1")
    assert final["beneficiary"]["finessEj"] == "750712184" and final["beneficiary"]["sites"] == [
        {"finessEt": "750000010", "siret": None, "category": None}]
    assert (final["vendor"]["enrolmentReference"], final["vendor"]["vatStatus"]) == ("ASP-ENR-42", "liable")
    assert "iban" not in str(final).lower()
    assert final["order"]["signature"]["method"] == "pro_sante_connect"
    assert final["order"]["afVersion"] == "AF-2022-annexe-3"

    # The validator is real: a document off the shape is refused, naming what is wrong.
    for change in (lambda d: d.pop("requestId"), lambda d: d.update(amountCents=-1),
                   lambda d: d.update(status="PAID"), lambda d: d["order"].update(extra=1),
                   lambda d: d["beneficiary"]["sites"][0].update(finessEt="75000001"),
                   lambda d: d.update(filedAt="hier")):
        broken = copy.deepcopy(final)
        change(broken)
        assert errors(broken), broken

    # One document; filters; each reads its own (the OG its order's, another vendor nothing).
    one = ok(await client.get(f"/sons/payment-requests/{final['requestId']}", headers=world["holder_admin"].headers),
             200)
    assert one == final
    balances = ok(await client.get("/sons/payment-requests", params={"kind": "balance", "orderId": order["id"]},
                                   headers=world["platform_admin"].headers), 200)
    assert [d["requestId"] for d in balances] == [final["requestId"]]
    assert ok(await client.get("/sons/payment-requests", params={"status": "REJECTED"},
                               headers=world["vendor_admin"].headers), 200) == []
    assert ok(await client.get("/sons/payment-requests", headers=world["other_vendor_admin"].headers), 200) == []
    assert (await client.get(f"/sons/payment-requests/{final['requestId']}",
                             headers=world["other_vendor_admin"].headers)).status_code == 404


def test_the_published_schema_is_a_valid_draft_2020_12_schema() -> None:
    from marketplace.sons.exports import payment_request_schema

    schema = payment_request_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == list(schema["properties"])
