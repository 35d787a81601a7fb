"""Everyone's inbox in a real browser (Chromium through Playwright) against a live server.

Two invitations reach a vendor's admin (a real act: a holder's admin invites their address); signed in, they see
the unread count in the header, open Notifications from the navigation, read one message, then mark all read:
the header says 0 and the API agrees. axe-core finds no serious or critical violation. Screenshot:
.artefacts/screens/inbox.png (ignored by git).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from marketplace.settings import Settings
from tests.apps import shared_app
from tests.web.browser import BrowserThread, screenshot, serious_violations
from tests.world import PASSWORD, World, email_of

pytestmark = pytest.mark.slow


@pytest.fixture
def app(settings: Settings) -> Litestar:
    """The live server runs on the real clock."""
    return shared_app(settings)


async def test_a_person_reads_their_notifications_and_marks_them_all_read(chromium: BrowserThread, live_server: str,
                                                                         world: World, client: Any) -> None:
    holder = world.organisations["holder"]
    for role in ("holder:member", "holder:project_lead"):
        invited = await client.post(f"/organisations/{holder}/invitations", headers=world["holder_admin"].headers,
                                    json={"email": world["vendor_admin"].email, "roles": [role]})
        assert invited.status_code == 201, invited.text
    me = world["vendor_admin"].headers

    def walk(browser: Any) -> dict[str, Any]:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        seen: dict[str, Any] = {"console": []}
        page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
        page.goto(f"{live_server}/app/connexion")
        page.get_by_label("Adresse électronique").fill(email_of("vendor_admin"))
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(lambda url: "/connexion" not in url)
        seen["header_before"] = page.locator("#inbox-count").text_content()
        page.get_by_role("navigation", name="Navigation principale").get_by_role("link", name="Notifications").click()
        page.wait_for_url("**/app/notifications")
        seen["states"] = page.locator("table.data tbody td:first-child").all_inner_texts()
        page.locator("table.data tbody summary").first.click()
        seen["body_visible"] = page.locator("table.data tbody .inbox-body").first.is_visible()
        seen["axe"] = serious_violations(page)
        screenshot(page, "inbox")

        page.get_by_role("button", name="Tout marquer comme lu").click()
        page.wait_for_url("**/app/notifications*")
        seen["notice"] = page.locator(".notice").inner_text()
        seen["header_after"] = page.locator("#inbox-count").text_content()
        seen["states_after"] = page.locator("table.data tbody td:first-child").all_inner_texts()
        seen["unread_api"] = httpx.get(f"{live_server}/my/notifications/unread-count", headers=me).json()
        context.close()
        return seen

    seen = chromium.run(walk)
    assert seen["header_before"] == "Notifications (2 non lues)"
    assert seen["states"] == ["non lue", "non lue"] and seen["body_visible"]
    assert "2 notification(s) marquée(s) comme lue(s)." in seen["notice"]
    assert seen["header_after"] == "Notifications (0 non lues)"
    assert seen["states_after"] == ["lue", "lue"] and seen["unread_api"] == {"unread": 0}
    assert seen["axe"] == [], "\n".join(seen["axe"])
    assert not [line for line in seen["console"] if "Content Security Policy" in line or line.startswith("error")]
