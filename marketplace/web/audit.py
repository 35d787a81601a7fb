"""The audit log: the chained events filtered, the chain's verification, an evidence bundle per object.

The same service methods as `GET /audit-events`, `/audit-events/verification` and `/audit-events/bundle`
(accounts/audit_log.py), under the same declarations: an organisation's admin reads its own organisation's
events, a platform admin every event and verifies the whole chain. The filters live in the URL (dates are Paris
days); pages go by keyset ("plus anciens" / "plus récents"), so an event recorded meanwhile never shifts a page.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from marketplace.accounts.audit_log import MAX_PAGE, AuditLogService, AuditQuery, InvalidAuditQuery
from marketplace.accounts.deps import provide_audit_log_service
from marketplace.accounts.roles import ADMINS, Role
from marketplace.accounts.schemas import AuditEvent, ChainVerification
from marketplace.lib.access import requires
from marketplace.lib.clock import InstantOutOfRange, check_year, format_paris
from marketplace.lib.files import safe_filename
from marketplace.lib.schemas import INT_MAX
from marketplace.web.pages import BASE_DEPENDENCIES, Caller, Viewer, done
from marketplace.web.security import PREFIX
from marketplace.web.tables import cell
from storage import content_disposition

JOURNAL = f"{PREFIX}/journal"
AuditLog = NamedDependency[AuditLogService]
_READERS = "As GET /audit-events: an organisation's admin reads its own organisation's events, a platform admin all."

TypeParam = Annotated[str | None, QueryParameter(name="type", max_length=50)]
IdParam = Annotated[str | None, QueryParameter(name="id", max_length=100)]
ActorParam = Annotated[str | None, QueryParameter(name="acteur", max_length=200)]
ActionParam = Annotated[str | None, QueryParameter(name="action", max_length=100)]
# Days as strings: the filter form sends its empty fields too (`du=`), which mean "no bound".
FromParam = Annotated[str | None, QueryParameter(name="du", max_length=10)]
ToParam = Annotated[str | None, QueryParameter(name="au", max_length=10)]
BeforeParam = Annotated[int | None, QueryParameter(name="avant", ge=1, le=INT_MAX)]
AfterParam = Annotated[int | None, QueryParameter(name="apres", ge=0, le=INT_MAX - 1)]
SizeParam = Annotated[int, QueryParameter(name="taille", ge=1, le=MAX_PAGE)]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Filters(msgspec.Struct):
    """The journal's filters as the URL carries them (empty ones left out)."""

    type: str | None = None
    id: str | None = None
    acteur: str | None = None
    action: str | None = None
    du: date | None = None
    au: date | None = None

    def query(self) -> AuditQuery:
        return AuditQuery(target_type=self.type or None, target_id=self.id or None, actor=self.acteur or None,
                          action=self.action or None, since=_day_start("du", self.du),
                          until=_day_start("au", self.au, next_day=True))

    def params(self, **more: object) -> str:
        values = {**msgspec.structs.asdict(self), **more}
        return urlencode({k: (v.isoformat() if isinstance(v, date) else v)
                          for k, v in values.items() if v not in (None, "")})


def _day(field: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        if _ISO_DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidAuditQuery(f"{field} : ce n'est pas un jour (AAAA-MM-JJ)", field=field)


def _filters(type: str | None, id: str | None, acteur: str | None, action: str | None, du: str | None,
             au: str | None) -> Filters:
    return Filters(type=type, id=id, acteur=acteur, action=action, du=_day("du", du), au=_day("au", au))


def _day_start(field: str, day: date | None, *, next_day: bool = False) -> datetime | None:
    """Midnight in Paris (naive: the service reads it as Paris time) of `day`, or of the day after it."""
    if day is None:
        return None
    try:
        check_year(day)
    except InstantOutOfRange as exc:
        raise InvalidAuditQuery(f"{field}: {exc}", field=field) from exc
    return datetime.combine(day + timedelta(days=1) if next_day else day, time.min)


def _verdict(report: ChainVerification) -> str:
    anchors = (f"{report.anchors_checked} ancrage(s) quotidien(s) horodaté(s) vérifié(s)"
               if report.anchors_checked else "aucun ancrage quotidien encore")
    if report.ok:
        return (f"Chaîne d'audit intègre : {report.checked} événement(s) vérifié(s), aucun maillon rompu ; "
                f"{anchors}.")
    parts = []
    if report.first_broken_id is not None:
        why = ("son contenu ne correspond plus à son empreinte (événement modifié)"
               if report.reason and "edited" in report.reason
               else "il ne suit pas l'empreinte de l'événement précédent (événement supprimé, inséré ou déplacé)")
        parts.append(f"Chaîne d'audit rompue au premier maillon n° {report.first_broken_id} : {why}. "
                     f"{report.checked} événement(s) intègre(s) avant lui.")
    if report.broken_anchor_day is not None:
        # G14: the chain rewritten after an edit verifies link by link, never against its anchors.
        parts.append(f"L'ancrage horodaté du {report.broken_anchor_day.strftime('%d/%m/%Y')} ne correspond plus "
                     f"à la chaîne ({report.anchor_reason}).")
    return " ".join(parts)


def journal_csv(events: list[AuditEvent]) -> str:
    """The evidence as machines read it (`,`, ISO times in UTC beside Paris times, the hashes), each cell guarded
    against formulas like every export (web/tables.py)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "at_utc", "heure_de_paris", "action", "actor", "organisation_id", "organisation",
                     "target_type", "target_id", "chain_position", "content_sha256", "prev_hash", "hash"])
    for e in events:
        writer.writerow([cell(v) for v in (
            e.id, e.at.isoformat(), format_paris(e.at, seconds=True), e.action, e.actor, e.organisation_id,
            e.organisation_name, e.target_type, e.target_id, e.chain_position, e.content_sha256, e.prev_hash,
            e.hash)])
    return out.getvalue()


class JournalController(Controller):
    path = JOURNAL
    dependencies = {**BASE_DEPENDENCIES, "audit_log": Provide(provide_audit_log_service, sync_to_thread=False)}

    @get("/", opt=requires(*ADMINS, reason=_READERS), name="web.audit.journal")
    async def journal(self, principal: Caller, viewer: Viewer, audit_log: AuditLog, type: TypeParam = None,
                      id: IdParam = None, acteur: ActorParam = None, action: ActionParam = None,
                      du: FromParam = None, au: ToParam = None, avant: BeforeParam = None,
                      apres: AfterParam = None, taille: SizeParam = 50) -> Template:
        filters = _filters(type, id, acteur, action, du, au)
        page = await audit_log.list_events(principal, filters.query(), before=avant, after=apres, limit=taille)
        size = {} if taille == 50 else {"taille": taille}
        links = {"older": f"{JOURNAL}?{filters.params(avant=page.older, **size)}" if page.older else None,
                 "newer": f"{JOURNAL}?{filters.params(apres=page.newer, **size)}" if page.newer else None,
                 "export": f"{JOURNAL}/export.csv?{filters.params()}",
                 "evidence": (f"{JOURNAL}/preuves?{urlencode({'type': type, 'id': id})}" if type and id else None)}
        return Template("audit_journal.html", context={
            "viewer": viewer, "title": "Journal d'audit", "page": page, "filters": filters, "links": links,
            "taille": taille, "can_verify": principal.is_platform_admin})

    @post("/verification", opt=requires(Role.PLATFORM_ADMIN, reason="As GET /audit-events/verification."),
          name="web.audit.verify", status_code=303)
    async def verify(self, request: Request[Any, Any, Any], principal: Caller, audit_log: AuditLog) -> Redirect:
        report = await audit_log.verify(principal)
        return done(request, JOURNAL, _verdict(report))

    @get("/preuves", opt=requires(*ADMINS, reason="As GET /audit-events/bundle."), name="web.audit.evidence")
    async def evidence(self, principal: Caller, audit_log: AuditLog,
                       type: Annotated[str, QueryParameter(name="type", min_length=1, max_length=50)],
                       id: Annotated[str, QueryParameter(name="id", min_length=1, max_length=100)],
                       ) -> Response[bytes]:
        bundle = await audit_log.bundle(principal, type, id)
        return Response(msgspec.json.encode(bundle), media_type="application/json", headers={
            "Content-Disposition": content_disposition(safe_filename(f"preuves-{type}-{id}.json")),
            "Cache-Control": "private, no-store"})

    @get("/export.csv", opt=requires(*ADMINS, reason="The journal's current filter, as GET /audit-events."),
         name="web.audit.export")
    async def export(self, principal: Caller, audit_log: AuditLog, type: TypeParam = None, id: IdParam = None,
                     acteur: ActorParam = None, action: ActionParam = None, du: FromParam = None,
                     au: ToParam = None) -> Response[bytes]:
        filters = _filters(type, id, acteur, action, du, au)
        events = await audit_log.export(principal, filters.query())
        return Response(journal_csv(events).encode(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": content_disposition("journal-audit.csv"), "Cache-Control": "private, no-store"})


CONTROLLERS: list[type[Controller]] = [JournalController]
