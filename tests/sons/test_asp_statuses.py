"""The ASP's status file imported by the operator (SN5): each row recorded through the request's machine like a
status recorded by hand, refused rows reported by line with their rule, the same file twice recording nothing
twice, nothing paid beyond the request; the vendor can't import one."""

from __future__ import annotations

import uuid
from typing import Any

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.sons.api import IBAN, Client, dispositif, draft, ok, request_of, sign, solution
from tests.vendors.api import audit_actions, fetch
from tests.world import World


async def _advance(client: Client, world: World, settings: Settings, clock: FrozenClock) -> dict[str, Any]:
    """A signed order with its advance filed: the order."""
    found = await dispositif(client, world, settings, clock.now())
    sol = await solution(client, world, found["id"], clock.now())
    vendor = world["vendor_admin"].headers
    ok(await client.post("/sons/enrolments", headers=vendor, json={
        "iban": IBAN, "vatStatus": "liable", "enrolmentReference": "ASP-ENR-7",
        "referencingNumber": sol["referencingNumber"]}), 201)
    order = ok(await draft(client, world, sol["id"]), 201)
    ok(await sign(client, world, order["id"]), 200)
    return dict(ok(await client.post(f"/sons/orders/{order['id']}/advance", headers=vendor), 201))


async def _import(client: Client, world: World, text: str, person: str = "platform_admin") -> Any:
    return await client.post("/sons/asp-status-imports", content=text.encode(), headers={
        **world[person].headers, "content-type": "text/csv"})


async def _events(settings: Settings, request_id: str) -> list[tuple[str, int | None]]:
    rows = await fetch(settings, "SELECT status::text AS s, paid_cents FROM sons_asp_event WHERE request_id = $1 "
                                 "ORDER BY recorded_at, id", uuid.UUID(request_id))
    return [(r["s"], r["paid_cents"]) for r in rows]


async def test_an_asp_status_file_is_recorded_row_by_row_and_once(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    order = await _advance(client, world, settings, clock)
    advance = request_of(order, "advance")
    stranger = str(uuid.uuid4())
    first = ("requestId;status;paidCents;note\n"
             f"{advance['id']};VALIDATED;;Dossier complet\n"
             f"{stranger};VALIDATED;;\n"
             f"{advance['id']};DECIDED_PAID;;\n"
             "pas-un-id;VALIDATED;;\n")
    report = ok(await _import(client, world, first), 200)
    assert (report["rows"], report["applied"], report["unchanged"], report["refusedRows"]) == (4, 1, 0, 3), report
    assert [(e["line"], e["column"], e["rule"]) for e in report["errors"]] == [
        (3, None, None), (4, "requestId", "CSV"), (5, "requestId", "CSV")], report["errors"]
    assert "twice" in report["errors"][1]["detail"] and "line 2" in report["errors"][1]["detail"]
    events = await _events(settings, advance["id"])
    assert events[-1] == ("VALIDATED", None) and len(events) == 2  # filed, then validated by the file

    # The same file again: nothing recorded twice, the same refusals.
    again = ok(await _import(client, world, first), 200)
    assert (again["applied"], again["unchanged"], again["refusedRows"]) == (0, 1, 3)
    assert await _events(settings, advance["id"]) == events

    # Paid: never more than the request's amount (SN5, the row refused), then paid in full; a final status
    # doesn't move again (SN5).
    too_much = ok(await _import(client, world, "requestId,status,paidCents\n"
                                                f"{advance['id']},DECIDED_PAID,{advance['amountCents'] + 1}\n"), 200)
    assert [(e["line"], e["column"], e["rule"]) for e in too_much["errors"]] == [(2, "paidCents", "SN5")]
    paid = ok(await _import(client, world, f"requestId,status\n{advance['id']},decided_paid\n"), 200)
    assert paid["applied"] == 1
    assert (await _events(settings, advance["id"]))[-1] == ("DECIDED_PAID", advance["amountCents"])
    shown = ok(await client.get(f"/sons/orders/{order['id']}", headers=world["vendor_admin"].headers), 200)
    assert shown["paidCents"] == advance["amountCents"]
    final = ok(await _import(client, world, f"requestId,status\n{advance['id']},REJECTED\n"), 200)
    assert [(e["line"], e["rule"]) for e in final["errors"]] == [(2, "SN5")]
    assert await audit_actions(settings, paid["sha256"]) == ["sons_asp_status_file.imported"]


async def test_only_the_operator_imports_a_status_file_and_only_a_csv_with_its_columns(
        client: Client, world: World) -> None:
    assert (await _import(client, world, "requestId,status\n", person="vendor_admin")).status_code == 403
    wrong = await client.post("/sons/asp-status-imports", content=b"%PDF-1.4", headers={
        **world["platform_admin"].headers, "content-type": "application/pdf"})
    assert wrong.status_code == 415
    header = await _import(client, world, "id,statut\n")
    assert header.status_code == 422 and header.json()["field"] == "header", header.text
