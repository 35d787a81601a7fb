"""The bulk import of SONS orders from CSV (issue 16, must show 2): 5,000 rows with 50 bad ones import the 4,950 good
ones and report the 50 by line with their rule; importing the same file again creates nothing. Orders are checked by
the guards of `POST /sons/orders`; the CLI reads the same files."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from stdnum import luhn

from marketplace.lib.clock import FrozenClock
from marketplace.settings import Settings
from marketplace.sons.models import SonsOrder, SonsOrderSite
from tests.sons.api import HT, T1_CEILING, TTC, VAT, Client, dispositif, ok, problem, solution
from tests.world import World

HOLDER_EJ, HOLDER_SIREN = "750712184", "775672272"
HEADER = ["orderRef", "ogFinessEj", "solution", "installationScenario", "tranche", "amountHtCents", "vatRateBp",
          "amountTtcCents", "finessEt", "siret", "category"]


def siret(n: int, siren: str = HOLDER_SIREN) -> str:
    """The n-th establishment of a SIREN, with its Luhn key (domain.md §2.2)."""
    head = f"{siren}{n:04d}"
    return head + luhn.calc_check_digit(head)


FOREIGN_SIREN = "12345678" + luhn.calc_check_digit("12345678")


def csv_bytes(rows: list[dict[str, Any]], delimiter: str = ",", header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def row(ref: str, number: str, **changes: Any) -> dict[str, Any]:
    return {"orderRef": ref, "ogFinessEj": HOLDER_EJ, "solution": number, "installationScenario": "on-premise",
            "tranche": "T1", "amountHtCents": HT, "vatRateBp": VAT, "amountTtcCents": TTC, "finessEt": "",
            "siret": "", "category": ""} | changes


# Ten ways a row goes wrong, each five times in the big file: (changes to the row, the rule, the column).
def _bad(kind: int, i: int) -> tuple[dict[str, Any], str, str]:
    return [
        ({"amountHtCents": T1_CEILING + 1, "amountTtcCents": (T1_CEILING + 1) * 12 // 10}, "SN1", "amountHtCents"),
        ({"amountTtcCents": TTC + 1}, "domain.md §5.3", "amountTtcCents"),
        ({"siret": siret(i, FOREIGN_SIREN)}, "domain.md §2.3", "siret"),
        ({"siret": siret(i)[:-1] + str((int(siret(i)[-1]) + 1) % 10)}, "domain.md §2.2", "siret"),
        ({"tranche": "T9"}, "SN1", "tranche"),
        ({"installationScenario": "cloud"}, "§5.3", "installationScenario"),
        ({"siret": siret(i - 1)}, "SN4", "siret"),  # the previous row's site, ordered by that row
        ({"amountHtCents": "12 000,00"}, "CSV", "amountHtCents"),
        ({"ogFinessEj": "750000010"}, "domain.md §2.3", "ogFinessEj"),  # a facility's ET, not an OG's EJ
        ({"solution": "ANS-INCONNU"}, "§5.2", "solution"),
    ][kind]


async def _count(settings: Settings, vendor: Any) -> int:
    engine = create_async_engine(settings.migration_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(SonsOrder)
                                          .where(SonsOrder.vendor_organisation_id == vendor)) or 0)
    finally:
        await engine.dispose()


async def _import(client: Client, world: World, data: bytes, person: str = "vendor_admin") -> Any:
    return await client.post("/sons/order-imports", content=data,
                             headers={**world[person].headers, "content-type": "text/csv"})


async def test_5000_rows_with_50_bad_import_the_good_ones_and_again_nothing(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    found = await dispositif(client, world, settings, clock.now())
    sol = await solution(client, world, found["id"], clock.now())
    rows, bad = [], {}
    for i in range(5000):
        # The solution by its ANS number, or by its id on every third row.
        line = row(f"BDC-{i:05d}", sol["id"] if i % 3 == 0 else sol["referencingNumber"], siret=siret(i))
        if i % 100 == 37:
            changes, rule, column = _bad((i // 100) % 10, i)
            line |= changes
            bad[i + 2] = (rule, column)  # the header is line 1
        rows.append(line)
    data = csv_bytes(rows)

    started = time.perf_counter()
    report = ok(await _import(client, world, data), 200)
    elapsed = time.perf_counter() - started
    assert (report["rows"], report["orders"], report["created"], report["unchanged"], report["refusedRows"]) == (
        5000, 5000, 4950, 0, 50)
    assert {e["line"]: (e["rule"], e["column"]) for e in report["errors"]} == bad
    assert all(e["orderRef"] == f"BDC-{e['line'] - 2:05d}" and e["detail"] for e in report["errors"])
    assert await _count(settings, world.organisations["vendor"]) == 4950
    # Well under a minute on the shared 2-core machine (the bench measures it properly: bench/sons_import.py).
    assert elapsed < 60, elapsed

    again = ok(await _import(client, world, data), 200)
    assert (again["created"], again["unchanged"], again["refusedRows"]) == (0, 4950, 50)
    assert {e["line"]: (e["rule"], e["column"]) for e in again["errors"]} == bad
    assert again["sha256"] == report["sha256"]
    assert await _count(settings, world.organisations["vendor"]) == 4950


async def test_an_order_of_several_sites_and_what_refuses_a_file_or_an_order(
        client: Client, world: World, settings: Settings, clock: FrozenClock) -> None:
    found = await dispositif(client, world, settings, clock.now())
    number = (await solution(client, world, found["id"], clock.now()))["referencingNumber"]
    # Two rows, one order: its FINESS site and one of its SIRETs; `;`-separated with a BOM, as a spreadsheet saves.
    rows = [row("BDC-A", number, finessEt="750000010"), row("BDC-A", number, siret=siret(1)),
            # Rows of one order that disagree: the order is refused whole, each row reported.
            row("BDC-B", number, siret=siret(2)), row("BDC-B", number, siret=siret(3), tranche="T2"),
            # A row with its order (line 7) refused because of its other row (line 8).
            row("BDC-C", number, siret=siret(4)), row("BDC-C", number, siret=siret(1))]
    data = b"\xef\xbb\xbf" + csv_bytes(rows, delimiter=";")
    report = ok(await _import(client, world, data), 200)
    assert (report["orders"], report["created"], report["refusedRows"]) == (3, 1, 4)
    errors = {e["line"]: e for e in report["errors"]}
    assert errors[5]["column"] == "tranche" and errors[5]["rule"] == "CSV"
    assert sorted(errors) == [4, 5, 6, 7]
    assert (errors[7]["column"], errors[7]["rule"]) == ("siret", "SN4")
    assert errors[6]["column"] is None and "line 7" in errors[6]["detail"]
    orders = ok(await client.get("/sons/orders", headers=world["holder_member"].headers), 200)
    assert [(o["orderRef"], len(o["sites"]), o["status"]) for o in orders] == [("BDC-A", 2, "draft")]

    # The same reference with other values: the import never edits an order.
    changed = ok(await _import(client, world, csv_bytes([row("BDC-A", number, finessEt="750000010",
                                                             amountHtCents=HT - 100,
                                                             amountTtcCents=(HT - 100) * 12 // 10)])), 200)
    assert (changed["created"], changed["errors"][0]["column"]) == (0, "orderRef")

    # A file that is not one: a missing column, not UTF-8, not CSV.
    missing = await _import(client, world, csv_bytes([row("X", number)], header=[*HEADER[:4], "siret"]))
    assert problem(missing, 422, "CSV")["field"] == "header"
    problem(await _import(client, world, b"orderRef,\xff\n"), 422, "CSV")
    wrong_type = await client.post("/sons/order-imports", content=data,
                                   headers={**world["vendor_admin"].headers, "content-type": "application/json"})
    assert wrong_type.status_code == 415
    # Only the vendor's admin or bid manager imports.
    assert (await _import(client, world, data, "vendor_member")).status_code == 403
    assert (await _import(client, world, data, "holder_admin")).status_code == 403


async def test_the_cli_imports_with_a_progress_bar_and_nothing_twice(
        client: Client, world: World, settings: Settings, tmp_path: Path) -> None:
    # The CLI runs on the system clock: the dispositif's calendar is set around the real time.
    now = datetime.now(UTC)
    found = await dispositif(client, world, settings, now)
    number = (await solution(client, world, found["id"], now))["referencingNumber"]
    path = tmp_path / "commandes.csv"
    path.write_bytes(csv_bytes([row(f"CLI-{i}", number, siret=siret(100 + i)) for i in range(30)]
                               + [row("CLI-BAD", number, siret=siret(200), tranche="T9")]))
    errors = tmp_path / "refus.csv"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "marketplace", "import-sons-orders", *args],
                              env={**os.environ, **settings.to_env()}, capture_output=True, text=True, timeout=120,
                              check=False)

    first = cli(str(path), "--vendor", "443061841", "--errors", str(errors))
    assert first.returncode == 1, first.stderr
    assert "31 rows, 31 orders: 30 created, 0 unchanged, 1 row(s) refused." in first.stdout
    assert "line 32: CLI-BAD tranche [SN1]" in first.stdout
    assert "commandes.csv" in first.stderr  # the progress bar, on stderr
    assert list(csv.reader(errors.open()))[1][:4] == ["32", "CLI-BAD", "tranche", "SN1"]
    second = cli(str(path), "--vendor", str(world.organisations["vendor"]))
    assert "0 created, 30 unchanged, 1 row(s) refused." in second.stdout
    assert cli(str(path), "--vendor", "000000000").returncode != 0
    engine = create_async_engine(settings.migration_url)
    try:
        async with engine.connect() as conn:
            sites = await conn.scalar(select(func.count()).select_from(SonsOrderSite)
                                      .where(SonsOrderSite.siret.like(f"{HOLDER_SIREN}%")))
    finally:
        await engine.dispose()
    assert sites == 30
