"""Every form of the existing walks completed with the keyboard alone, in a real browser (Chromium through Playwright)
against a live server on real services.

Only the keys a person without a mouse uses: Tab and Shift+Tab to move, typing, Space to tick a box or open a file
chooser, the arrow keys to pick an option, Enter to follow a link or press a button. No `.click()`, no `.fill()`, no
`.check()`, no `select_option()`; the one thing the keyboard cannot do, picking a file in the system's dialog, is the
file chooser's answer (`expect_file_chooser`) to Space pressed on the focused file field. The test reads the page
(what the focus is on, what a page says) to know where it is, as a person reads the screen.

1. A holder writes a need in the 5-step form (an acquisition by one OG, which N2 refuses), sees N2 named before
   submitting, corrects the project type, submits and files it to its funder's open call.
2. A vendor applies to a DPS's category, sends both required documents through the file choosers and submits.
3. A vendor deposits an offer with a small attachment (the page's script: hash, presigned upload, progress), withdraws
   it and deposits a new version (the plain multipart form, without JavaScript).
4. An organisation's admin invites a person and creates then revokes an API key; the invited person marks one
   notification read, then all.

axe-core finds no serious or critical violation on any page visited. Screenshots: .artefacts/screens/keyboard-*.png.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from tests.funding_api import open_call
from tests.tenders.test_needs import filing_dps, finess
from tests.tenders.test_publication import admit, publish, submitted_need
from tests.vendors.api import categories_by_pair, dps_body, expect, initial_window_end, minimal_pdf, open_dps, sha256
from tests.web.browser import (  # noqa: F401
    BrowserThread,
    choose_file,
    is_focused,
    screenshot,
    serious_violations,
    tab_to,
)
from tests.world import PASSWORD, World, email_of

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("cpv")]

Client = AsyncTestClient[Litestar]
_FACILITIES = itertools.count(1)
NAV = 'nav[aria-label="Navigation principale"]'


@pytest.fixture
def clock() -> FrozenClock:
    """The app in process runs on this clock, the live server on the real one. Forty days back for the offer walk
    (the DPS's initial window passes on it, its contract is open on the real clock); the others set it to now."""
    return FrozenClock(datetime.now(UTC) - timedelta(days=40))


# --- The keyboard, as a person uses it ---------------------------------------------------------------------------

def type_into(page: Any, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def type_date(page: Any, selector: str, iso: str) -> None:
    """A date field, typed: its segments (day, month, year) are in the order of the browser's own language, not the
    page's (Debian's Chromium here reads month first whatever the context's locale); typed in the French order
    first, and, if the field reads it otherwise, typed again over it in the other orders (Shift+Tab goes back
    through the segments), as a person corrects what they see."""
    tab_to(page, selector)
    year, month, day = iso.split("-")
    for order in ((day, month, year), (month, day, year), (year, month, day)):
        page.keyboard.type("".join(order))
        if page.evaluate("document.activeElement.value") == iso:
            return
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Shift+Tab")
    raise AssertionError(f"{selector} never read {iso} from the keyboard")


def tick(page: Any, selector: str, checked: bool = True) -> None:
    """A checkbox to the state `checked`, by Space."""
    tab_to(page, selector)
    if page.evaluate("document.activeElement.checked") != checked:
        page.keyboard.press("Space")
    assert page.evaluate("document.activeElement.checked") == checked, selector


def choose(page: Any, selector: str, value: str) -> None:
    """The option whose value is `value` of the <select> `selector`, by the arrow keys (the list stays closed)."""
    tab_to(page, selector)
    index = page.evaluate("v => Array.from(document.activeElement.options).findIndex(o => o.value === v)", value)
    assert index >= 0, f"{selector} has no option {value!r}"
    for _ in range(200):
        current = page.evaluate("document.activeElement.selectedIndex")
        if current == index:
            return
        page.keyboard.press("ArrowDown" if current < index else "ArrowUp")
    raise AssertionError(f"the arrow keys never reached {value!r} in {selector}")


def press(page: Any, selector: str, url: str | None = None, *, back: bool = False, navigates: bool = True) -> None:
    """Focus the link or button `selector` and press Enter; wait for the page it leads to (`url`, a glob, if given)."""
    tab_to(page, selector, back=back)
    if navigates:
        with page.expect_navigation(url=url) if url else page.expect_navigation():
            page.keyboard.press("Enter")
    else:
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def new_page(browser: Any, *, javascript: bool = True) -> tuple[Any, Any]:
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris", viewport={"width": 1280, "height": 900},
                                  java_script_enabled=javascript)
    context.set_default_timeout(20_000)
    return context, context.new_page()


def sign_in(page: Any, base: str, person: str, target: str = "/app/") -> None:
    """The login form from the top of the page: Tab to each field, type, Enter on the button."""
    page.goto(f"{base}/app/connexion?suivant={target}" if target != "/app/" else f"{base}/app/connexion")
    type_into(page, "#email", email_of(person))
    type_into(page, "#password", PASSWORD)
    press(page, "form[action='/app/connexion'] button[type=submit]")
    page.wait_for_url(lambda url: "/connexion" not in url)


def sign_out(page: Any) -> None:
    press(page, "form[action='/app/deconnexion'] button", "**/app/connexion*")


class Walk:
    """What a walk saw: each page's axe-core serious and critical violations, its screenshot, the console."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.axe: dict[str, list[str]] = {}
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))

    def look(self, name: str, *, axe: bool = True) -> str:
        if axe:  # axe-core runs in the page: not where JavaScript is off (the same page was checked with it on)
            self.axe[name] = serious_violations(self.page)
        screenshot(self.page, f"keyboard-{name}")
        return str(self.page.locator("main").inner_text())

    def check(self) -> None:
        bad = {name: v for name, v in self.axe.items() if v}
        assert not bad, "\n".join(f"{name}: {v}" for name, v in bad.items())
        assert not [line for line in self.console if "Content Security Policy" in line or line.startswith("error")], \
            self.console


# --- 1. A holder's need, N2 seen and corrected, submitted and filed -------------------------------------------------

async def test_a_holder_writes_fixes_submits_and_files_a_need_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    clock.set(datetime.now(UTC))
    dps_id = await filing_dps(client, world)
    call = await open_call(client, world)
    et = finess(f"7532{next(_FACILITIES):04d}")  # a facility of its own (N18: one active project per campaign)
    expect(await client.post(f"/organisations/{world.organisations['holder']}/facilities",
                             headers=world["holder_admin"].headers, json={"name": f"EHPAD {et}", "finessEt": et}), 201)

    def walk(browser: Any) -> dict[str, Any]:
        context, page = new_page(browser)
        w = Walk(page)
        seen: dict[str, Any] = {"walk": w}
        sign_in(page, live_server, "holder_admin")
        press(page, f'{NAV} a[href="/app/mes-besoins"]', "**/app/mes-besoins")
        w.look("holder-needs")
        press(page, 'a[href="/app/mes-besoins/nouveau"]', "**/app/mes-besoins/nouveau")
        w.look("need-step-1")
        type_into(page, "#f-titre", "DUI des Tilleuls — au clavier")
        type_into(page, "#f-description", "Un dossier usager informatisé pour l'EHPAD.")
        type_into(page, "#f-campagne", "2025")
        choose(page, "#f-type", "1")  # an acquisition (type 1): N2 wants a grappe of 3 OG and 15 ESMS
        choose(page, "#f-appel", "regional")
        type_date(page, "#f-candidature", "2025-03-01")
        seen["date"] = page.evaluate("document.querySelector('#f-candidature').value")
        choose(page, "#f-sad", dps_id)
        choose(page, "#f-secteur", "grand_age")
        choose(page, "#f-mode", "saas")
        press(page, "form.stack button[type=submit]", "**/modifier?etape=2")
        seen["need_id"] = re.search(r"/mes-besoins/([0-9a-f-]{36})/", page.url).group(1)  # type: ignore[union-attr]
        w.look("need-step-2")
        tick(page, f"#f-esms-{et}")
        press(page, "form.stack button[type=submit]", "**/modifier?etape=3")
        w.look("need-step-3")
        for box in ("socle-ins", "socle-mss", "socle-dmp", "socle-eprescription", "reference", "rgpd", "carte",
                    "continuite"):
            if page.locator(f"#f-{box}").count():
                tick(page, f"#f-{box}")
        choose(page, "#f-couloir", "MS1")
        press(page, "form.stack button[type=submit]", "**/modifier?etape=4")
        w.look("need-step-4")
        for index, value in enumerate(("40", "40", "20"), start=1):
            type_into(page, f"#f-echeancier-{index}", value)
        tick(page, "#f-cibles")
        type_into(page, "#f-cpv", "48000000-8")
        press(page, "form.stack button[type=submit]", "**/modifier?etape=5")
        seen["before"] = page.locator("#verification").inner_text()
        w.look("need-step-5-n2")

        # The correction: back to step 1 by the steps' list, the type changed by the arrow keys, saved by Enter.
        press(page, f'a[href$="/{seen["need_id"]}/modifier?etape=1"]', "**/modifier?etape=1", back=True)
        choose(page, "#f-type", "2")  # a conformity project (type 2): one OG
        # The checklist is rechecked as the form changes (htmx): the focus stays on the field it was on.
        page.wait_for_function("() => !document.querySelector('#verification').innerText.includes('N2 —')")
        seen["focus_after_swap"] = page.evaluate("document.activeElement.id")
        press(page, "form.stack button[type=submit]", "**/modifier?etape=2")
        press(page, f'a[href$="/{seen["need_id"]}/modifier?etape=5"]', "**/modifier?etape=5")
        seen["after"] = page.locator("#verification").inner_text()
        w.look("need-step-5")
        press(page, f'form[action$="/{seen["need_id"]}/soumettre"] button', f"**/app/mes-besoins/{seen['need_id']}")
        seen["submitted"] = w.look("need-submitted")
        choose(page, "#f-appel", call["id"])
        press(page, f'form[action$="/{seen["need_id"]}/depot"] button', f"**/app/mes-besoins/{seen['need_id']}")
        seen["filed"] = w.look("need-filed")
        context.close()
        return seen

    seen = chromium.run(walk)
    seen["walk"].check()
    assert seen["date"] == "2025-03-01"
    assert "N2 — Un projet de type 1" in seen["before"] and "Détail : N2: " in seen["before"], seen["before"]
    assert seen["focus_after_swap"] == "f-type"
    assert "N2 —" not in seen["after"], seen["after"]
    assert "Le besoin est soumis" in seen["submitted"], seen["submitted"][:1500]
    assert "Le besoin est déposé à l'appel à projets" in seen["filed"], seen["filed"][:1500]
    api = expect(await client.get(f"/needs/{seen['need_id']}", headers=world["holder_admin"].headers), 200)
    assert (api["status"], api["projectType"], api["fundingStatus"], api["callId"]) == \
        ("submitted", 2, "filed", call["id"])
    assert api["title"] == "DUI des Tilleuls — au clavier" and api["appliedOn"] == "2025-03-01"


# --- 2. A vendor's application with its documents --------------------------------------------------------------

async def test_a_vendor_applies_with_its_documents_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock,
        tmp_path: Path) -> None:
    now = datetime.now(UTC)
    clock.set(now)
    buyer = world["buyer_admin"].headers
    dps = expect(await client.post("/dps", headers=buyer, json=dps_body(now, title="SAD au clavier")), 201)
    expect(await client.post(f"/dps/{dps['id']}/publish", headers=buyer,
                             json={"initialWindowEnd": initial_window_end(now).isoformat()}), 200)
    category = dps["categories"][0]
    files = {}
    for kind in ("kbis", "insurance"):
        files[kind] = tmp_path / f"{kind}-clavier.pdf"
        files[kind].write_bytes(minimal_pdf(f"clavier {kind}"))

    def walk(browser: Any) -> dict[str, Any]:
        context, page = new_page(browser)
        w = Walk(page)
        seen: dict[str, Any] = {"walk": w}
        sign_in(page, live_server, "vendor_admin")
        press(page, f'{NAV} a[href="/app/candidatures"]', "**/app/candidatures")
        w.look("applications")
        choose(page, "#f-categorie", category["id"])
        tick(page, "#dume-exclusion")
        tick(page, "#dume-obligations")
        type_into(page, "#dume-representant", "Claire Clavier")
        type_into(page, "#dume-effectif", "12")
        type_into(page, "#dume-references", "EHPAD des Lilas")
        page.keyboard.press("Enter")  # a new line in the textarea, not a submission
        page.keyboard.type("SSIAD du Canal")
        type_into(page, "#f-logiciel", "Dossier Clavier")
        type_into(page, "#f-version", "1.0")
        type_into(page, "#f-referencement", "SEGUR-CLAV-1.0")
        type_into(page, "#f-dispositif", "DUI-ESMS")
        press(page, "form.application-form button[type=submit]", "**/app/candidatures/*")
        seen["url"] = page.url
        w.look("application-draft")
        choose_file(page, "#f-fichier-kbis", files["kbis"])
        press(page, "form:has(#f-fichier-kbis) button[type=submit]")
        choose_file(page, "#f-fichier-insurance", files["insurance"])
        type_date(page, "#f-validite-insurance", "2030-06-30")
        seen["validity"] = page.evaluate("document.querySelector('#f-validite-insurance').value")
        press(page, "form:has(#f-fichier-insurance) button[type=submit]")
        seen["uploaded"] = w.look("application-documents")
        press(page, 'form[action$="/soumettre"] button')
        seen["detail"] = w.look("application-submitted")
        context.close()
        return seen

    seen = chromium.run(walk)
    seen["walk"].check()
    assert seen["validity"] == "2030-06-30"
    for path in files.values():
        assert path.name in seen["uploaded"] and sha256(path.read_bytes()) in seen["uploaded"]
    assert "Accusé de réception" in seen["detail"] and "en cours d'évaluation" in seen["detail"]
    request_id = seen["url"].rsplit("/", 1)[1]
    api = expect(await client.get(f"/admission-requests/{request_id}", headers=world["vendor_admin"].headers), 200)
    assert api["status"] == "under_evaluation" and api["missingDocuments"] == []
    assert api["selfDeclaration"]["legalRepresentative"] == "Claire Clavier"
    assert api["selfDeclaration"]["references"] == ["EHPAD des Lilas", "SSIAD du Canal"]
    assert sorted(d["filename"] for d in api["documents"]) == sorted(p.name for p in files.values())


# --- 3. An offer deposited, withdrawn and replaced -------------------------------------------------------------

async def _open_contract(client: Client, world: World, clock: FrozenClock) -> dict[str, Any]:
    dps = await open_dps(client, world, clock)
    category = categories_by_pair(dps)["grand_age", "saas"]
    for person in ("vendor_admin", "other_vendor_admin"):
        await admit(client, world, world[person], category)
    need = await submitted_need(client, world)
    deadline = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return dict(expect(await publish(client, world, need["id"], dps["id"], deadline), 201))


def _fill_parts(page: Any, price: str) -> None:
    type_into(page, "#l0-item", "Licence DUI, 40 postes")
    type_into(page, "#l0-q", "1")
    type_into(page, "#l0-p", price)
    answers = page.evaluate("Array.from(document.querySelectorAll(\"#brouillon textarea[name^='reponse-']\"))"
                            ".map(e => e.id)")
    for n, ident in enumerate(answers):
        type_into(page, f"#{ident}", f"Réponse détaillée au critère {n + 1}.")
    press(page, "form[action$='/parties'] button[type=submit]")


async def test_a_vendor_deposits_withdraws_and_replaces_an_offer_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock,
        tmp_path: Path) -> None:
    contract = await _open_contract(client, world, clock)
    cid = contract["id"]
    target = f"/app/offres/{cid}"
    first, second = tmp_path / "Mémoire technique.pdf", tmp_path / "Mémoire technique v2.pdf"
    first.write_bytes(minimal_pdf("mémoire technique, version 1"))
    second.write_bytes(minimal_pdf("mémoire technique, version 2"))

    def walk(browser: Any) -> dict[str, Any]:
        context, page = new_page(browser)
        w = Walk(page)
        seen: dict[str, Any] = {"walk": w}
        sign_in(page, live_server, "vendor_admin")
        press(page, f'{NAV} a[href="/app/invitations"]', "**/app/invitations")
        w.look("invitations")
        press(page, f'a[href="{target}"]', f"**{target}")
        w.look("offer-workspace")
        press(page, f'form[action="{target}/offre"] button')
        seen["created"] = page.locator(".notice").inner_text()
        _fill_parts(page, "48 000,00")
        seen["parts"] = page.locator(".notice").inner_text()
        # The attachment by the page's script (hash, presigned upload, progress), started by Enter on the button.
        choose_file(page, "#f-file", first)
        press(page, "#envoi-piece button[type=submit]", navigates=False)
        page.locator("#etat-envoi").filter(has_text=re.compile("Envoi terminé|Refusé|refusé|interrompu")).wait_for(
            timeout=60_000)
        seen["status"] = page.locator("#etat-envoi").inner_text()
        # The status says so where the focus is (the button), and its link to the list is the next stop back.
        seen["focus_after_upload"] = page.evaluate("document.activeElement.id || document.activeElement.textContent")
        w.look("offer-uploaded")
        press(page, "#voir-pieces", back=True)
        page.wait_for_selector("#pieces")
        # The page comes back with the focus on the list of attachments: the next Tab is the file field below it.
        page.keyboard.press("Tab")
        seen["after_list"] = page.evaluate("document.activeElement.id || document.activeElement.outerHTML.slice(0, 99)")
        seen["pieces"] = page.locator("#pieces tbody").inner_text()
        press(page, 'form[action$="/depot"] button')
        seen["submitted"] = w.look("offer-deposited")
        press(page, 'form[action$="/retrait"] button')
        seen["withdrawn"] = page.locator(".notice").inner_text()
        w.look("offer-withdrawn")
        context.close()

        # A new version, its file by the plain form (no JavaScript): the keyboard does the same.
        context, page = new_page(browser, javascript=False)
        w2 = Walk(page)
        seen["walk2"] = w2
        sign_in(page, live_server, "vendor_admin", target)
        page.wait_for_url(f"**{target}")
        press(page, f'form[action="{target}/offre"] button')
        _fill_parts(page, "45 500,00")
        choose_file(page, "#f-file", second)
        press(page, "#envoi-piece button[type=submit]")
        seen["small"] = page.locator(".notice").inner_text()
        press(page, 'form[action$="/depot"] button')
        seen["second_submitted"] = w2.look("offer-new-version", axe=False)
        context.close()
        return seen

    seen = chromium.run(walk)
    seen["walk"].check()
    seen["walk2"].check()
    assert "Version 1 de votre offre créée" in seen["created"]
    assert "Bordereau de prix et réponses aux critères enregistrés" in seen["parts"]
    assert seen["status"].startswith(f"Envoi terminé : 100 %. « {first.name} » reçue et scellée"), seen["status"]
    assert first.name in seen["pieces"] and seen["after_list"] == "f-file"
    assert "Accusé de réception de la version 1" in seen["submitted"]
    assert "Version 1 retirée" in seen["withdrawn"]
    assert f"« {second.name} » reçue et scellée" in seen["small"]
    assert "Accusé de réception de la version 2" in seen["second_submitted"]
    mine = expect(await client.get(f"/specific-contracts/{cid}/my-offers", headers=world["vendor_admin"].headers), 200)
    assert sorted((o["version"], o["status"]) for o in mine) == [(1, "withdrawn"), (2, "submitted")]
    assert [a["filename"] for o in mine if o["version"] == 2 for a in o.get("attachments", [])] in ([], [second.name])


# --- 4. The organisation's forms, and the inbox ----------------------------------------------------------------

async def test_invitation_api_key_and_inbox_with_the_keyboard_alone(
        chromium: BrowserThread, live_server: str, client: Client, world: World, clock: FrozenClock) -> None:
    clock.set(datetime.now(UTC))
    holder = world.organisations["holder"]
    # A notification already waiting for the vendor's admin, besides the one the walk's invitation sends.
    expect(await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                             json={"email": world["vendor_admin"].email, "roles": ["holder:member"]}), 201)
    me = world["vendor_admin"].headers

    def walk(browser: Any) -> dict[str, Any]:
        context, page = new_page(browser)
        w = Walk(page)
        seen: dict[str, Any] = {"walk": w}
        sign_in(page, live_server, "holder_admin")
        press(page, f'{NAV} a[href="/app/organisations"]', "**/app/organisations")
        w.look("organisations")
        press(page, f'main a[href="/app/organisations/{holder}"]', f"**/app/organisations/{holder}")
        w.look("organisation")
        # The page's help, from the top: the second skip link, then its summary opened by Enter.
        page.keyboard.press("Tab")
        seen["first_stop"] = page.evaluate("document.activeElement.textContent.trim()")
        press(page, 'a.skip-link[href="#aide"]', navigates=False)
        page.keyboard.press("Tab")
        seen["after_help_link"] = page.evaluate("document.activeElement.closest('details')?.id || ''")
        page.keyboard.press("Enter")
        seen["help_open"] = page.evaluate("document.getElementById('aide').open")
        seen["help"] = page.locator("#aide .help-body").inner_text()
        w.look("organisation-help")
        # The invitation: the address typed, a role ticked by Space, Enter on the button.
        type_into(page, "#f-email", world["vendor_admin"].email)
        tick(page, "input[id^='f-invite-roles-'][value='holder:project_lead']")
        press(page, "form[action$='/invitations'] button[type=submit]", f"**/app/organisations/{holder}")
        seen["invited"] = page.locator("main").inner_text()
        # The API key: named, a role ticked, created; its secret is reachable by Tab (to copy it), then revoked.
        type_into(page, "#f-name", "Connecteur au clavier")
        tick(page, "input[id^='f-key-roles-'][value='holder:member']")
        press(page, "form[action$='/cles-api'] button[type=submit]")
        tab_to(page, "#f-secret")
        seen["secret"] = page.evaluate("document.activeElement.value")
        seen["works"] = httpx.get(f"{live_server}/auth/me",
                                  headers={"Authorization": f"Bearer {seen['secret']}"}).status_code
        w.look("api-key-created")
        press(page, "button[aria-label='Révoquer la clé Connecteur au clavier']", f"**/app/organisations/{holder}")
        seen["revoked_notice"] = page.locator(".notice").inner_text()
        seen["revoked"] = httpx.get(f"{live_server}/auth/me",
                                    headers={"Authorization": f"Bearer {seen['secret']}"}).status_code
        w.look("api-key-revoked")
        sign_out(page)

        # The invited person's inbox: a message opened by Enter on its summary, one marked read, then all.
        sign_in(page, live_server, "vendor_admin")
        seen["header_before"] = page.locator("#inbox-count").text_content()
        press(page, f'{NAV} a[href="/app/notifications"]', "**/app/notifications")
        tab_to(page, "table.data tbody summary")
        page.keyboard.press("Enter")
        seen["opened"] = page.evaluate("document.activeElement.parentElement.open")
        w.look("inbox")
        press(page, "table.data tbody form[action$='/lue'] button", "**/app/notifications*")
        seen["one_read"] = page.locator(".notice").inner_text()
        seen["header_one"] = page.locator("#inbox-count").text_content()
        press(page, "form[action='/app/notifications/lues'] button", "**/app/notifications*")
        seen["all_read"] = page.locator(".notice").inner_text()
        seen["header_after"] = page.locator("#inbox-count").text_content()
        seen["unread_api"] = httpx.get(f"{live_server}/my/notifications/unread-count", headers=me).json()
        w.look("inbox-read")
        context.close()
        return seen

    seen = chromium.run(walk)
    seen["walk"].check()
    assert seen["first_stop"] == "Aller au contenu"
    assert seen["after_help_link"] == "aide" and seen["help_open"] is True and "Envoyer l'invitation" in seen["help"]
    # The invitation is pending on the page, and it reached the invited person (the second unread notification).
    assert world["vendor_admin"].email in seen["invited"], seen["invited"][:1500]
    assert seen["secret"].startswith("mpk_") and seen["works"] == 200
    assert "révoquée" in seen["revoked_notice"] and seen["revoked"] == 401
    assert seen["header_before"] == "Notifications (2 non lues)"
    assert seen["opened"] is True
    assert seen["header_one"] == "Notifications (1 non lues)"
    assert seen["header_after"] == "Notifications (0 non lues)" and seen["unread_api"] == {"unread": 0}
