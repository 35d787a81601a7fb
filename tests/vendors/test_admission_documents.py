"""The documents of an admission request: read by the buyers who judge the request (D6, D20) and by the vendor's
own people, nobody else; their names kept in a safe form; the types a category's rule asks for are types an
upload can be recognised as."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import httpx
import pytest

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from tests.vendors.api import (
    Client,
    apply,
    categories_by_pair,
    create_dps,
    dps_body,
    expect,
    fetch,
    minimal_pdf,
    open_dps,
    upload,
    upload_all,
)
from tests.world import World


async def _downloaded(client: Client, path: str, headers: dict[str, str]) -> httpx.Response:
    redirect = await client.get(path, headers=headers, follow_redirects=False)
    assert redirect.status_code == 307, redirect.text
    async with httpx.AsyncClient() as s3:
        return await s3.get(redirect.headers["location"])


async def test_the_buyers_and_the_vendors_people_download_the_documents_others_get_404(
        client: Client, world: World, clock: FrozenClock, settings: Settings) -> None:
    dps = await open_dps(client, world, clock)
    categories = categories_by_pair(dps)
    vendor = world["vendor_admin"]
    request = await apply(client, vendor, categories["grand_age", "saas"])
    sent = await upload_all(client, vendor, request["id"], "dossier")
    expect(await client.post(f"/admission-requests/{request['id']}/submit", headers=vendor.headers), 200)
    shown = expect(await client.get(f"/admission-requests/{request['id']}", headers=world["buyer_admin"].headers), 200)
    documents = {d["kind"]: d for d in shown["documents"]}
    kbis = documents["kbis"]
    assert kbis["downloadPath"] == f"/admission-requests/{request['id']}/documents/{kbis['id']}/download"

    # The buyers who judge it, and the vendor's people, its plain members included.
    for person in ("buyer_admin", "buyer_evaluator", "vendor_admin", "vendor_member"):
        got = await _downloaded(client, kbis["downloadPath"], world[person].headers)
        assert got.status_code == 200 and got.content == sent["kbis"], person
        assert hashlib.sha256(got.content).hexdigest() == kbis["sha256"]
        assert got.headers["content-disposition"].startswith("attachment") and "kbis.pdf" in \
            got.headers["content-disposition"]
    # Nobody else learns the request or its documents exist; the platform's admins neither (between the
    # vendor and the buyer).
    for person in ("other_buyer_admin", "other_vendor_admin", "platform_admin", "holder_admin"):
        response = await client.get(kbis["downloadPath"], headers=world[person].headers, follow_redirects=False)
        assert response.status_code == 404, person
    assert (await client.get(kbis["downloadPath"], follow_redirects=False)).status_code == 401

    # A document id of another request (or none at all) is no document of this one.
    other = await apply(client, world["other_vendor_admin"], categories["grand_age", "saas"])
    await upload_all(client, world["other_vendor_admin"], other["id"], "autre")
    theirs = expect(await client.get(f"/admission-requests/{other['id']}", headers=world["buyer_admin"].headers),
                    200)["documents"][0]
    crossed = f"/admission-requests/{request['id']}/documents/{theirs['id']}/download"
    assert (await client.get(crossed, headers=world["buyer_admin"].headers, follow_redirects=False)).status_code == 404

    # Every link given is audited, with who, which document and its hash; refusals give no link.
    audited = await fetch(settings, "SELECT actor, details FROM audit_event WHERE action = "
                                    "'admission.document_downloaded' AND target_id = $1 ORDER BY id", request["id"])
    assert [r["actor"] for r in audited] == [f"user:{world[p].user_id}" for p in
                                             ("buyer_admin", "buyer_evaluator", "vendor_admin", "vendor_member")]
    assert all(kbis["id"] in r["details"] and kbis["sha256"] in r["details"] for r in audited)


@pytest.mark.parametrize(("given", "kept"), [
    ("../../etc/Kbis.pdf", "Kbis.pdf"),
    ("C:\\Dossier\\Kbis.pdf", "Kbis.pdf"),
    ("Kbis\u202efdp.exe", "Kbisfdp.exe"),          # a right-to-left override, which would show "exe.pdf"
    ("con.pdf", "_con.pdf"),                       # a Windows device name
    ("..", "document"),
])
async def test_document_names_are_kept_in_a_safe_form(client: Client, world: World, clock: FrozenClock,
                                                      given: str, kept: str) -> None:
    dps = await open_dps(client, world, clock)
    vendor = world["vendor_admin"]
    request = await apply(client, vendor, categories_by_pair(dps)["grand_age", "saas"])
    # The X-Filename header (percent-encoded UTF-8), as for offers' files...
    by_header = expect(await upload(client, vendor, request["id"], "kbis", minimal_pdf("kbis"), filename="ignored",
                                    headers={"x-filename": quote(given)}), 201)
    assert by_header["filename"] == kept
    # ...or the query parameter older clients send: the same safe form.
    by_query = expect(await upload(client, vendor, request["id"], "insurance", minimal_pdf("assurance"),
                                   filename=given), 201)
    assert by_query["filename"] == kept
    # A DPS's own documents likewise.
    buyer = {**world["buyer_admin"].headers, "content-type": "application/pdf"}
    published = expect(await client.put(f"/dps/{dps['id']}/documents", params={"title": "Règlement"},
                                        content=minimal_pdf("rc"), headers={**buyer, "x-filename": quote(given)}), 201)
    assert published["filename"] == kept
    listed = expect(await client.get(f"/dps/{dps['id']}/documents"), 200)
    assert [d["filename"] for d in listed] == [kept]


async def test_a_document_needs_a_name_and_a_well_encoded_one(client: Client, world: World,
                                                             clock: FrozenClock) -> None:
    dps = await create_dps(client, world, clock)
    buyer = {**world["buyer_admin"].headers, "content-type": "application/pdf"}
    path = f"/dps/{dps['id']}/documents"
    nameless = expect(await client.put(path, params={"title": "Règlement"}, content=minimal_pdf("rc"),
                                       headers=buyer), 422)
    assert nameless["field"] == "X-Filename"
    garbled = expect(await client.put(path, params={"title": "Règlement"}, content=minimal_pdf("rc"),
                                      headers={**buyer, "x-filename": "R%E9glement.pdf"}), 422)
    assert garbled["field"] == "X-Filename"


@pytest.mark.parametrize("media_type", [
    "text/plain",                 # never recognised from content: every file would be refused
    "Application/PDF",            # the upload compares lowercase types
    "pdf",
    "application/octet-stream",   # what the sniffer says of content it doesn't recognise: anything
    "application/x-msdownload",   # an executable (G11)
])
async def test_a_document_rule_names_only_types_an_upload_can_be_recognised_as(
        client: Client, world: World, clock: FrozenClock, settings: Settings, media_type: str) -> None:
    body = dps_body(clock.now(), sectors=("grand_age",), modes=("saas", "hosted"))
    rules = [dict(rule) for rule in body["categories"][1]["requiredDocuments"]]
    rules[1]["contentTypes"] = ["application/pdf", media_type]
    body["categories"][1]["requiredDocuments"] = rules
    problem = expect(await client.post("/dps", headers=world["buyer_admin"].headers, json=body), 422)
    assert problem["field"] == "categories[1].requiredDocuments[1].contentTypes[1]"
    assert repr(media_type) in problem["detail"]
    assert await fetch(settings, "SELECT id FROM dps") == []

    # Types the sniffer does recognise are accepted.
    rules[1]["contentTypes"] = ["application/pdf", "image/jpeg", "image/png",
                                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
    expect(await client.post("/dps", headers=world["buyer_admin"].headers, json=body), 201)
