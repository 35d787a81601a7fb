"""Bulk import of a vendor's orders from CSV, one row per site (issue 16): an editor's back office drafts its orders
in one file rather than one `POST /sons/orders` each.

The file: UTF-8 (a BOM is fine), separated by `,` or `;` (read from the header line), a header row naming the
columns (`COLUMNS`; order: any). The rows of one order share its `orderRef` and repeat its order columns, which
must agree; each row adds one site (`finessEt` or `siret`, `category` optional). An order is drafted exactly as
`POST /sons/orders` drafts it: the same guards (checks.py: the solution, its scenario, the order deadline, the OG,
the ceiling, VAT and TTC, SN2, SN3, the sites of the OG, SN4), read from lookups loaded in batches.

What comes back is a report: how many rows and orders were read, created, found unchanged, refused, and for each
refused row its line number, its order, the column at fault and the rule with the reason. An order with a bad row is
refused whole (its other rows are reported with it); the other orders are created. `(vendor, orderRef)` is the
natural key: an order that exists is left alone, reported unchanged when the file says the same as the order, and
refused (the import never edits an order) when it says otherwise; importing the same file twice creates nothing twice.

Orders are written by chunks, one transaction each (`run_import`): a chunk is checked, then written, so no refused
row rolls back a good one, and a long file holds no lock for its whole length. A chunk beaten to a site or a
reference by a concurrent draft (a unique constraint fires) is checked and written again, and the loser is then
reported like any refused row. Each chunk is audited with the file's SHA-256, its lines and the orders created.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.models import Organisation
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import OrganisationKind
from marketplace.errors import DomainError, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.lib.identifiers import normalise
from marketplace.sons import schemas
from marketplace.sons.access import vendor_acting
from marketplace.sons.checks import check_order, load_lookups
from marketplace.sons.models import SonsOrder, SonsOrderSite, SonsSolution
from marketplace.uploads import check_declared, read_limited

MEDIA_TYPES = ["text/csv"]
MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
CHUNK_ORDERS = 1_000

# Column → what it holds. The order columns repeat on each row of the order; the site columns are the row's own.
ORDER_COLUMNS = {
    "orderRef": "the vendor's reference of the order (with the vendor, the order's natural key)",
    "ogFinessEj": "the FINESS EJ of the holder's OG the order is for",
    "solution": "the solution: its id, or its ANS referencing number",
    "installationScenario": "one of the solution's referenced installation scenarios",
    "tranche": "the tranche of the dispositif's ceiling table in force",
    "amountHtCents": "the HT amount in cents (≤ the tranche's ceiling, SN1)",
    "vatRateBp": "the VAT rate in basis points (2000 = 20 %)",
    "amountTtcCents": "the TTC amount in cents, to the cent",
    "subscriptionExcluded": "optional, true/false (default false): required true for a SaaS solution (SN2)",
    "preReferencingMention": "optional: the AF's mention on an order before referencing (SN3)",
}
SITE_COLUMNS = {
    "finessEt": "the site's FINESS ET (or leave it empty and give its SIRET)",
    "siret": "the site's SIRET (or leave it empty and give its FINESS ET)",
    "category": "optional: the site's ESSMS category code",
}
COLUMNS = ORDER_COLUMNS | SITE_COLUMNS
_REQUIRED = [c for c, meaning in ORDER_COLUMNS.items() if not meaning.startswith("optional")]
_INTEGERS = ("amountHtCents", "vatRateBp", "amountTtcCents")
_API_TO_COLUMN = {"holderOrganisationId": "ogFinessEj", "solutionId": "solution"}
_SITE_FIELD = re.compile(r"^sites\[(\d+)\](?:\.(\w+))?")


class ImportRefused(RuleViolation):
    """The file as a whole is not an order import (nothing was read from it)."""

    slug = "sons-import-refused"


@dataclass
class _Pending:
    """One order as the file gives it: its rows' line numbers and values, not checked yet."""

    order_ref: str
    lines: list[int] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)
    sites: list[dict[str, str | None]] = field(default_factory=list)


@dataclass
class _Report:
    rows: int = 0
    orders: int = 0
    created: int = 0
    unchanged: int = 0
    errors: list[schemas.ImportRowError] = field(default_factory=list)

    def refuse(self, pending: _Pending, exc: DomainError) -> None:
        """The order's rows refused: the row at fault with the reason, the others with it."""
        name = str(exc.extra.get("field") or "")
        rule = exc.extra.get("rule")
        column, at = _API_TO_COLUMN.get(name, name), 0
        match = _SITE_FIELD.match(name)
        if match:
            at = int(match.group(1))
            site = pending.sites[at] if at < len(pending.sites) else {}
            column = match.group(2) or ("finessEt" if site.get("finessEt") else "siret")
        at = min(at, len(pending.lines) - 1)
        detail = exc.detail
        self.errors.append(schemas.ImportRowError(line=pending.lines[at], order_ref=pending.order_ref,
                                               column=column or None, rule=rule, detail=detail))
        for index, line in enumerate(pending.lines):
            if index != at:
                self.errors.append(schemas.ImportRowError(
                    line=line, order_ref=pending.order_ref, column=None, rule=rule,
                    detail=f"refused with its order {pending.order_ref} (line {pending.lines[at]}: {detail})"))

    def schema(self, sha256: str) -> schemas.ImportReport:
        self.errors.sort(key=lambda e: e.line)
        return schemas.ImportReport(sha256=sha256, rows=self.rows, orders=self.orders, created=self.created,
                                    unchanged=self.unchanged, refused_rows=len(self.errors), errors=self.errors)


def _decode(data: bytes) -> tuple[list[str], csv.DictReader[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"body: the file is not UTF-8 (byte {exc.start}); nothing was imported", field="body",
                            rule="CSV") from None
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in _REQUIRED if c not in columns]
    if "finessEt" not in columns and "siret" not in columns:
        missing.append("finessEt or siret")
    if missing:
        raise ImportRefused(f"header: the file lacks the column(s) {', '.join(missing)}; nothing was imported "
                            f"(columns: {', '.join(COLUMNS)})", field="header", rule="CSV", missing=missing)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise ImportRefused(f"header: unknown column(s) {', '.join(unknown)}; nothing was imported", field="header",
                            rule="CSV", unknown=unknown)
    return columns, reader


def parse(data: bytes, report: _Report) -> list[_Pending]:
    """The file's orders in the order they first appear; rows that can't be read are reported at once."""
    _, reader = _decode(data)
    orders: dict[str, _Pending] = {}
    bad: set[str] = set()
    line = 1
    try:
        for row in reader:
            start, line = line + 1, reader.line_num
            report.rows += 1
            if report.rows > MAX_ROWS:
                raise ImportRefused(f"body: more than {MAX_ROWS} rows; split the file", field="body", rule="CSV")
            if None in row:  # more cells than columns
                report.errors.append(schemas.ImportRowError(line=start, order_ref=None, column=None, rule="CSV",
                                                         detail="the row has more cells than the header"))
                continue
            values = {k: (v or "").strip() for k, v in row.items()}
            reference = values.get("orderRef", "")
            if not reference:
                report.errors.append(schemas.ImportRowError(line=start, order_ref=None, column="orderRef", rule="CSV",
                                                         detail="orderRef: every row names its order"))
                continue
            order_values = {c: values.get(c, "") for c in ORDER_COLUMNS}
            pending = orders.get(reference)
            if pending is None:
                pending = orders[reference] = _Pending(order_ref=reference, values=order_values)
            else:
                differing = next((c for c in ORDER_COLUMNS if pending.values[c] != order_values[c]), None)
                if differing is not None:
                    bad.add(reference)
                    report.errors.append(schemas.ImportRowError(
                        line=start, order_ref=reference, column=differing, rule="CSV",
                        detail=f"{differing}: the rows of order {reference} repeat its order columns; this one says "
                               f"{order_values[differing]!r}, line {pending.lines[0]} said "
                               f"{pending.values[differing]!r}"))
            pending.lines.append(start)
            pending.sites.append({"finessEt": values.get("finessEt") or None, "siret": values.get("siret") or None,
                                  "category": values.get("category") or None})
    except csv.Error as exc:
        raise ImportRefused(f"body: line {reader.line_num}: not CSV ({exc}); nothing was imported", field="body",
                            rule="CSV") from None
    for reference in bad:
        pending = orders.pop(reference)
        report.refuse(pending, RuleViolation(f"the rows of order {reference} disagree on its order columns",
                                             rule="CSV"))
        # The rows already reported for disagreeing are not reported twice.
        seen: set[int] = set()
        kept = []
        for error in report.errors:
            if error.order_ref == reference and error.line in seen:
                continue
            if error.order_ref == reference:
                seen.add(error.line)
            kept.append(error)
        report.errors = kept
    report.orders = len(orders) + len(bad)
    return list(orders.values())


def _integer(pending: _Pending, column: str) -> int:
    value = pending.values[column].replace(" ", "")
    if not re.fullmatch(r"-?[0-9]{1,15}", value):
        raise RuleViolation(f"{column}: a whole number ({'cents' if 'Cents' in column else 'basis points'}), "
                            f"not {pending.values[column]!r}", field=column, rule="CSV")
    return int(value)


def _boolean(pending: _Pending, column: str) -> bool:
    value = pending.values[column].casefold()
    if value in ("", "false", "0", "non", "no"):
        return False
    if value in ("true", "1", "oui", "yes"):
        return True
    raise RuleViolation(f"{column}: true or false, not {pending.values[column]!r}", field=column, rule="CSV")


class OrderImportService:
    """One chunk of a file's orders, checked and written in the caller's transaction (flushed, never committed)."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def _solutions(self, vendor_id: uuid.UUID) -> dict[str, uuid.UUID]:
        """The vendor's solutions by id and by ANS referencing number, as the `solution` column names them."""
        found: dict[str, uuid.UUID] = {}
        for solution_id, number in (await self.session.execute(
                select(SonsSolution.id, SonsSolution.referencing_number)
                .where(SonsSolution.vendor_organisation_id == vendor_id))).all():
            found[str(solution_id)] = solution_id
            if number:
                found[number] = solution_id
        return found

    def _draft(self, pending: _Pending, ogs: dict[str, uuid.UUID],
               solutions: dict[str, uuid.UUID]) -> schemas.OrderCreate:
        """The order as the API's body, so the Struct's own constraints apply too."""
        values = pending.values
        og = ogs.get(normalise(values["ogFinessEj"]))
        if og is None:
            raise RuleViolation(f"ogFinessEj: §5.3: no OG of the platform has the FINESS EJ {values['ogFinessEj']!r}",
                                field="ogFinessEj", rule="domain.md §2.3")
        solution = solutions.get(values["solution"]) or solutions.get(values["solution"].lower())
        if solution is None:
            raise RuleViolation(f"solution: §5.2: no solution of yours has the id or ANS referencing number "
                                f"{values['solution']!r}", field="solution", rule="§5.2")
        body: dict[str, Any] = {
            "orderRef": pending.order_ref, "holderOrganisationId": str(og), "solutionId": str(solution),
            "installationScenario": values["installationScenario"], "tranche": values["tranche"],
            "subscriptionExcluded": _boolean(pending, "subscriptionExcluded"),
            "preReferencingMention": values["preReferencingMention"] or None,
            "sites": [{k: v for k, v in site.items() if v is not None} for site in pending.sites],
        } | {column: _integer(pending, column) for column in _INTEGERS}
        try:
            return msgspec.convert(body, schemas.OrderCreate)
        except msgspec.ValidationError as exc:
            message = str(exc)
            path = message.rpartition("at `$.")[2].rstrip("`") if "at `$." in message else ""
            reason = message.partition(" - at ")[0]
            raise RuleViolation(f"{path or 'row'}: {reason}", field=path or None,
                                rule="CSV") from None

    async def import_chunk(self, actor: str, vendor_id: uuid.UUID, chunk: list[_Pending], report: _Report, *,
                           sha256: str) -> None:
        ej = {normalise(p.values["ogFinessEj"]) for p in chunk}
        ogs = {o.finess_ej: o.id for o in (await self.session.scalars(select(Organisation).where(
            Organisation.finess_ej.in_(ej), Organisation.kind == OrganisationKind.HOLDER))).all() if o.finess_ej}
        solutions = await self._solutions(vendor_id)
        drafts: list[tuple[_Pending, schemas.OrderCreate]] = []
        for pending in chunk:
            try:
                drafts.append((pending, self._draft(pending, ogs, solutions)))
            except DomainError as exc:
                report.refuse(pending, exc)
        existing = await self._existing(vendor_id, [d.order_ref for _, d in drafts])
        lookups = await load_lookups(self.session, self.clock.now(), vendor_id, [d for _, d in drafts])
        written: list[tuple[SonsOrder, Any]] = []
        for pending, draft in drafts:
            same = existing.get(draft.order_ref)
            if same is not None:
                if same == _signature(draft, lookups.solutions):
                    report.unchanged += 1
                else:
                    report.refuse(pending, RuleViolation(
                        f"orderRef: an order {draft.order_ref} exists with other values; an import never edits an "
                        "order", field="orderRef", rule="CSV"))
                continue
            try:
                checked = check_order(lookups, vendor_id, draft)
            except DomainError as exc:
                report.refuse(pending, exc)
                continue
            lookups.hold(vendor_id, checked)
            written.append((checked.order(draft, vendor_id, actor), checked))
        if not written:
            return
        self.session.add_all(order for order, _ in written)
        await self.session.flush()
        self.session.add_all(site for order, checked in written for site in checked.site_rows(order.id))
        await self.session.flush()
        report.created += len(written)
        await audit.record(self.session, self.clock, "sons_order.imported", actor=actor, organisation_id=vendor_id,
                           target_type="sons_order_import", target_id=sha256,
                           details={"sha256": sha256, "lines": [chunk[0].lines[0], chunk[-1].lines[-1]],
                                    "orders": [order.order_ref for order, _ in written]})

    async def _existing(self, vendor_id: uuid.UUID, references: list[str]) -> dict[str, tuple[Any, ...]]:
        """The orders of these references that exist, each as what a row would say of it (see `_signature`)."""
        if not references:
            return {}
        # Columns, not entities: a re-import reads every order of the file, and hydrating them is most of its cost.
        orders = {o.id: o for o in (await self.session.execute(select(
            SonsOrder.id, SonsOrder.order_ref, SonsOrder.holder_organisation_id, SonsOrder.solution_id,
            SonsOrder.installation_scenario, SonsOrder.tranche, SonsOrder.amount_ht_cents, SonsOrder.vat_rate_bp,
            SonsOrder.amount_ttc_cents, SonsOrder.subscription_excluded).where(
            SonsOrder.vendor_organisation_id == vendor_id, SonsOrder.order_ref.in_(references)))).all()}
        sites: dict[uuid.UUID, set[str]] = {i: set() for i in orders}
        if orders:
            for order_id, beneficiary in (await self.session.execute(
                    select(SonsOrderSite.order_id, SonsOrderSite.beneficiary)
                    .where(SonsOrderSite.order_id.in_(list(orders))))).all():
                sites[order_id].add(beneficiary)
        return {o.order_ref: (o.holder_organisation_id, o.solution_id, o.installation_scenario, o.tranche,
                              o.amount_ht_cents, o.vat_rate_bp, o.amount_ttc_cents, o.subscription_excluded,
                              frozenset(sites[o.id])) for o in orders.values()}


def _signature(draft: schemas.OrderCreate, solutions: dict[uuid.UUID, SonsSolution]) -> tuple[Any, ...]:
    beneficiaries = frozenset(f"FINESS:{normalise(s.finess_et)}" if s.finess_et else f"SIRET:{normalise(s.siret or '')}"
                              for s in draft.sites)
    return (draft.holder_organisation_id, draft.solution_id, draft.installation_scenario.strip(),
            draft.tranche.strip(), draft.amount_ht_cents, draft.vat_rate_bp, draft.amount_ttc_cents,
            draft.subscription_excluded, beneficiaries)


async def run_import(sessions: async_sessionmaker[AsyncSession], clock: Clock, *, actor: str,
                     vendor_id: uuid.UUID, data: bytes, progress: Callable[[int, int], None] | None = None,
                     chunk_orders: int = CHUNK_ORDERS) -> schemas.ImportReport:
    """Import a file of orders for a vendor, one transaction per chunk of orders (the caller has checked that the
    actor may act for the vendor). `progress(rows done, rows)` is called after each chunk."""
    sha256 = hashlib.sha256(data).hexdigest()
    report = _Report()
    pending = parse(data, report)
    done = report.rows - sum(len(p.lines) for p in pending)
    if progress is not None:
        progress(done, report.rows)
    for start in range(0, len(pending), chunk_orders):
        chunk = pending[start:start + chunk_orders]
        for attempt in range(3):
            attempt_report = _Report()
            try:
                async with sessions() as session, session.begin():
                    await OrderImportService(session, clock).import_chunk(actor, vendor_id, chunk, attempt_report,
                                                                          sha256=sha256)
                break
            except IntegrityError:
                # A concurrent draft took a site or a reference between the check and the write: check again (the
                # chunk's lookups now see it, and its loser is reported as a refused row).
                if attempt == 2:
                    raise
        report.created += attempt_report.created
        report.unchanged += attempt_report.unchanged
        report.errors.extend(attempt_report.errors)
        done += sum(len(p.lines) for p in chunk)
        if progress is not None:
            progress(done, report.rows)
    return report.schema(sha256)


class OrderImports:
    """The import through the API: a vendor's back office sends its file as the raw body."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    async def upload(self, principal: Principal, vendor_id: uuid.UUID | None, *, declared_type: str,
                     declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.ImportReport:
        vendor = vendor_acting(principal, vendor_id)
        check_declared(declared_type, declared_size, MEDIA_TYPES, MAX_BYTES, "an import of orders")
        data = await read_limited(body, MAX_BYTES, "an import of orders")
        return await run_import(self.sessions, self.clock, actor=principal.label, vendor_id=vendor, data=data)
