"""The audit log's pages (in process): the filtered journal and its keyset pages, the chain's verification as a
platform admin (refused to others), the evidence bundle of an object and the CSV export of the current filter."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from html import unescape

from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import PARIS
from marketplace.settings import Settings
from tests.accounts.test_audit_log import _tamper
from tests.vendors.api import expect, fetch
from tests.web.pages import Browser, csrf_token, login
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]
_ROW_ID = re.compile(r'<th scope="row" class="num">(\d+)</th>')


async def _signed_in(client: Client, person: str) -> Browser:
    web = Browser(client)
    assert (await login(web, email_of(person))).status_code == 303
    return web


def _ids(html: str) -> list[int]:
    return [int(i) for i in _ROW_ID.findall(html)]


async def test_the_journal_filters_by_action_and_pages_by_keyset(client: Client, world: World,
                                                                 settings: Settings) -> None:
    web = await _signed_in(client, "platform_admin")
    stored = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event ORDER BY id DESC")]
    page = await web.get("/app/journal?taille=20")
    assert page.status_code == 200 and 'aria-current="page">Journal d' in page.text
    assert _ids(page.text) == stored[:20]
    assert "(heure de Paris, UTC" in page.text and re.search(r"\d{2}:\d{2}:\d{2} \(heure de Paris", page.text)
    assert "Vérifier la chaîne" in page.text

    # The older link keeps the filter and the page size; the next page follows without a gap.
    older = re.search(r'href="(/app/journal\?[^"]*avant=\d+[^"]*)"', page.text)
    assert older and "taille=20" in older.group(1)
    second = await web.get(older.group(1).replace("&amp;", "&"))
    assert _ids(second.text) == stored[20:40] and "Plus récents" in second.text

    organisations = await web.get("/app/journal?action=organisation.")
    expected = [r["id"] for r in await fetch(
        settings, "SELECT id FROM audit_event WHERE action LIKE 'organisation.%' ORDER BY id DESC")]
    assert _ids(organisations.text) == expected and len(expected) == len(world.organisations)
    assert "member.roles_changed" not in organisations.text and "Association Les Tilleuls" in organisations.text
    assert 'value="organisation."' in organisations.text  # the filter stays in the form

    # Days are Paris days: today's are what the world recorded (the login is on the app's frozen clock).
    today = datetime.now(PARIS).date()
    of_today = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event WHERE (at AT TIME ZONE "
                                                       "'Europe/Paris')::date = $1 ORDER BY id DESC", today)]
    assert len(of_today) >= len(stored) - 1  # all but the login, recorded on the app's frozen clock
    assert _ids((await web.get(f"/app/journal?du={today}&au={today}&taille=200")).text) == of_today
    nothing = await web.get("/app/journal?du=2001-01-01&au=2001-12-31")
    assert _ids(nothing.text) == [] and "Aucun événement" in nothing.text
    # The form sends its empty fields too: they mean no filter. A day that isn't one is a 400 naming its field.
    empty = await web.get("/app/journal?type=&id=&acteur=&action=organisation.&du=&au=&taille=50")
    assert empty.status_code == 200 and _ids(empty.text) == expected
    wrong = await web.get("/app/journal?du=2026-02-30")
    assert wrong.status_code == 400 and "<code>du</code>" in wrong.text


async def test_a_platform_admin_verifies_the_chain_then_sees_the_broken_link(client: Client, world: World,
                                                                             settings: Settings) -> None:
    web = await _signed_in(client, "platform_admin")
    journal = await web.get("/app/journal")
    done = await web.post("/app/journal/verification", data={"_csrf_token": csrf_token(journal.text)})
    assert done.status_code == 303 and done.headers["location"] == "/app/journal"
    shown = await web.get("/app/journal")
    stored = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event WHERE action <> "
                                                     "'audit.chain_verified' ORDER BY id")]
    notice = re.search(r'<div class="notice" role="status">\s*<p>([^<]*)</p>', shown.text)
    assert notice, "no message after the act"
    assert unescape(notice.group(1)) == (f"Chaîne d'audit intègre : {len(stored)} événement(s) vérifié(s), "
                                         "aucun maillon rompu ; aucun ancrage quotidien encore.")
    [verified] = await fetch(settings, "SELECT details FROM audit_event WHERE action = 'audit.chain_verified'")
    assert json.loads(verified["details"])["ok"] is True

    victim = stored[5]
    await _tamper(settings, victim)
    await web.post("/app/journal/verification", data={"_csrf_token": csrf_token(shown.text)})
    broken = await web.get("/app/journal")
    assert f"Chaîne d'audit rompue au premier maillon n° {victim}" in unescape(broken.text)
    assert "événement modifié" in broken.text


async def test_others_may_not_verify_and_an_org_admin_reads_its_own_events_only(client: Client, world: World,
                                                                                settings: Settings) -> None:
    holder_admin = await _signed_in(client, "holder_admin")
    journal = await holder_admin.get("/app/journal?taille=200")
    assert journal.status_code == 200 and "Vérifier la chaîne" not in journal.text
    own = [r["id"] for r in await fetch(settings, "SELECT id FROM audit_event WHERE organisation_id = $1 "
                                                  "ORDER BY id DESC", world.organisations["holder"])]
    assert _ids(journal.text) == own and "Fondation Bellevue" not in journal.text
    refused = await holder_admin.post("/app/journal/verification", data={"_csrf_token": csrf_token(journal.text)})
    assert refused.status_code == 403 and "Accès refusé" in refused.text
    assert await fetch(settings, "SELECT id FROM audit_event WHERE action = 'audit.chain_verified'") == []
    # Another organisation's object: no evidence for it.
    other = await holder_admin.get(f"/app/journal/preuves?type=organisation&id={world.organisations['other_holder']}")
    assert other.status_code == 404

    member = await _signed_in(client, "holder_member")
    assert (await member.get("/app/journal")).status_code == 403
    assert (await member.get("/app/journal/export.csv")).status_code == 403


async def test_the_evidence_bundle_and_the_csv_export(client: Client, world: World, settings: Settings) -> None:
    holder = str(world.organisations["holder"])
    web = await _signed_in(client, "platform_admin")
    filtered = await web.get(f"/app/journal?type=organisation&id={holder}")
    link = re.search(r'href="(/app/journal/preuves\?[^"]+)" id="preuves"', filtered.text)
    assert link, "no evidence link for the filtered object"
    download = await web.get(link.group(1).replace("&amp;", "&"))
    assert download.status_code == 200 and download.headers["content-type"].startswith("application/json")
    assert download.headers["content-disposition"].startswith("attachment")
    assert f"preuves-organisation-{holder}.json" in download.headers["content-disposition"]
    bundle = download.json()
    [row] = await fetch(settings, "SELECT id, prev_hash, hash FROM audit_event WHERE target_id = $1", holder)
    assert [(e["id"], e["prevHash"], e["hash"], e["hashMatches"]) for e in bundle["events"]] == \
        [(row["id"], row["prev_hash"], row["hash"], True)]
    assert bundle["chain"]["ok"] is True

    export = await web.get("/app/journal/export.csv?action=member.")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    expected = await fetch(settings, "SELECT id, hash FROM audit_event WHERE action LIKE 'member.%' ORDER BY id DESC")
    assert [(int(r["id"]), r["hash"]) for r in rows] == [(e["id"], e["hash"]) for e in expected]
    assert all(r["action"].startswith("member.") and "(heure de Paris" in r["heure_de_paris"] for r in rows)

    # Read back through the API: the bundle's export is in the log.
    events = expect(await client.get("/audit-events", headers=world["platform_admin"].headers,
                                     params={"action": "audit.bundle_exported"}), 200)["items"]
    assert [e["details"]["exported_id"] for e in events] == [holder]
