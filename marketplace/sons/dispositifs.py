"""The dispositifs and their calendars (SN1), and their ceiling tables imported as data.

A dispositif is one scheme of one wave, with its legal basis and its acceptance kind (VA or MOM). Its calendar (the
AF version, the referencing window, the proof-file, order, advance, balance and deployment deadlines as instants in
Europe/Paris, the advance ratio, the pre-referencing window of SN3 and, for MS1/MS2, the instant from which a balance
carries the MSS case of SN6) is a list of versions: an arrêté amending it appends a version, never edits one, and an
order keeps the version it was signed under. The operator (platform admin) keeps them.

Ceiling tables: the AF annex's tranches and their HT ceilings are data, never code. `import_ceilings` loads a JSON file
`{"dispositif": code, "wave": n, "tranches": [{"tranche", "label", "ceilingHtCents", "vatRateBp"}]}` as a new table
version of the dispositif, refused as a whole if anything is malformed; importing the file the table in force came
from (same SHA-256) again changes nothing. The CLI command `import-sons-ceilings` runs it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict, NotFound, RuleViolation
from marketplace.lib.clock import Clock
from marketplace.sons import schemas
from marketplace.sons.base import SonsBase, instant
from marketplace.sons.models import SonsCalendar, SonsCeiling, SonsCeilingTable, SonsDispositif

IMPORT_COMMAND = "./run import-sons-ceilings plafonds.json --version AF-2022-annexe-3"
_IMPORT_LOCK = 0x4D4B_534F_4E53_4345  # "MKSONSCE": one importer of ceiling tables at a time
_NOT_FOUND = "No SONS dispositif has this id."


class CeilingFileRefused(ValueError):
    """The ceiling file is not one (nothing was imported)."""


def parse_ceiling_file(source: str, data: bytes) -> tuple[str, int, list[dict[str, Any]]]:  # noqa: PLR0912
    """(dispositif code, wave, tranches) of a ceiling file; refuses the whole file on any malformed entry."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CeilingFileRefused(f"{source}: not UTF-8 JSON ({exc}), nothing imported") from None
    if not isinstance(document, dict):
        raise CeilingFileRefused(f"{source}: expected one JSON object, nothing imported")
    code, wave, tranches = document.get("dispositif"), document.get("wave"), document.get("tranches")
    problems: list[str] = []
    if not isinstance(code, str) or not code.strip():
        problems.append("`dispositif` must name the dispositif's code")
    if not isinstance(wave, int) or isinstance(wave, bool) or wave < 1:
        problems.append("`wave` must be a positive integer")
    if not isinstance(tranches, list) or not tranches:
        problems.append("`tranches` must be a non-empty list")
        tranches = []
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for index, entry in enumerate(tranches):
        where = f"tranches[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: not an object")
            continue
        name, label = entry.get("tranche"), entry.get("label")
        ceiling, vat = entry.get("ceilingHtCents"), entry.get("vatRateBp")
        if not isinstance(name, str) or not 0 < len(name.strip()) <= 40:
            problems.append(f"{where}.tranche: 1 to 40 characters")
            continue
        if name.strip() in seen:
            problems.append(f"{where}.tranche: {name} is listed twice")
        seen.add(name.strip())
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{where}.label: a non-empty string")
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 0 < ceiling <= 10**13:
            problems.append(f"{where}.ceilingHtCents: a positive integer of cents")
        if not isinstance(vat, int) or isinstance(vat, bool) or not 0 <= vat <= 10_000:
            problems.append(f"{where}.vatRateBp: basis points from 0 to 10000")
        rows.append({"tranche": name.strip(), "label": str(label).strip(), "ceiling_ht_cents": ceiling,
                     "vat_rate_bp": vat})
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise CeilingFileRefused(f"{source}: not a ceiling table, nothing imported: {shown}")
    assert isinstance(code, str) and isinstance(wave, int)
    return code.strip(), wave, rows


async def current_ceiling_table(session: AsyncSession, dispositif_id: uuid.UUID) -> SonsCeilingTable | None:
    return await session.scalar(select(SonsCeilingTable).where(SonsCeilingTable.dispositif_id == dispositif_id)
                                .order_by(SonsCeilingTable.imported_at.desc(), SonsCeilingTable.id.desc()).limit(1))


async def import_ceilings(session: AsyncSession, clock: Clock, source: Path | str, data: bytes,
                          version: str | None) -> tuple[SonsCeilingTable, bool]:
    """SN1: import a ceiling table for its dispositif, in the caller's transaction. Returns the table in force and
    whether this call imported it (False: the file is the one the table in force came from)."""
    digest = hashlib.sha256(data).hexdigest()
    name = (version or digest[:12]).strip()
    if not name or len(name) > 64:
        raise CeilingFileRefused("the table's version must be 1 to 64 characters")
    code, wave, rows = parse_ceiling_file(str(source), data)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})
    dispositif = await session.scalar(select(SonsDispositif).where(SonsDispositif.code == code,
                                                                   SonsDispositif.wave == wave))
    if dispositif is None:
        raise CeilingFileRefused(f"{source}: no dispositif {code} of wave {wave}; the operator creates it first "
                                 "(POST /sons/dispositifs)")
    latest = await current_ceiling_table(session, dispositif.id)
    if latest is not None and latest.sha256 == digest:
        return latest, False
    if await session.scalar(select(SonsCeilingTable.id).where(SonsCeilingTable.dispositif_id == dispositif.id,
                                                              SonsCeilingTable.version == name)):
        raise CeilingFileRefused(f"version {name!r} already names another ceiling table of {code}; give this one "
                                 "another --version")
    table = SonsCeilingTable(dispositif_id=dispositif.id, version=name, source=str(source), sha256=digest,
                             imported_at=clock.now())
    session.add(table)
    await session.flush()
    session.add_all(SonsCeiling(table_id=table.id, **row) for row in rows)
    await session.flush()
    return table, True


def _calendar_schema(row: SonsCalendar) -> schemas.Calendar:
    return schemas.Calendar(
        version=row.version, af_version=row.af_version, referencing_opens_at=row.referencing_opens_at,
        referencing_closes_at=row.referencing_closes_at, proof_file_deadline=row.proof_file_deadline,
        order_deadline=row.order_deadline, advance_deadline=row.advance_deadline,
        balance_deadline=row.balance_deadline, deployment_deadline=row.deployment_deadline,
        advance_ratio_bp=row.advance_ratio_bp, pre_referencing_days=row.pre_referencing_days,
        mss_indicator_from=row.mss_indicator_from, reason=row.reason, changed_at=row.changed_at)


async def current_calendar(session: AsyncSession, dispositif_id: uuid.UUID) -> SonsCalendar:
    calendar = await session.scalar(select(SonsCalendar).where(SonsCalendar.dispositif_id == dispositif_id)
                                    .order_by(SonsCalendar.version.desc()).limit(1))
    assert calendar is not None  # a dispositif is created with its first version
    return calendar


class DispositifService(SonsBase):
    def _calendar_row(self, principal: Principal, dispositif_id: uuid.UUID, version: int,
                      data: schemas.CalendarCreate) -> SonsCalendar:
        at = {name: instant(getattr(data, name), name) for name in (
            "referencing_opens_at", "referencing_closes_at", "proof_file_deadline", "order_deadline",
            "advance_deadline", "balance_deadline", "deployment_deadline")}
        if at["referencing_closes_at"] <= at["referencing_opens_at"]:
            raise RuleViolation("calendar.referencingClosesAt: SN1: the referencing window closes after it opens",
                                field="calendar.referencingClosesAt", rule="SN1")
        for later, earlier in (("advance_deadline", "order_deadline"), ("deployment_deadline", "order_deadline"),
                               ("balance_deadline", "advance_deadline")):
            if at[later] < at[earlier]:
                field = "calendar." + "".join(w.capitalize() if i else w for i, w in enumerate(later.split("_")))
                raise RuleViolation(f"{field}: SN1: the {later.replace('_', ' ')} is not before the "
                                    f"{earlier.replace('_', ' ')}", field=field, rule="SN1")
        mss_from = instant(data.mss_indicator_from, "mssIndicatorFrom") if data.mss_indicator_from else None
        return SonsCalendar(dispositif_id=dispositif_id, version=version, af_version=data.af_version.strip(),
                            advance_ratio_bp=data.advance_ratio_bp, pre_referencing_days=data.pre_referencing_days,
                            mss_indicator_from=mss_from, reason=data.reason, changed_by=principal.label,
                            changed_at=self.clock.now(), **at)

    async def create(self, principal: Principal, data: schemas.DispositifCreate) -> schemas.Dispositif:
        if await self.session.scalar(select(SonsDispositif.id).where(SonsDispositif.code == data.code,
                                                                     SonsDispositif.wave == data.wave)):
            raise Conflict(f"code: SN1: the dispositif {data.code} of wave {data.wave} exists already",
                           field="code", rule="SN1")
        dispositif = SonsDispositif(code=data.code, wave=data.wave, label=data.label.strip(),
                                    legal_basis=data.legal_basis.strip(), acceptance_kind=data.acceptance_kind,
                                    created_by=principal.label)
        self.session.add(dispositif)
        await self.session.flush()
        calendar = self._calendar_row(principal, dispositif.id, 1, data.calendar)
        self.session.add(calendar)
        await self.session.flush()
        await self._audit(principal, "sons_dispositif.created", organisation_id=None, target_type="sons_dispositif",
                          target_id=dispositif.id, code=dispositif.code, wave=dispositif.wave,
                          af_version=calendar.af_version)
        return await self.get(dispositif.id)

    async def amend_calendar(self, principal: Principal, dispositif_id: uuid.UUID,
                             data: schemas.CalendarCreate) -> schemas.Dispositif:
        """SN1: a calendar change is a new version (with its reason), the previous ones kept."""
        dispositif = await self.session.scalar(select(SonsDispositif).where(SonsDispositif.id == dispositif_id)
                                               .with_for_update())
        if dispositif is None:
            raise NotFound(_NOT_FOUND)
        if data.reason is None:
            raise RuleViolation("reason: SN1: a new calendar version says why (the arrêté amending it)",
                                field="reason", rule="SN1")
        previous = await current_calendar(self.session, dispositif.id)
        calendar = self._calendar_row(principal, dispositif.id, previous.version + 1, data)
        self.session.add(calendar)
        await self.session.flush()
        await self._audit(principal, "sons_dispositif.calendar_versioned", organisation_id=None,
                          target_type="sons_dispositif", target_id=dispositif.id, version=calendar.version,
                          previous_order_deadline=previous.order_deadline.isoformat(),
                          order_deadline=calendar.order_deadline.isoformat(), reason=data.reason)
        return await self.get(dispositif.id)

    async def get(self, dispositif_id: uuid.UUID) -> schemas.Dispositif:
        dispositif = await self.session.get(SonsDispositif, dispositif_id)
        if dispositif is None:
            raise NotFound(_NOT_FOUND)
        return (await self._schemas([dispositif]))[0]

    async def list_all(self) -> list[schemas.Dispositif]:
        rows = (await self.session.scalars(select(SonsDispositif).order_by(SonsDispositif.code,
                                                                           SonsDispositif.wave))).all()
        return await self._schemas(list(rows))

    async def _schemas(self, dispositifs: list[SonsDispositif]) -> list[schemas.Dispositif]:
        ids = [d.id for d in dispositifs]
        calendars: dict[uuid.UUID, list[SonsCalendar]] = {i: [] for i in ids}
        for row in (await self.session.scalars(select(SonsCalendar).where(SonsCalendar.dispositif_id.in_(ids))
                                               .order_by(SonsCalendar.version.desc()))).all():
            calendars[row.dispositif_id].append(row)
        tables: dict[uuid.UUID, SonsCeilingTable] = {}
        for table in (await self.session.scalars(
                select(SonsCeilingTable).where(SonsCeilingTable.dispositif_id.in_(ids))
                .order_by(SonsCeilingTable.imported_at, SonsCeilingTable.id))).all():
            tables[table.dispositif_id] = table  # the latest wins
        ceilings: dict[uuid.UUID, list[schemas.Ceiling]] = {t.id: [] for t in tables.values()}
        for ceiling in (await self.session.scalars(select(SonsCeiling).where(SonsCeiling.table_id.in_(list(ceilings)))
                                               .order_by(SonsCeiling.tranche))).all():
            ceilings[ceiling.table_id].append(schemas.Ceiling(tranche=ceiling.tranche, label=ceiling.label,
                                                              ceiling_ht_cents=ceiling.ceiling_ht_cents,
                                                              vat_rate_bp=ceiling.vat_rate_bp))
        out = []
        for d in dispositifs:
            versions = [_calendar_schema(c) for c in calendars[d.id]]
            current = tables.get(d.id)
            out.append(schemas.Dispositif(
                id=d.id, code=d.code, wave=d.wave, label=d.label, legal_basis=d.legal_basis,
                acceptance_kind=d.acceptance_kind, calendar=versions[0], calendars=versions,
                ceiling_table=schemas.CeilingTable(version=current.version, sha256=current.sha256,
                                                   imported_at=current.imported_at, ceilings=ceilings[current.id])
                if current is not None else None))
        return out
