"""The intended structure, as a test (README "Architecture in one screen").

Domain packages, bottom to top: reference < notifications < accounts < support < vendors < tenders < awards <
funding < sons < opendata.
A domain package imports only packages below it, so no cycle can form between them and each can be read
(and changed) knowing only what lies beneath: admission (vendors) knows nothing of competitions (tenders),
a competition nothing of its award. `system` (/health) imports no domain. `lib/` knows no domain (it may
use `marketplace.errors` and `marketplace.settings`); `storage/` knows nothing of `marketplace`;
`devstack/` uses only `lib/`, `settings` and `errors`. The top-level modules (app, cli, worker, models,
sweeper) are composition roots that may import anything and that no domain imports; `errors`, `settings`
and `uploads` are shared kernels a domain may import, and they import no domain.

Every import counts, wherever it is written: at module level, inside a function (the usual way to
hide a cycle from the interpreter, not from a reader) and under `if TYPE_CHECKING:` (a parameter typed
with a model from above is knowledge of that package all the same). `importlib` and strings naming
modules are not seen; the code uses neither for domain modules.

`violations()` is a pure function of the sources, so the tests below prove it reports what it must.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top: a package may import only those before it.
LAYERS = ("reference", "notifications", "accounts", "support", "vendors", "tenders", "awards", "funding", "sons",
          "opendata")
# Outside the order: imports no domain, and no domain needs it.
ISOLATED = ("system",)
DOMAINS = (*LAYERS, *ISOLATED)
# Top-level modules no domain may import: they import the domains (models.py imports every domain's
# models, so importing it from a domain would be an upward import in disguise).
# `web` (the back-office's pages) is one too: like the API's controllers it calls every domain's services.
COMPOSITION_ROOTS = ("app", "cli", "worker", "models", "sweeper", "__main__", "devstack", "web")
# What lib/ and devstack/ may import of marketplace besides themselves.
KERNEL = ("marketplace.errors", "marketplace.settings")
# Shared kernels every domain may import: they sit below the domains, so they import none.
SHARED = ("errors", "settings", "uploads")


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _part(name: str) -> str | None:
    """`tenders` for `marketplace.tenders.offers`; None outside `marketplace.<something>`."""
    pieces = name.split(".")
    return pieces[1] if len(pieces) > 1 and pieces[0] == "marketplace" else None


def _imports(name: str, source: str, modules: dict[str, str]) -> list[tuple[str, int]]:
    """Every module `name` imports (absolute dotted names) with its line, wherever it is written."""
    is_package = any(other.startswith(name + ".") for other in modules)
    package = name if is_package else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x`, `from ..tenders import y`
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, node.lineno))
            # `from marketplace import tenders` imports the package `marketplace.tenders`.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if any(_under(other, candidate) for other in modules):
                    found.append((candidate, node.lineno))
    return found


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components)


def violations(modules: dict[str, str]) -> list[str]:
    """What breaks the layering, one line each, sorted; `modules` maps dotted module names (a package's
    `__init__.py` under the package's name) to their source."""
    found: list[str] = []
    edges: dict[str, set[str]] = {}
    evidence: dict[tuple[str, str], str] = {}
    for name in sorted(modules):
        mine = _part(name)
        for target, line in _imports(name, modules[name], modules):
            where = f"{name} (line {line}) imports {target}"
            theirs = _part(target)
            if _under(name, "storage"):
                if _under(target, "marketplace"):
                    found.append(f"storage imports marketplace: {where}")
                continue
            if mine == "lib":
                if theirs is not None and theirs != "lib" and target not in KERNEL:
                    found.append(f"lib imports beyond lib/errors/settings: {where}")
                continue
            if mine == "devstack":
                if theirs is not None and theirs not in {"devstack", "lib"} and target not in KERNEL:
                    found.append(f"devstack imports beyond lib/errors/settings: {where}")
                continue
            if mine in SHARED:
                if theirs in DOMAINS or theirs in COMPOSITION_ROOTS:
                    found.append(f"shared kernel imports a domain or a composition root: {where}")
                continue
            if mine not in DOMAINS or theirs is None or theirs == mine:
                continue
            if theirs in COMPOSITION_ROOTS:
                found.append(f"domain imports a composition root: {where}")
            if theirs not in DOMAINS:
                continue
            edges.setdefault(mine, set()).add(theirs)
            evidence.setdefault((mine, theirs), where)
            if mine in ISOLATED:
                found.append(f"{mine} imports a domain ({theirs}): {where}")
            elif theirs in ISOLATED:
                found.append(f"{mine} imports {theirs}, which no domain may import: {where}")
            elif LAYERS.index(theirs) > LAYERS.index(mine):
                found.append(f"upward import {mine} -> {theirs}: {where}")
    for component in _cycles(edges):
        links = [evidence[(a, b)] for a in component for b in component if (a, b) in evidence]
        found.append(f"cycle between {', '.join(component)}: " + "; ".join(links))
    return sorted(found)


def tree() -> dict[str, str]:
    """Every module under marketplace/ and storage/, by dotted name."""
    modules: dict[str, str] = {}
    for top in ("marketplace", "storage"):
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path.read_text()
    return modules


# -- the real tree ------------------------------------------------------------------------------------


def test_the_tree_keeps_its_layers() -> None:
    found = violations(tree())
    assert found == [], "\n".join(["the layering is broken:", *found])


def test_every_domain_package_is_placed() -> None:
    """A new domain folder must take its place in LAYERS (or be declared a shared part) to be checked."""
    shared = {"lib", "__pycache__", *COMPOSITION_ROOTS}  # a composition root may be a package (cli/)
    folders = {p.name for p in (ROOT / "marketplace").iterdir() if p.is_dir()} - shared
    assert folders <= set(DOMAINS), f"not placed in the layering: {sorted(folders - set(DOMAINS))}"


# -- the check itself (must show 2: it fails on an upward import and on a cycle) -------------------------


def _tree(**sources: str) -> dict[str, str]:
    """Synthetic modules: `tenders__offers="..."` is `marketplace.tenders.offers`; packages get an empty
    `__init__` so relative imports resolve as in the real tree."""
    modules = {"marketplace": ""}
    for key, source in sources.items():
        name = key.replace("__", ".")
        name = name if name.startswith("storage") else f"marketplace.{name}"
        modules[name] = source
        pieces = name.split(".")
        for cut in range(1, len(pieces)):
            modules.setdefault(".".join(pieces[:cut]), "")
    return modules


def test_a_clean_tree_has_no_violation() -> None:
    modules = _tree(
        vendors__services="from marketplace.accounts.models import User\nfrom marketplace.lib.clock import Clock\n",
        awards__services="from marketplace.tenders import offers\nfrom marketplace.vendors.models import Dps\n",
        tenders__offers="from marketplace.errors import Conflict\nimport storage\n",
        lib__clock="from marketplace.settings import Settings\nfrom marketplace.lib import jobs\n",
        lib__jobs="",
        devstack__stack="from marketplace.lib.clock import Clock\n",
        storage___store="from storage._types import StoreConfig\n",
        app="from marketplace.awards import services\n",
        web__queue="from marketplace.vendors.admissions import AdmissionService\n"
                   "from marketplace.funding import calls\n",
    )
    assert violations(modules) == []


def test_an_upward_import_is_reported() -> None:
    modules = _tree(vendors__services="from marketplace.tenders.models import SpecificContract\n",
                    tenders__models="")
    assert violations(modules) == [
        "upward import vendors -> tenders: marketplace.vendors.services (line 1) imports marketplace.tenders.models"]


@pytest.mark.parametrize("source", [
    "def f():\n    from marketplace.awards import services\n",                               # inside a function
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from marketplace.awards.models import Award\n",
    "import marketplace.awards.services\n",
    "from marketplace import awards\n",
    "from ..awards import services\n",                                                         # relative
])
def test_an_upward_import_is_reported_however_written(source: str) -> None:
    found = violations(_tree(tenders__opening=source, awards__services="", awards__models=""))
    assert found and all(line.startswith("upward import tenders -> awards: marketplace.tenders.opening")
                         for line in found), found


def test_a_cycle_is_reported() -> None:
    modules = _tree(tenders__opening="from marketplace.awards.services import AwardService\n",
                    awards__services="from marketplace.tenders.models import Offer\n",
                    tenders__models="")
    found = violations(modules)
    assert "cycle between awards, tenders: marketplace.awards.services (line 1) imports marketplace.tenders.models; " \
           "marketplace.tenders.opening (line 1) imports marketplace.awards.services" in found
    assert any(line.startswith("upward import tenders -> awards") for line in found)


def test_a_cycle_through_three_packages_is_reported() -> None:
    modules = _tree(accounts__a="import marketplace.notifications.b\n",
                    notifications__b="import marketplace.support.c\n",
                    support__c="import marketplace.accounts.a\n")
    assert [line for line in violations(modules) if line.startswith("cycle between accounts, notifications, support")]


@pytest.mark.parametrize(("modules", "expected"), [
    (_tree(lib__jobs="from marketplace.notifications.models import Notification\n", notifications__models=""),
     "lib imports beyond lib/errors/settings: marketplace.lib.jobs (line 1) imports marketplace.notifications.models"),
    (_tree(lib__jobs="from marketplace import models\n", models=""),
     "lib imports beyond lib/errors/settings: marketplace.lib.jobs (line 1) imports marketplace.models"),
    (_tree(storage___store="from marketplace.settings import Settings\n", settings=""),
     "storage imports marketplace: storage._store (line 1) imports marketplace.settings"),
    (_tree(devstack__stack="from marketplace.accounts.demo import load\n", accounts__demo=""),
     "devstack imports beyond lib/errors/settings: marketplace.devstack.stack (line 1) imports "
     "marketplace.accounts.demo"),
    (_tree(system__health="from marketplace.vendors.models import Dps\n", vendors__models=""),
     "system imports a domain (vendors): marketplace.system.health (line 1) imports marketplace.vendors.models"),
    (_tree(uploads="from marketplace.tenders.errors import OfferSealed\n", tenders__errors=""),
     "shared kernel imports a domain or a composition root: marketplace.uploads (line 1) imports "
     "marketplace.tenders.errors"),
    (_tree(tenders__jobs="from marketplace.worker import WorkerSettings\n", worker=""),
     "domain imports a composition root: marketplace.tenders.jobs (line 1) imports marketplace.worker"),
    (_tree(vendors__admissions="from marketplace.web.queue import work_queue\n", web__queue=""),
     "domain imports a composition root: marketplace.vendors.admissions (line 1) imports marketplace.web.queue"),
])
def test_the_other_boundaries_are_reported(modules: dict[str, str], expected: str) -> None:
    assert expected in violations(modules)
