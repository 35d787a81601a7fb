"""The audit log's API: the events filtered and paged by keyset, the chain's verification, an evidence bundle."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import QueryParameter

from marketplace.accounts import schemas
from marketplace.accounts.audit_log import MAX_PAGE, AuditLogService, AuditQuery, InvalidAuditQuery
from marketplace.accounts.deps import provide_audit_log_service, provide_principal
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import ADMINS, Role
from marketplace.lib.access import requires
from marketplace.lib.files import safe_filename
from marketplace.lib.http import DOWNLOAD_HEADERS
from marketplace.lib.openapi import answers
from marketplace.lib.schemas import INT_MAX
from storage import content_disposition

AuditLog = NamedDependency[AuditLogService]
Caller = NamedDependency[Principal]

_READERS = "Platform admins read every event; an organisation's admin reads its organisation's events only."
TargetType = Annotated[str | None, QueryParameter(name="targetType", max_length=50, pattern=r"^[a-z][a-z0-9_]*$",
                                                  description="The object's kind: offer, dps, need…")]
TargetId = Annotated[str | None, QueryParameter(name="targetId", max_length=100, description="The object's id")]
Actor = Annotated[str | None, QueryParameter(name="actor", max_length=200,
                                             description="Exactly: user:<id>, api_key:<id>, system, anonymous")]
Action = Annotated[str | None, QueryParameter(name="action", max_length=100,
                                              description="A prefix: `offer.` matches every offer event")]
OrganisationId = Annotated[uuid.UUID | None, QueryParameter(name="organisationId")]
Since = Annotated[datetime | None, QueryParameter(
    name="since", description="At or after (ISO 8601; without a zone: Paris time)")]
Until = Annotated[datetime | None, QueryParameter(
    name="until", description="Before (ISO 8601; without a zone: Paris time)")]
Before = Annotated[int | None, QueryParameter(name="before", ge=1, le=INT_MAX,
                                              description="`older` of the previous page: events older than it")]
After = Annotated[int | None, QueryParameter(
    name="after", ge=0, le=INT_MAX - 1,
    description="`newer` of the previous page: events newer than it (with `before`: between the two)")]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_PAGE)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_dates(request: Request[Any, Any, Any], *names: str) -> None:
    """The framework's lax decoding takes a number for a Unix time: the document promises ISO 8601."""
    for name in names:
        value = request.query_params.get(name)
        if value is not None and not _ISO_DATE.match(value):
            raise InvalidAuditQuery(f"{name}: not an ISO 8601 date-time (2026-02-17T09:00:00)", field=name)


class AuditEventController(Controller):
    path = "/audit-events"
    tags = ["Audit log"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False),
                    "audit_log": Provide(provide_audit_log_service, sync_to_thread=False)}

    # 404: another organisation named in `organisationId`.
    @get("/", opt={**requires(*ADMINS, reason=_READERS), **answers(404)},
         summary="The audit log filtered, newest first, by keyset pages (`before` / `after`)")
    # Parameters named as on the wire: a 400 from the framework names the parameter by its Python name.
    async def list_events(self, request: Request[Any, Any, Any], audit_log: AuditLog, principal: Caller,
                          targetType: TargetType = None, targetId: TargetId = None, actor: Actor = None,
                          action: Action = None, organisationId: OrganisationId = None, since: Since = None,
                          until: Until = None, before: Before = None, after: After = None,
                          limit: Limit = 50) -> schemas.AuditEventPage:
        _iso_dates(request, "since", "until")
        query = AuditQuery(target_type=targetType, target_id=targetId, actor=actor, action=action,
                           organisation_id=organisationId, since=since, until=until)
        return await audit_log.list_events(principal, query, before=before, after=after, limit=limit)

    @get("/verification", opt=requires(Role.PLATFORM_ADMIN, reason="It reads every organisation's events."),
         summary="Verify the whole hash chain: ok, or the first broken link (G14)")
    async def verify(self, audit_log: AuditLog, principal: Caller) -> schemas.ChainVerification:
        return await audit_log.verify(principal)

    # 404: no event the caller may read names the object.
    @get("/bundle", opt={**requires(*ADMINS, reason=_READERS + " A platform admin's bundle carries the chain's "
                                                              "verification."), **answers(404)},
         summary="The evidence bundle of one object: its events with their hashes, as a JSON attachment",
         media_type=MediaType.JSON, response_headers=[*DOWNLOAD_HEADERS, ResponseHeader(
             name="Content-Disposition", value="attachment", documentation_only=True, required=True,
             description="An attachment named preuves-<targetType>-<targetId>.json.")])
    async def bundle(self, audit_log: AuditLog, principal: Caller,
                     targetType: Annotated[str, QueryParameter(name="targetType", min_length=1, max_length=50,
                                                               pattern=r"^[a-z][a-z0-9_]*$")],
                     targetId: Annotated[str, QueryParameter(name="targetId", min_length=1, max_length=100)],
                     ) -> Response[schemas.EvidenceBundle]:
        bundle = await audit_log.bundle(principal, targetType, targetId)
        return Response(bundle, media_type=MediaType.JSON, headers={
            "Content-Disposition": content_disposition(safe_filename(f"preuves-{targetType}-{targetId}.json")),
            "Cache-Control": "private, no-store"})
