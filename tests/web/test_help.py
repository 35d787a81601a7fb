"""Help on each screen: every full page of the back-office says what it is for, in its own `help` block.

base.html shows a page's `help` block as a closed `<details class="help" id="aide">` after the content, and a
skip link ("Aller à l'aide de la page") leads to it from the top of the page. Two checks:

- every template of marketplace/web/templates that extends base.html (a full page, whoever adds it later) defines a
  `help` block with text in it; partials and macros (components.html, *_components.html, fragments that htmx swaps
  in) extend nothing and need none. A new page without help fails here, named;
- every GET page under /app (the canary test's `reading_pages`, its path parameters filled with one procedure's
  objects, before the deadline and after the opening), rendered by people of each kind of organisation and by an
  anonymous visitor: each full page answered 200 shows a non-empty help region and the skip link to it.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader, Undefined, nodes
from litestar import Litestar
from litestar.testing import AsyncTestClient

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.web import TEMPLATES, template_engine
from tests.tenders.test_offers import DEADLINE, open_contract, open_offers, prepared_offer, submit
from tests.vendors.api import expect
from tests.web.pages import Browser, login
from tests.web.test_canary_pages import _fill, _values, reading_pages
from tests.world import World, email_of

Client = AsyncTestClient[Litestar]

# One person of each kind of organisation and role family, and None for an anonymous visitor.
READERS = (None, "platform_admin", "buyer_admin", "buyer_opener", "holder_admin", "vendor_admin", "funder_admin")
_HELP = re.compile(r'<details class="help" id="aide">\s*<summary>[^<]+</summary>\s*<div class="help-body">(.*?)</div>'
                   r'\s*</details>', re.S)


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _extends_base(env: Environment, name: str, seen: tuple[str, ...] = ()) -> bool:
    """Whether the template `name` is a full page: it extends base.html, directly or through another page."""
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    for node in env.parse(source).find_all(nodes.Extends):
        parent = node.template.value if isinstance(node.template, nodes.Const) else None
        if parent == "base.html" or (parent and parent not in seen and _extends_base(env, parent, (*seen, name))):
            return True
    return False


def _help_of(env: Environment, name: str) -> str:
    """The text of the `help` block `name` renders (its own or the one it inherits), with no page context."""
    template = env.get_template(name)
    block = template.blocks.get("help")
    if block is not None:
        return _text("".join(block(template.new_context({}))))
    # Not defined by the page itself: what a page between it and base.html defines, if any.
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    parent = next((n.template.value for n in env.parse(source).find_all(nodes.Extends)
                   if isinstance(n.template, nodes.Const)), None)
    return _help_of(env, parent) if parent and parent != "base.html" else ""


def full_page_templates() -> list[str]:
    env = Environment(loader=FileSystemLoader(TEMPLATES))
    return sorted(name for name in env.list_templates(extensions=["html"])
                  if name != "base.html" and _extends_base(env, name))


def test_every_full_page_template_has_its_help() -> None:
    # The app's own environment (its filters), permissive: a help block may name the page's variables; alone,
    # they render empty.
    env = template_engine(None).engine.overlay(undefined=Undefined)
    pages = full_page_templates()
    assert "inbox_list.html" in pages and "login.html" in pages and "error.html" in pages
    assert "components.html" not in pages and "holder_checklist.html" not in pages
    without = [name for name in pages if len(_help_of(env, name)) < 40]
    assert not without, f"full pages without a help block (base.html shows it as #aide): {without}"


def test_a_page_without_help_is_caught(tmp_path: Any) -> None:
    """The check above finds a page that extends base.html with no help (or an empty one), and only those."""
    (tmp_path / "base.html").write_text((TEMPLATES / "base.html").read_text())
    (tmp_path / "with_help.html").write_text('{% extends "base.html" %}{% block content %}x{% endblock %}'
                                             "{% block help %}<p>Ce que fait cette page, et la règle D6 qu'elle suit."
                                             "</p>{% endblock %}")
    (tmp_path / "without.html").write_text('{% extends "base.html" %}{% block content %}x{% endblock %}')
    (tmp_path / "empty.html").write_text('{% extends "base.html" %}{% block help %}  {% endblock %}')
    (tmp_path / "partial.html").write_text("<p>un fragment</p>")
    env = Environment(loader=FileSystemLoader(tmp_path), undefined=Undefined)
    full = sorted(n for n in env.list_templates() if n != "base.html" and _extends_base(env, n))
    assert full == ["empty.html", "with_help.html", "without.html"]
    assert [n for n in full if len(_help_of(env, n)) < 40] == ["empty.html", "without.html"]


@pytest.mark.usefixtures("cpv")
async def test_every_page_under_app_shows_its_help(client: Client, world: World, clock: FrozenClock,
                                                   settings: Settings, app: Litestar) -> None:
    contract = await open_contract(client, world, clock)
    for person in ("vendor_admin", "other_vendor_admin"):
        offer = await prepared_offer(client, world, contract["id"], person)
        expect(await submit(client, world, offer["id"], person), 200)
    expect(await client.post(f"/specific-contracts/{contract['id']}/questions", headers=world["vendor_admin"].headers,
                             json={"question": "Le prix inclut-il la formation ?"}), 201)
    values = await _values(settings, contract)
    pages = [p for p in (_fill(t, values) for t in reading_pages(app)) if p]
    full: set[str] = set()
    without: list[tuple[str, str]] = []

    async def render_all() -> None:
        for person in READERS:
            web = Browser(client)
            if person:
                assert (await login(web, email_of(person))).status_code == 303, person
            for page in pages:
                response = await web.get(page)
                if response.status_code != 200 or not response.headers.get("content-type", "").startswith(
                        "text/html") or '<main id="contenu"' not in response.text:
                    continue  # a redirect, a refusal (error.html: checked above), a file, a fragment
                full.add(page)
                match = _HELP.search(response.text)
                if not match or len(_text(match.group(1))) < 40 or 'href="#aide"' not in response.text:
                    without.append((person or "anonyme", page))

    await render_all()
    clock.set(DEADLINE)
    expect(await open_offers(client, world, contract["id"]), 200)
    await render_all()
    assert not without, f"pages without their help region: {sorted(set(without))}"
    # The pages were really read, not refused: the buying side's, a vendor's, a holder's, the public ones.
    cid = contract["id"]
    assert {"/app", "/app/connexion", "/app/notifications", f"/app/marches/{cid}", f"/app/marches/{cid}/ouverture",
            "/app/candidatures", "/app/mes-besoins", "/app/sad", "/app/registre", "/app/journal"} <= full, sorted(full)
