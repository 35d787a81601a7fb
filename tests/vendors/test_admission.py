"""The DPS (machine (a)) and admission requests (machine (b)) through the API: domain.md §1.2–§1.4, §6.

The app runs on a frozen clock (conftest): the tests move it past the initial window (D4) and past
evaluation due dates (D6).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.devstack.smtp import MailSink
from marketplace.lib.clock import FrozenClock, to_paris
from marketplace.lib.working_days import (
    EVALUATION_RULES,
    add_working_days,
    end_of_paris_day,
    evaluation_due_at,
)
from marketplace.settings import Settings
from tests.vendors.api import (
    SECRET_REPRESENTATIVE,
    SECRET_TURNOVER,
    admission_body,
    apply,
    audit_actions,
    categories_by_pair,
    create_dps,
    deliver_notifications,
    dps_body,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
    publish,
    sha256,
    upload,
    upload_all,
)
from tests.world import PASSWORD, Person, World

Client = AsyncTestClient[Litestar]


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def to_date(value: str) -> date:
    """The Paris calendar day of an instant given by the API."""
    return to_paris(_instant(value)).date()


async def _submit(client: Client, person: Person, request_id: str) -> dict[str, Any]:
    return expect(await client.post(f"/admission-requests/{request_id}/submit", headers=person.headers), 200)


async def _show(client: Client, person: Person, request_id: str) -> dict[str, Any]:
    return expect(await client.get(f"/admission-requests/{request_id}", headers=person.headers), 200)


async def _decide(client: Client, person: Person, request_id: str, decision: str,
                  body: dict[str, str] | None = None) -> Any:
    return await client.post(f"/admission-requests/{request_id}/{decision}", headers=person.headers, json=body)


async def _queue(client: Client, person: Person, dps_id: str) -> list[dict[str, Any]]:
    return expect(await client.get(f"/dps/{dps_id}/admission-queue", headers=person.headers), 200)


def _check_receipt(receipt: dict[str, Any], request_id: str, sent: dict[str, bytes], now: datetime) -> None:
    """The receipt: server time of receipt, the D6 due date, and each document's SHA-256 as sent."""
    assert receipt["requestId"] == request_id
    assert _instant(receipt["receivedAt"]) == now
    assert _instant(receipt["dueAt"]) == evaluation_due_at(now)
    assert {d["kind"]: d["sha256"] for d in receipt["documents"]} == {k: sha256(v) for k, v in sent.items()}
    assert {d["kind"]: d["size"] for d in receipt["documents"]} == {k: len(v) for k, v in sent.items()}
    assert re.fullmatch(r"[0-9a-f]{64}", receipt["receiptSha256"])


# -- 1. the whole scenario -----------------------------------------------------------------------------


async def test_six_categories_three_vendors_admitted_rejected_and_asked_for_documents(
    client: Client, world: World, clock: FrozenClock, settings: Settings, mail_sink: MailSink
) -> None:
    buyer = world["buyer_admin"]
    a, b, c = world["vendor_admin"], world["other_vendor_admin"], world["third_vendor_admin"]

    # The buyer creates the DPS with 2 sectors × 3 delivery modes, publishes it, activates it after the window.
    dps = await create_dps(client, world, clock)
    assert dps["status"] == "draft" and len(dps["categories"]) == 6
    assert {(x["sector"], x["deliveryMode"]) for x in dps["categories"]} == {
        (s, m) for s in ("grand_age", "handicap") for m in ("saas", "on_premise", "hosted")}
    assert all([r["kind"] for r in x["requiredDocuments"]] == ["kbis", "insurance"] for x in dps["categories"])
    published = expect(await publish(client, world, clock, dps["id"]), 200)
    assert published["status"] == "pending" and _instant(published["noticeSentAt"]) == clock.now()
    clock.advance(timedelta(days=31))
    active = expect(await client.post(f"/dps/{dps['id']}/activate", headers=buyer.headers), 200)
    assert active["status"] == "active"
    cat = categories_by_pair(dps)

    # Vendor A applies to three categories, B to two, C to two; each uploads the PDFs and submits.
    plans = {
        "a": (a, [("grand_age", "saas"), ("grand_age", "hosted"), ("handicap", "saas")],
              {"software": "Dossier Usager Plus", "version": "4.2"}),
        "b": (b, [("grand_age", "saas"), ("handicap", "on_premise")], {"software": "Santé Dossier", "version": "2.0"}),
        "c": (c, [("handicap", "saas"), ("handicap", "hosted")], {"software": "Domicile Suite", "version": "1.7"}),
    }
    requests: dict[tuple[str, tuple[str, str]], str] = {}
    for name, (person, pairs, software) in plans.items():
        for pair in pairs:
            created = await apply(client, person, cat[pair], **software)
            assert created["status"] == "draft" and created["missingDocuments"] == ["kbis", "insurance"]
            requests[name, pair] = created["id"]
            # C's first request goes in without its insurance certificate.
            kinds = ("kbis",) if (name, pair) == ("c", ("handicap", "saas")) else ("kbis", "insurance")
            sent = await upload_all(client, person, created["id"], f"{name} {pair}", kinds)
            receipt = await _submit(client, person, created["id"])
            _check_receipt(receipt, created["id"], sent, clock.now())
            shown = await _show(client, person, created["id"])
            assert shown["status"] == "under_evaluation"
            assert shown["missingDocuments"] == ([] if len(kinds) == 2 else ["insurance"])

    # A is admitted in its three categories.
    for pair in plans["a"][1]:
        admitted = expect(await _decide(client, buyer, requests["a", pair], "admit"), 200)
        assert admitted["status"] == "admitted" and _instant(admitted["decidedAt"]) == clock.now()

    # B is rejected, with reasons the vendor reads in its request.
    reasons = {pair: f"Références insuffisantes pour la catégorie {pair[0]} / {pair[1]}." for pair in plans["b"][1]}
    for pair in plans["b"][1]:
        rejected = expect(await _decide(client, buyer, requests["b", pair], "reject", {"reasons": reasons[pair]}), 200)
        assert rejected["status"] == "rejected"
        seen_by_b = await _show(client, b, requests["b", pair])
        assert seen_by_b["status"] == "rejected" and seen_by_b["decisionReasons"] == reasons[pair]

    # C: its incomplete request can't be admitted; the buyer asks for the missing document (the clock runs on).
    c_first, c_second = requests["c", ("handicap", "saas")], requests["c", ("handicap", "hosted")]
    refused = await _decide(client, buyer, c_first, "admit")
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/missing-documents") and problem["missing"] == ["insurance"]
    assert problem["field"] == "documents"
    before = await _show(client, buyer, c_first)
    message = "Merci de fournir l'attestation d'assurance RC professionnelle en cours de validité."
    asked = expect(await _decide(client, buyer, c_first, "request-documents", {"message": message}), 200)
    assert asked["status"] == "awaiting_documents" and asked["documentsRequested"] == message
    # Two days later (Thursday → Saturday, both working days for D6) C uploads it and resubmits.
    clock.advance(timedelta(days=2))
    insurance = minimal_pdf("c insurance, at last")
    expect(await upload(client, c, c_first, "insurance", insurance), 201)
    resumed = await _submit(client, c, c_first)
    assert {d["kind"]: d["sha256"] for d in resumed["documents"]}["insurance"] == sha256(insurance)
    # R2162-45 knows no pause (D6): the due date stays 10 working days from the request's receipt.
    assert _instant(resumed["dueAt"]) == _instant(before["dueAt"])
    assert to_date(resumed["dueAt"]) == date(2026, 2, 17)
    assert _instant(resumed["receivedAt"]) == clock.now()  # this receipt is for the documents supplied...
    shown = await _show(client, c, c_first)
    assert shown["status"] == "under_evaluation" and shown["missingDocuments"] == []
    assert shown["receivedAt"] == before["receivedAt"]  # ...the request's receipt (t0, D6) stands
    for request_id in (c_first, c_second):
        assert expect(await _decide(client, buyer, request_id, "admit"), 200)["status"] == "admitted"

    # The public register: exactly the admitted (vendor, category) pairs, with public data only.
    admitted_pairs = {(world.organisations["vendor"], cat[p]) for p in plans["a"][1]} | {
        (world.organisations["third_vendor"], cat[p]) for p in plans["c"][1]}
    register = await client.get("/register", params={"dpsId": dps["id"]})
    page = expect(register, 200)
    assert page["total"] == 5
    assert {(e["vendorOrganisationId"], e["categoryId"]) for e in page["items"]} == {
        (str(v), k) for v, k in admitted_pairs}
    by_vendor = {e["vendorName"]: e for e in page["items"]}
    assert by_vendor["Logiciels Médico-Sociaux SAS"]["siren"] == "443061841"
    assert by_vendor["Logiciels Médico-Sociaux SAS"]["software"] == "Dossier Usager Plus"
    assert by_vendor["Logiciels Médico-Sociaux SAS"]["version"] == "4.2"
    assert by_vendor["Atelier Logiciel Domicile SARL"]["siren"] == "564961563"
    assert by_vendor["Atelier Logiciel Domicile SARL"]["software"] == "Domicile Suite"
    for leak in ("selfDeclaration", "legalRepresentative", "annualTurnoverEur", "staffCount", SECRET_REPRESENTATIVE,
                 str(SECRET_TURNOVER), "documents", "sha256", "email"):
        assert leak not in register.text, leak
    assert "Santé Dossier" not in register.text  # B was rejected everywhere
    # Filters and pagination.
    in_category = expect(await client.get("/register", params={"categoryId": cat["handicap", "saas"]}), 200)
    assert in_category["total"] == 2
    assert {e["vendorName"] for e in in_category["items"]} == {"Logiciels Médico-Sociaux SAS",
                                                               "Atelier Logiciel Domicile SARL"}
    # B's only other category: nobody admitted there.
    assert expect(await client.get("/register", params={"categoryId": cat["handicap", "on_premise"]}),
                  200)["total"] == 0
    by_siren = expect(await client.get("/register", params={"siren": "564961563"}), 200)
    assert by_siren["total"] == 2 and {e["categoryId"] for e in by_siren["items"]} == {
        cat[p] for p in plans["c"][1]}
    pages = [expect(await client.get("/register", params={"dpsId": dps["id"], "limit": 2, "offset": offset}), 200)
             for offset in (0, 2, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1] and all(p["total"] == 5 for p in pages)
    assert [(p["limit"], p["offset"]) for p in pages] == [(2, 0), (2, 2), (2, 4)]
    paged = [(e["vendorOrganisationId"], e["categoryId"]) for p in pages for e in p["items"]]
    assert len(set(paged)) == 5 and set(paged) == {(str(v), k) for v, k in admitted_pairs}
    assert expect(await client.get("/register", params={"dpsId": dps["id"], "offset": 5}), 200)["items"] == []

    # Every step is in the audit log.
    assert await audit_actions(settings, dps["id"]) == ["dps.created", "dps.published", "dps.activated"]
    full = ["admission.created", "admission.document_uploaded", "admission.document_uploaded",
            "admission.submitted"]
    for pair in plans["a"][1]:
        assert await audit_actions(settings, requests["a", pair]) == [*full, "admission.admitted"]
    for pair in plans["b"][1]:
        assert await audit_actions(settings, requests["b", pair]) == [*full, "admission.rejected"]
    assert await audit_actions(settings, c_first) == [
        "admission.created", "admission.document_uploaded", "admission.submitted", "admission.documents_requested",
        "admission.document_uploaded", "admission.documents_supplied", "admission.admitted"]
    assert await audit_actions(settings, c_second) == [*full, "admission.admitted"]
    decisions = await fetch(settings, "SELECT actor, organisation_id, details FROM audit_event "
                                      "WHERE action IN ('admission.admitted', 'admission.rejected')")
    assert len(decisions) == 7
    assert {(r["actor"], r["organisation_id"]) for r in decisions} == {
        (f"user:{buyer.user_id}", world.organisations["buyer"])}

    # And the vendors are told: by notification, and by e-mail once the worker has run.
    notified = await fetch(settings, "SELECT recipient_email, kind, about_id FROM notification "
                                     "WHERE kind LIKE 'admission.%' AND kind <> 'admission.submitted'")
    assert sorted((r["recipient_email"], r["kind"], str(r["about_id"])) for r in notified) == sorted(
        [(a.email, "admission.admitted", requests["a", p]) for p in plans["a"][1]]
        + [(b.email, "admission.rejected", requests["b", p]) for p in plans["b"][1]]
        + [(c.email, "admission.documents_requested", c_first)]
        + [(c.email, "admission.admitted", r) for r in (c_first, c_second)])
    await deliver_notifications(settings)
    mails_a, mails_b, mails_c = (mail_sink.to(p.email) for p in (a, b, c))
    assert len(mails_a) == 3 and all("Admission au SAD prononcée" in m["Subject"] for m in mails_a)
    assert {re.search(r"demande (\S+)\)", m["Subject"]).group(1) for m in mails_a} == {  # type: ignore[union-attr]
        requests["a", p] for p in plans["a"][1]}
    assert len(mails_b) == 2 and all("rejetée" in m["Subject"] for m in mails_b)
    assert {r for m in mails_b for r in reasons.values() if r in m.get_content()} == set(reasons.values())
    subjects_c = sorted(m["Subject"] for m in mails_c)
    assert len(subjects_c) == 3
    assert sum("Pièces complémentaires demandées" in s for s in subjects_c) == 1
    assert sum("Admission au SAD prononcée" in s for s in subjects_c) == 2
    asked_mail = next(m for m in mails_c if "Pièces complémentaires" in m["Subject"])
    assert message in asked_mail.get_content()
    # The vendor member without a vendor role isn't written to; the buyer side heard of each submission.
    assert mail_sink.to(world["vendor_member"].email) == []
    assert len(mail_sink.to(buyer.email)) == 8  # 7 submissions + 1 resubmission


# -- 2. the evaluation queue -----------------------------------------------------------------------------


async def test_queue_puts_overdue_first_then_by_due_date_and_an_extension_is_five_more_working_days(
    client: Client, world: World, clock: FrozenClock, settings: Settings
) -> None:
    buyer = world["buyer_evaluator"]
    dps = await open_dps(client, world, clock)  # now Thursday 5 February 2026, 08:00 UTC
    category = categories_by_pair(dps)["grand_age", "saas"]
    ids = []
    for person in (world["vendor_admin"], world["other_vendor_admin"], world["third_vendor_admin"]):
        request = await apply(client, person, category)
        await upload_all(client, person, request["id"], person.email)
        receipt = await _submit(client, person, request["id"])
        assert _instant(receipt["dueAt"]) == evaluation_due_at(clock.now())
        ids.append(request["id"])
        clock.advance(timedelta(days=1))
    first, second, third = ids
    # Received Thu 5, Fri 6, Sat 7 February: due (10 working days, Mon–Sat) Tue 17, Wed 18, Thu 19.
    queue = await _queue(client, buyer, dps["id"])
    assert [r["id"] for r in queue] == [first, second, third]
    assert [to_date(r["dueAt"]) for r in queue] == [date(2026, 2, 17), date(2026, 2, 18), date(2026, 2, 19)]
    assert not any(r["overdue"] for r in queue)

    # The first waits for a document (its clock runs on: R2162-45 has no pause), the third is extended.
    expect(await _decide(client, buyer, first, "request-documents", {"message": "Le Kbis est illisible."}), 200)
    third_due = _instant(queue[2]["dueAt"])
    reason = "Vérification des références clients auprès de trois établissements."
    extended = expect(await _decide(client, buyer, third, "extend", {"reasons": reason}), 200)
    assert extended["extensionReason"] == reason
    expected = end_of_paris_day(add_working_days(to_date(queue[2]["dueAt"]), 5, EVALUATION_RULES))
    assert _instant(extended["dueAt"]) == expected == evaluation_due_at(_instant(extended["receivedAt"]),
                                                                         extended=True)
    assert to_date(extended["dueAt"]) == date(2026, 2, 25) and _instant(extended["dueAt"]) > third_due
    # Only once (D6: 15 working days at most), and never without a reason.
    again = await _decide(client, buyer, third, "extend", {"reasons": "Encore."})
    assert again.status_code == 409, again.text
    assert (await _decide(client, buyer, second, "extend", {"reasons": ""})).status_code == 400
    assert _instant((await _show(client, buyer, third))["dueAt"]) == expected
    assert "admission.extended" in await audit_actions(settings, third)

    # Past the second's due date (Wed 18 Feb, end of the Paris day): it is overdue, and so is the first, whose
    # documents are still awaited (due Tue 17: the clock never stopped, D6); overdue first, by due date.
    clock.set(datetime(2026, 2, 18, 23, 0, tzinfo=UTC))  # Thursday 19 February, 00:00 in Paris
    queue = await _queue(client, buyer, dps["id"])
    assert [(r["id"], r["overdue"]) for r in queue] == [(first, True), (second, True), (third, False)]
    assert queue[0]["status"] == "awaiting_documents"
    assert (await _show(client, world["other_vendor_admin"], second))["overdue"] is True
    # One microsecond earlier the second was still on time.
    clock.set(datetime(2026, 2, 18, 22, 59, 59, 999999, tzinfo=UTC))
    assert [r["overdue"] for r in await _queue(client, buyer, dps["id"])] == [True, False, False]

    # Decided requests leave the queue.
    clock.set(datetime(2026, 2, 19, 9, 0, tzinfo=UTC))
    expect(await _decide(client, buyer, second, "admit"), 200)
    assert [r["id"] for r in await _queue(client, buyer, dps["id"])] == [first, third]


# -- 3. decisions: documents, deciders, duplicates ----------------------------------------------------------


async def test_only_the_buying_organisation_decides_and_only_on_a_complete_request(
    client: Client, world: World, clock: FrozenClock
) -> None:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["handicap", "hosted"]
    vendor = world["vendor_admin"]
    request = await apply(client, vendor, category)
    rid = request["id"]
    await upload_all(client, vendor, rid, "incomplete", kinds=("insurance",))
    await _submit(client, vendor, rid)

    # Missing document: 422 naming the missing kinds, and nothing changes.
    for person in (world["buyer_admin"], world["buyer_evaluator"]):
        refused = await _decide(client, person, rid, "admit")
        assert refused.status_code == 422 and refused.json()["missing"] == ["kbis"], refused.text
    assert (await _show(client, vendor, rid))["status"] == "under_evaluation"

    # Vendors are stopped by the role guard; another buying organisation doesn't see the request at all.
    bodies = {"admit": None, "reject": {"reasons": "Non."}, "extend": {"reasons": "Parce que."},
              "request-documents": {"message": "Envoyez tout."}}
    for decision, body in bodies.items():
        for person in (vendor, world["vendor_member"], world["other_vendor_admin"]):
            assert (await _decide(client, person, rid, decision, body)).status_code == 403, (decision, person)
        assert (await _decide(client, world["other_buyer_admin"], rid, decision, body)).status_code == 404, decision
    outsider = world["other_buyer_admin"]
    assert (await client.get(f"/admission-requests/{rid}", headers=outsider.headers)).status_code == 404
    assert (await client.get(f"/dps/{dps['id']}/admission-queue", headers=outsider.headers)).status_code == 404
    assert (await client.get(f"/dps/{dps['id']}/admission-queue", headers=vendor.headers)).status_code == 403
    # Other vendors don't see the request either; the vendor's plain member sees it but may not act on it.
    other = world["other_vendor_admin"]
    assert (await client.get(f"/admission-requests/{rid}", headers=other.headers)).status_code == 404
    assert (await upload(client, other, rid, "kbis", minimal_pdf("other"))).status_code == 404
    for action in ("submit", "withdraw"):
        assert (await client.post(f"/admission-requests/{rid}/{action}", headers=other.headers)).status_code == 404
        assert (await client.post(f"/admission-requests/{rid}/{action}",
                                  headers=world["vendor_member"].headers)).status_code == 403
    assert (await client.get(f"/admission-requests/{rid}", headers=world["vendor_member"].headers)).status_code == 200
    assert (await _show(client, vendor, rid))["status"] == "under_evaluation"

    # The evaluator of the buying organisation decides: a rejection, with reasons.
    rejected = expect(await _decide(client, world["buyer_evaluator"], rid, "reject",
                                    {"reasons": "Pièces incomplètes."}), 200)
    assert rejected["status"] == "rejected" and rejected["decisionReasons"] == "Pièces incomplètes."
    assert (await _decide(client, world["buyer_admin"], rid, "admit")).status_code == 409  # final

    # Admission is a right (D7): the rejected vendor applies again to the same category...
    again = await apply(client, vendor, category)
    assert again["id"] != rid and again["status"] == "draft"
    # ...but a live request (draft, under evaluation, admitted) blocks a duplicate.
    duplicate = await client.post("/admission-requests", headers=vendor.headers, json=admission_body(category))
    assert duplicate.status_code == 409 and duplicate.json()["existing"] == again["id"], duplicate.text
    await upload_all(client, vendor, again["id"], "complete")
    await _submit(client, vendor, again["id"])
    assert (await client.post("/admission-requests", headers=vendor.headers,
                              json=admission_body(category))).status_code == 409
    expect(await _decide(client, world["buyer_admin"], again["id"], "admit"), 200)
    assert (await client.post("/admission-requests", headers=vendor.headers,
                              json=admission_body(category))).status_code == 409
    # Another vendor isn't blocked by it.
    await apply(client, world["other_vendor_admin"], category)


async def test_a_plain_member_of_the_vendor_is_refused_even_when_it_is_a_vendor_admin_elsewhere(
    client: Client, world: World, clock: FrozenClock, settings: Settings
) -> None:
    """The role guard can't stop someone holding vendor roles in another vendor: the service answers 403."""
    dps = await open_dps(client, world, clock)
    request = await apply(client, world["vendor_admin"], dps["categories"][0]["id"])
    person = world["third_vendor_admin"]
    invited = await client.post(f"/organisations/{world.organisations['vendor']}/invitations",
                                headers=world["vendor_admin"].headers,
                                json={"email": person.email, "roles": ["vendor:member"]})
    assert invited.status_code == 201, invited.text
    rows = await fetch(settings, "SELECT body FROM notification WHERE kind = 'accounts.invitation'")
    code = re.search(r"code d'invitation : (\S+)", rows[0]["body"]).group(1)  # type: ignore[union-attr]
    joined = await client.post("/invitations/accept", json={"token": code, "fullName": "X", "password": PASSWORD})
    assert joined.status_code == 200, joined.text

    assert (await client.get(f"/admission-requests/{request['id']}", headers=person.headers)).status_code == 200
    refused = await upload(client, person, request["id"], "kbis", minimal_pdf("member"))
    assert refused.status_code == 403, refused.text
    for action in ("submit", "withdraw"):
        response = await client.post(f"/admission-requests/{request['id']}/{action}", headers=person.headers)
        assert response.status_code == 403, response.text
    assert (await _show(client, world["vendor_admin"], request["id"]))["status"] == "draft"


# -- 5. the DPS life cycle, visibility and withdrawal ------------------------------------------------------


async def test_a_draft_is_seen_only_by_its_buying_organisation(client: Client, world: World,
                                                              clock: FrozenClock) -> None:
    dps = await create_dps(client, world, clock)
    url = f"/dps/{dps['id']}"
    for person in (None, world["other_buyer_admin"], world["vendor_admin"], world["platform_admin"]):
        response = await client.get(url, headers=person.headers if person else {})
        assert response.status_code == 404, (person, response.text)
    for person in (world["buyer_admin"], world["buyer_evaluator"]):
        assert expect(await client.get(url, headers=person.headers), 200)["status"] == "draft"
    assert expect(await client.get("/dps"), 200)["total"] == 0
    # Nobody can apply to a draft's category, and another buyer can't publish it.
    refused = await client.post("/admission-requests", headers=world["vendor_admin"].headers,
                                json=admission_body(dps["categories"][0]["id"]))
    assert refused.status_code == 404, refused.text
    window = {"initialWindowEnd": (clock.now() + timedelta(days=31)).isoformat()}
    assert (await client.post(f"{url}/publish", headers=world["other_buyer_admin"].headers,
                              json=window)).status_code == 404
    assert (await client.post(f"{url}/publish", headers=world["buyer_evaluator"].headers,
                              json=window)).status_code == 403

    expect(await publish(client, world, clock, dps["id"]), 200)
    assert expect(await client.get(url), 200)["status"] == "pending"
    listed = expect(await client.get("/dps"), 200)
    assert listed["total"] == 1 and listed["items"][0]["id"] == dps["id"]
    # Published: another buying organisation still can't manage it.
    assert (await client.post(f"{url}/activate", headers=world["other_buyer_admin"].headers)).status_code == 404
    # Requests are received during the initial window already (§1.3).
    await apply(client, world["vendor_admin"], dps["categories"][0]["id"])


async def test_the_initial_window_lasts_thirty_days_and_activation_waits_for_its_end(
    client: Client, world: World, clock: FrozenClock, settings: Settings
) -> None:
    dps = await create_dps(client, world, clock)
    # A délai franc (§1.7): sent Mon 5 Jan 2026, the day of sending doesn't count; days 1…30 are 6 Jan … 4 Feb,
    # so the window ends at the earliest on Thu 5 Feb 00:00 Paris (CET) = Wed 4 Feb 23:00 UTC: fifteen hours
    # later than 30 × 24 h from the notice, which is refused.
    window_end = datetime(2026, 2, 4, 23, 0, tzinfo=UTC)
    assert window_end > clock.now() + timedelta(days=30)
    short = await publish(client, world, clock, dps["id"], window=window_end - clock.now() - timedelta(microseconds=1))
    assert short.status_code == 422, short.text
    assert short.json()["rule"] == "D4" and short.json()["field"] == "initialWindowEnd"
    assert short.json()["earliest"] == window_end.isoformat()
    assert expect(await client.get(f"/dps/{dps['id']}", headers=world["buyer_admin"].headers), 200)["status"] == "draft"
    expect(await publish(client, world, clock, dps["id"], window=window_end - clock.now()), 200)
    assert (await publish(client, world, clock, dps["id"])).status_code == 409  # already published

    activate = f"/dps/{dps['id']}/activate"
    clock.set(window_end - timedelta(microseconds=1))
    early = await client.post(activate, headers=world["buyer_admin"].headers)
    assert early.status_code == 422 and early.json()["rule"] == "D4", early.text
    clock.set(window_end)
    assert expect(await client.post(activate, headers=world["buyer_admin"].headers), 200)["status"] == "active"
    assert await audit_actions(settings, dps["id"]) == ["dps.created", "dps.published", "dps.activated"]


async def test_a_vendor_withdraws_a_request_and_an_admission(client: Client, world: World, clock: FrozenClock,
                                                             settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "on_premise"]
    vendor = world["vendor_admin"]
    request = await apply(client, vendor, category)
    await upload_all(client, vendor, request["id"], "withdrawn")
    await _submit(client, vendor, request["id"])
    assert [r["id"] for r in await _queue(client, world["buyer_admin"], dps["id"])] == [request["id"]]

    withdrawn = expect(await client.post(f"/admission-requests/{request['id']}/withdraw", headers=vendor.headers), 200)
    assert withdrawn["status"] == "withdrawn"
    assert await _queue(client, world["buyer_admin"], dps["id"]) == []
    assert (await _decide(client, world["buyer_admin"], request["id"], "admit")).status_code == 409
    assert (await upload(client, vendor, request["id"], "kbis", minimal_pdf("late"))).status_code == 409
    assert (await client.post(f"/admission-requests/{request['id']}/withdraw",
                              headers=vendor.headers)).status_code == 409
    assert (await audit_actions(settings, request["id"]))[-1] == "admission.withdrawn"

    # Applying again, admitted, then withdrawing the admission takes the vendor off the register.
    again = await apply(client, vendor, category)
    await upload_all(client, vendor, again["id"], "again")
    await _submit(client, vendor, again["id"])
    expect(await _decide(client, world["buyer_admin"], again["id"], "admit"), 200)
    assert expect(await client.get("/register", params={"categoryId": category}), 200)["total"] == 1
    expect(await client.post(f"/admission-requests/{again['id']}/withdraw", headers=vendor.headers), 200)
    assert expect(await client.get("/register", params={"categoryId": category}), 200)["total"] == 0


async def test_instants_without_a_time_zone_are_refused_not_a_server_error(client: Client, world: World,
                                                                           clock: FrozenClock) -> None:
    headers = world["buyer_admin"].headers
    body = {**dps_body(clock.now()), "validityStart": "2026-01-05T00:00:00"}
    response = await client.post("/dps", headers=headers, json=body)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "validityStart", response.text
    dps = await create_dps(client, world, clock)
    response = await client.post(f"/dps/{dps['id']}/publish", headers=headers,
                                 json={"initialWindowEnd": "2026-03-01T00:00:00"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "initialWindowEnd", response.text
