"""SN5: the ASP's status file, imported by the operator instead of recording each status by hand.

A CSV (UTF-8, `,` or `;`), one row per request, in the shape the ASP's dossier statuses are reported:
`requestId` (the id of the payment request, as exported by GET /sons/payment-requests), `status` (REQUESTED,
INCOMPLETE, TO_MODIFY, VALIDATED, DECIDED_PAID, REJECTED), optionally `paidCents` (DECIDED_PAID: what the ASP
paid, the request's amount when empty) and `note`. Each row is the request's current status at the ASP: it is
recorded through the same move as POST /sons/asp-requests/{id}/statuses (the same SN5 machine, the same caps on
what is paid, the same audit), each row in its own transaction, so that a refused row keeps the others; a row
saying what is recorded already changes nothing, so the same file imported twice records nothing twice. The
report names each refused row by its line, with the rule and the reason; the import itself is audited with the
file's SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.principal import Principal
from marketplace.errors import DomainError
from marketplace.lib import audit
from marketplace.lib.clock import Clock
from marketplace.lib.esign import SignaturePolicy
from marketplace.sons import schemas
from marketplace.sons.asp import AspService
from marketplace.sons.imports import ImportRefused
from marketplace.sons.states import AspStatus
from marketplace.uploads import check_declared, read_limited
from storage import ObjectStore

MEDIA_TYPES = ["text/csv"]
MAX_BYTES = 20 * 1024 * 1024
COLUMNS = {
    "requestId": "the payment request's id (requestId in GET /sons/payment-requests)",
    "status": "its status at the ASP: " + ", ".join(s.value for s in AspStatus),
    "paidCents": "optional: DECIDED_PAID, what the ASP paid in cents (the request's amount when empty)",
    "note": "optional: the ASP's remark (what to complete or modify, the reason of a rejection)",
}
_REQUIRED = ("requestId", "status")


def _rows(data: bytes) -> csv.DictReader[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"body: the file is not UTF-8 (byte {exc.start}); nothing was imported", field="body",
                            rule="CSV") from None
    header = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";" if header.count(";") > header.count(",")
                            else ",", strict=True)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    missing = [c for c in _REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in COLUMNS]
    if missing or unknown:
        raise ImportRefused(f"header: missing {', '.join(missing) or 'nothing'}, unknown "
                            f"{', '.join(unknown) or 'nothing'}; nothing was imported (columns: {', '.join(COLUMNS)})",
                            field="header", rule="CSV", missing=missing, unknown=unknown)
    return reader


class _Refused(DomainError):
    status_code = 422
    title = "Row refused"
    slug = "row-refused"


def _row(values: dict[str, str | None]) -> tuple[uuid.UUID, AspStatus, int | None, str | None]:
    raw_id, raw_status = (values.get("requestId") or "").strip(), (values.get("status") or "").strip()
    try:
        request_id = uuid.UUID(raw_id)
    except ValueError:
        raise _Refused(f"requestId: not a request id: {raw_id[:60]!r}", field="requestId", rule="CSV") from None
    try:
        status = AspStatus(raw_status.upper())
    except ValueError:
        known = ", ".join(s.value for s in AspStatus)
        raise _Refused(f"status: not an ASP status: {raw_status[:40]!r} (one of {known})", field="status",
                       rule="CSV") from None
    raw_paid = (values.get("paidCents") or "").strip()
    if raw_paid and not (raw_paid.isascii() and raw_paid.isdigit()):
        raise _Refused(f"paidCents: not a whole number of cents: {raw_paid[:40]!r}", field="paidCents", rule="CSV")
    note = (values.get("note") or "").strip()[:2000] or None
    return request_id, status, int(raw_paid) if raw_paid else None, note


class AspStatusImports:
    """The operator's import of an ASP status file through the API (raw CSV body)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, store: ObjectStore,
                 policy: SignaturePolicy) -> None:
        self.sessions = sessions
        self.clock = clock
        self.store = store
        self.policy = policy

    async def upload(self, principal: Principal, *, declared_type: str, declared_size: int | None,
                     body: AsyncIterable[bytes]) -> schemas.AspStatusImportReport:
        check_declared(declared_type, declared_size, MEDIA_TYPES, MAX_BYTES, "an ASP status file")
        data = await read_limited(body, MAX_BYTES, "an ASP status file")
        return await self.run(principal, data)

    async def run(self, principal: Principal, data: bytes) -> schemas.AspStatusImportReport:
        reader = _rows(data)
        rows = applied = unchanged = 0
        errors: list[schemas.ImportRowError] = []
        seen: dict[uuid.UUID, int] = {}
        for values in reader:
            line = reader.line_num  # the row's last physical line (a quoted note may span several)
            if not any((v or "").strip() for v in values.values() if isinstance(v, str)):
                continue
            rows += 1
            try:
                request_id, status, paid, note = _row(values)
                if request_id in seen:
                    raise _Refused(f"requestId: the file gives this request's status twice (line {seen[request_id]}"
                                   " already): one row per request, its current status", field="requestId",
                                   rule="CSV")
                seen[request_id] = line
                async with self.sessions() as session, session.begin():
                    service = AspService(session, self.clock, self.store, self.sessions, self.policy)
                    _, _, moved = await service.record_from_file(principal, request_id, status, paid=paid,
                                                                  note=note or "fichier de statuts de l'ASP")
            except DomainError as exc:
                errors.append(schemas.ImportRowError(
                    line=line, order_ref=None, column=str(exc.extra.get("field") or "") or None,
                    rule=exc.extra.get("rule"), detail=exc.detail))
                continue
            applied += moved
            unchanged += not moved
        sha256 = hashlib.sha256(data).hexdigest()
        async with self.sessions() as session, session.begin():
            await audit.record(session, self.clock, "sons_asp_status_file.imported", actor=principal.label,
                               organisation_id=None, target_type="sons_asp_status_file", target_id=sha256,
                               details={"rows": rows, "applied": applied, "unchanged": unchanged,
                                        "refused": len(errors)})
        return schemas.AspStatusImportReport(sha256=sha256, rows=rows, applied=applied, unchanged=unchanged,
                                             refused_rows=len(errors), errors=errors)
