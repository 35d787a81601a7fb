"""The buyers' decisions on an admission request (machine (b), domain.md §1.4): D4, D6, D7, D11.

Requests for documents, the extension of the evaluation, admission and rejection; then, on a living admission,
suspension, exclusion, reinstatement and the request for an updated self-declaration (D11). Each is checked
against `states.py`, audited and told to the vendor.
"""

from __future__ import annotations

import uuid

from marketplace.accounts.principal import Principal
from marketplace.errors import Conflict
from marketplace.lib.clock import format_paris, to_paris
from marketplace.lib.working_days import (
    EVALUATION_DAYS,
    EVALUATION_DAYS_EXTENDED,
    EVALUATION_RULES,
    add_working_days,
    declaration_due_at,
    end_of_paris_day,
)
from marketplace.vendors import schemas
from marketplace.vendors.access import require_buyer, visible_request
from marketplace.vendors.admissions import request_schema
from marketplace.vendors.base import ServiceBase
from marketplace.vendors.errors import MissingDocuments
from marketplace.vendors.models import AdmissionRequest, Dps
from marketplace.vendors.recipients import notify_vendor
from marketplace.vendors.states import EVALUATION_STATES, AdmissionStatus, check_admission_transition, require_in_force


class DecisionService(ServiceBase):
    """What the DPS's buyers decide on a request, then on the admission it became."""

    async def _decide(self, principal: Principal, request_id: uuid.UUID,
                      target: AdmissionStatus) -> tuple[AdmissionRequest, Dps]:
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_buyer(principal, request, dps)
        check_admission_transition(request.status, target)
        now = self._time(dps).now()
        require_in_force(dps, now, field="status")
        # §1.4: requests of the initial window are opened when it closes (D4), so that every vendor who applied
        # in time is judged together; no decision (nor request for documents) is taken before (D6).
        if dps.initial_window_end is not None and now < dps.initial_window_end:
            raise Conflict(f"status: requests are decided once the initial window closes, on "
                           f"{format_paris(dps.initial_window_end)} (D4, D6)", field="status", rule="D6",
                           initialWindowEnd=dps.initial_window_end.isoformat())
        return request, dps

    async def request_documents(self, principal: Principal, request_id: uuid.UUID,
                                data: schemas.DocumentsRequest) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.AWAITING_DOCUMENTS)
        request.status = AdmissionStatus.AWAITING_DOCUMENTS
        request.documents_requested = data.message
        await self._audit("admission.documents_requested", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, old=AdmissionStatus.UNDER_EVALUATION.value,
                          new=request.status.value)
        await notify_vendor(self.session, self.clock, request,
                            "admission.documents_requested", "Pièces complémentaires demandées",
                            f"L'acheteur demande des pièces complémentaires :\n\n{data.message}\n", dps)
        return await request_schema(self.session, self.clock, request)

    async def extend(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                     ) -> schemas.AdmissionRequest:
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_buyer(principal, request, dps)
        if request.status not in EVALUATION_STATES or request.extension_reason:
            raise Conflict("status: only a request under evaluation, not yet extended, can be extended",
                           field="status", rule="D6")
        assert request.received_at and request.due_at
        # 15 working days instead of 10 (D6): five more. The alerts of the old due date re-arm for the new one.
        extra = EVALUATION_DAYS_EXTENDED - EVALUATION_DAYS
        request.due_at = end_of_paris_day(add_working_days(to_paris(request.due_at).date(), extra, EVALUATION_RULES))
        request.due_soon_alerted_at = request.overdue_alerted_at = None
        request.extension_reason = data.reasons
        await self._audit("admission.extended", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, reason=data.reasons, due_at=request.due_at.isoformat())
        return await request_schema(self.session, self.clock, request)

    async def admit(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.ADMITTED)
        missing = (await request_schema(self.session, self.clock, request)).missing_documents
        if missing:
            raise MissingDocuments(f"documents: still missing {', '.join(missing)}", field="documents",
                                   missing=missing, rule="D7")
        expired = (await request_schema(self.session, self.clock, request)).expired_documents
        if expired:
            raise MissingDocuments(f"documents: expired {', '.join(expired)}; ask for current ones", field="documents",
                                   expired=expired)
        await self._close(principal, request, dps, AdmissionStatus.ADMITTED, None)
        await notify_vendor(self.session, self.clock, request,
                            "admission.admitted", "Admission au SAD prononcée",
                            "Votre entreprise est admise dans la catégorie demandée. Elle sera invitée à "
                            "chaque marché spécifique de cette catégorie.", dps)
        return await request_schema(self.session, self.clock, request)

    async def reject(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                     ) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.REJECTED)
        await self._close(principal, request, dps, AdmissionStatus.REJECTED, data.reasons)
        await notify_vendor(self.session, self.clock, request,
                            "admission.rejected", "Demande d'admission rejetée",
                            f"Votre demande d'admission est rejetée pour les motifs suivants :\n\n"
                            f"{data.reasons}\n\nVous pouvez présenter une nouvelle demande.", dps)
        return await request_schema(self.session, self.clock, request)

    async def _close(self, principal: Principal, request: AdmissionRequest, dps: Dps, target: AdmissionStatus,
                     reasons: str | None) -> None:
        old = request.status
        request.status, request.decided_at = target, self._time(dps).now()
        request.decided_by, request.decision_reasons = principal.label, reasons
        await self._audit(f"admission.{target.value}", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, old=old.value, new=target.value, reasons=reasons)

    # -- living admissions ------------------------------------------------------------------------

    async def suspend(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                      ) -> schemas.AdmissionRequest:
        return await self._sanction(principal, request_id, AdmissionStatus.SUSPENDED, data.reasons,
                                    "Admission suspendue")

    async def exclude(self, principal: Principal, request_id: uuid.UUID, data: schemas.Reasons
                      ) -> schemas.AdmissionRequest:
        return await self._sanction(principal, request_id, AdmissionStatus.EXCLUDED, data.reasons,
                                    "Exclusion du SAD")

    async def reinstate(self, principal: Principal, request_id: uuid.UUID) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, AdmissionStatus.ADMITTED)
        if request.status != AdmissionStatus.SUSPENDED:
            raise Conflict(f"status: only a suspended admission can be reinstated, this one is "
                           f"{request.status.value}", field="status")
        await self._close(principal, request, dps, AdmissionStatus.ADMITTED, None)
        await notify_vendor(self.session, self.clock, request,
                            "admission.reinstated", "Admission rétablie",
                            "La suspension de votre admission est levée.", dps)
        return await request_schema(self.session, self.clock, request)

    async def _sanction(self, principal: Principal, request_id: uuid.UUID, target: AdmissionStatus, reasons: str,
                        subject: str) -> schemas.AdmissionRequest:
        request, dps = await self._decide(principal, request_id, target)
        await self._close(principal, request, dps, target, reasons)
        await notify_vendor(self.session, self.clock, request,
                            f"admission.{target.value}", subject,
                            f"Motifs :\n\n{reasons}\n", dps)
        return await request_schema(self.session, self.clock, request)

    async def request_declaration(self, principal: Principal, request_id: uuid.UUID,
                                  data: schemas.DocumentsRequest) -> schemas.AdmissionRequest:
        """D11: an admitted vendor updates its self-declaration within 5 working days."""
        request, dps = await visible_request(self.session, request_id, principal, lock=True)
        require_buyer(principal, request, dps)
        if request.status not in (AdmissionStatus.ADMITTED, AdmissionStatus.SUSPENDED):
            raise Conflict(f"status: an updated declaration is asked of an admitted vendor, not of a request "
                           f"that is {request.status.value}", field="status", rule="D11")
        now = self._time(dps).now()
        request.declaration_requested_at, request.declaration_due_at = now, declaration_due_at(now)
        await self._audit("admission.declaration_requested", principal, "admission_request", request.id,
                          dps.buyer_organisation_id, due_at=request.declaration_due_at.isoformat())
        await notify_vendor(self.session, self.clock, request,
                            "admission.declaration_requested", "Mise à jour de votre DUME demandée",
                            f"{data.message}\n\nÀ transmettre avant le "
                            f"{format_paris(request.declaration_due_at)}.", dps)
        return await request_schema(self.session, self.clock, request)
