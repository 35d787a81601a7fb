"""Abnormally low offers (D15; machine (d): UNDER_EVALUATION --suspect_ALT--> JUSTIFICATION_REQUESTED --ok-->
UNDER_EVALUATION | --insufficient--> REJECTED_ALT).

An evaluator (whoever may score the contract's offers: a member of the buying organisation who declared no
conflict of interest) suspects an opened offer of being abnormally low and, in the same act, asks its vendor
in writing to justify it, with the reasons and a due date. Asking is mandatory before any rejection, so the
two are one act: the procedure is born JUSTIFICATION_REQUESTED and no path leads to a rejection without it.

The vendor (its admin or bid manager) answers before the due date, strictly (as for offers, D14: at the due
instant it is late): optionally a PDF first (PUT …/justification/document, through uploads.py), then the
text, which sends the justification; both are on record once. The buyer's admin then decides: accepted, the
offer is evaluated as any other; rejected — only once the justification was received or its due date
passed — the offer leaves the ranking as an `OfferRejection` on the ground `abnormally_low` (D16's notice
names it). D17 treats that offer as one that was *not* irregular, unacceptable or inappropriate: its vendor
is owed the winning offer's characteristics and advantages as well (states.owes_winning_characteristics).

While a procedure is pending the offer can't be rejected on another ground and the contract can't be
awarded at all, to that offer or another (award.AwardService.award): the suspected offer may yet win.
The evaluators may keep scoring it meanwhile (its technical value is scored whatever its price).

Each act locks the specific contract row first, as the award and the cancellation do, so a decision, an
award and a cancellation never interleave. Every act is audited; the vendor is told of the request and of
the decision, the buyer's admins of the justification.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_ADMINS, BUYER_WRITERS, VENDOR_WRITERS
from marketplace.awards import schemas
from marketplace.awards.errors import AbnormallyLowConflict
from marketplace.awards.evaluation import EvaluationService
from marketplace.awards.models import AbnormallyLowProcedure, OfferRejection
from marketplace.awards.states import (
    ABNORMALLY_LOW_MOVES,
    AbnormallyLowStatus,
    RejectionGround,
    abnormally_low_allows,
)
from marketplace.errors import Forbidden, NotFound, RuleViolation
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.tenders.access import buying_side, vendor_side
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.uploads import check_declared, header_filename, store_upload
from marketplace.vendors.models import Dps
from marketplace.vendors.sandbox import listing_now
from storage import ObjectStore

DOCUMENT_TYPES = ["application/pdf"]
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
_NO_PROCEDURE = "This offer has no abnormally-low procedure."


class AbnormallyLowService(EvaluationService):
    """The D15 procedure; an evaluation use case, so it shares EvaluationService's loading and checks."""

    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        super().__init__(session, clock, side_sessions)
        self.store = store

    # -- loading -------------------------------------------------------------------------------------

    async def _procedure(self, offer_id: uuid.UUID, *, lock: bool = False) -> AbnormallyLowProcedure | None:
        query = select(AbnormallyLowProcedure).where(AbnormallyLowProcedure.offer_id == offer_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(query)

    async def _visible(self, principal: Principal, offer_id: uuid.UUID) -> tuple[AbnormallyLowProcedure, Offer]:
        """The procedure, for the buying organisation's members and the offer's vendor; 404 for anyone else."""
        offer = await self.session.get(Offer, offer_id)
        contract = await self.session.get(SpecificContract, offer.specific_contract_id) if offer else None
        if offer is None or contract is None or not (buying_side(principal, contract)
                                                     or vendor_side(principal, offer)):
            raise NotFound("No offer has this id.")
        if buying_side(principal, contract):
            # The vendor's justification explains its offer: offer content, out of a conflicted reader's reach.
            await self._stay_out(principal, contract, "its offers", target_type="offer", target_id=offer.id)
        procedure = await self._procedure(offer.id)
        if procedure is None:
            raise NotFound(_NO_PROCEDURE)
        return procedure, offer

    async def _vendor_side(self, principal: Principal, offer_id: uuid.UUID) -> tuple[
            AbnormallyLowProcedure, Offer, SpecificContract]:
        """For the vendor's answer: the offer's own vendor (admin or bid manager), the contract locked, the
        procedure waiting for a justification not yet sent, before its due date."""
        offer = await self.session.get(Offer, offer_id)
        if offer is None or not vendor_side(principal, offer):
            raise NotFound("No offer has this id.")
        if not vendor_side(principal, offer, *VENDOR_WRITERS):
            raise Forbidden("Only the vendor's administrator or bid manager justifies its offer.")
        contract = await self._contract_locked(offer.specific_contract_id)
        procedure = await self._procedure(offer.id, lock=True)
        if procedure is None:
            raise NotFound(_NO_PROCEDURE)
        self._stage("evaluate", contract, "a justification is received during the evaluation")
        self._move("justify", procedure)
        if procedure.justified_at is not None:
            raise AbnormallyLowConflict("D15: the justification was sent already; it is on record.",
                                        field="justification", rule="D15")
        if await self._now(contract) >= procedure.justification_due_at:  # on the contract's clock
            raise AbnormallyLowConflict(
                f"D15: the justification was due before {format_paris(procedure.justification_due_at)}; it is "
                "no longer received.", field="justificationDueAt", rule="D15",
                due_at=procedure.justification_due_at.isoformat())
        return procedure, offer, contract

    async def _contract_locked(self, contract_id: uuid.UUID) -> SpecificContract:
        contract = await self.session.scalar(select(SpecificContract).where(SpecificContract.id == contract_id)
                                             .with_for_update().execution_options(populate_existing=True))
        assert contract is not None  # the offer's foreign key
        return contract

    @staticmethod
    def _move(action: str, procedure: AbnormallyLowProcedure | None) -> None:
        status = procedure.status if procedure else None
        if not abnormally_low_allows(action, status):
            needed = " or ".join(s.value if s else "absent" for s in ABNORMALLY_LOW_MOVES[action][0])
            raise AbnormallyLowConflict(
                f"D15: the abnormally-low procedure of this offer is {status.value if status else 'absent'}; "
                f"'{action}' needs it {needed}.", field="status", rule="D15")

    async def _title(self, contract: SpecificContract) -> str:
        return await self.session.scalar(select(Need.title).where(Need.id == contract.need_id)) or str(contract.id)

    async def _tell_vendor(self, procedure: AbnormallyLowProcedure, kind: str, subject: str, body: str) -> None:
        contract = await self.session.get(SpecificContract, procedure.specific_contract_id)
        assert contract is not None
        sandbox = await self._sandbox(contract)
        for email in await member_emails(self.session, procedure.vendor_organisation_id, VENDOR_WRITERS):
            await self.notifications.notify(recipient_email=email, kind=kind, subject=subject, body=body,
                                            about=procedure.offer_id, sandbox=sandbox)

    # -- the evaluator: suspect and ask in writing -------------------------------------------------------

    async def request(self, principal: Principal, offer_id: uuid.UUID,
                      data: schemas.AbnormallyLowCreate) -> schemas.AbnormallyLow:
        offer, contract = await self._offer(principal, offer_id)
        contract = await self._contract_locked(contract.id)
        self._stage("evaluate", contract, "offers are examined during the evaluation")
        await self._admissible(offer, contract)
        await self.check_evaluator(principal, contract, "examining its offers")
        self._move("request_justification", await self._procedure(offer.id))
        try:
            due = paris_instant(data.justification_due_at)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"justificationDueAt: {exc}", field="justificationDueAt") from exc
        now = await self._now(contract)
        if due <= now:
            raise RuleViolation(f"justificationDueAt: D15: the vendor is given time to justify its offer; the due "
                                f"date must be after now ({format_paris(now)})", field="justificationDueAt",
                                rule="D15")
        procedure = AbnormallyLowProcedure(
            specific_contract_id=contract.id, offer_id=offer.id, vendor_organisation_id=offer.vendor_organisation_id,
            status=ABNORMALLY_LOW_MOVES["request_justification"][1], reasons=data.reasons,
            requested_by=principal.label, requested_at=now, justification_due_at=due)
        self.session.add(procedure)
        await self.session.flush()
        title = await self._title(contract)
        await self._tell_vendor(
            procedure, "award.abnormally_low_justification_requested",
            f"Offre anormalement basse : justification demandée ({title})",
            f"Votre offre sur le marché spécifique « {title} » paraît anormalement basse.\n"
            f"Motifs : {data.reasons}\n"
            f"Merci d'en justifier le prix et les coûts par écrit avant le {format_paris(due)} "
            f"(POST /offers/{offer.id}/abnormally-low/justification). Sans justification suffisante, l'offre "
            "peut être rejetée.")
        await self._audit(principal, contract, "offer.abnormally_low_justification_requested", "offer", offer.id,
                          procedure=str(procedure.id), due_at=due.isoformat())
        return self.schema(procedure)

    # -- the vendor: the written justification -------------------------------------------------------

    async def attach_document(self, principal: Principal, offer_id: uuid.UUID, *, filename: str, declared_type: str,
                              declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.AbnormallyLow:
        assert self.store is not None
        procedure, _, contract = await self._vendor_side(principal, offer_id)
        if procedure.object_key is not None:
            raise AbnormallyLowConflict("D15: the justification's document was sent already; it is on record.",
                                        field="document", rule="D15")
        media_type = check_declared(declared_type, declared_size, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES,
                                    "a justification document")
        key, stored = await store_upload(self.store, "offers", body, media_type, DOCUMENT_TYPES, DOCUMENT_MAX_BYTES,
                                         "a justification document", {"offer": str(procedure.offer_id)})
        try:
            procedure.object_key, procedure.document_size, procedure.document_sha256 = key, stored.size, stored.sha256
            procedure.document_filename = header_filename(filename)[:300]
            await self.session.flush()
            await self._audit(principal, contract, "offer.abnormally_low_document_received", "offer",
                              procedure.offer_id, procedure=str(procedure.id), sha256=stored.sha256, size=stored.size)
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        return self.schema(procedure)

    async def justify(self, principal: Principal, offer_id: uuid.UUID,
                      data: schemas.JustificationCreate) -> schemas.AbnormallyLow:
        procedure, _, contract = await self._vendor_side(principal, offer_id)
        procedure.justification, procedure.justified_by = data.text, principal.label
        procedure.justified_at = await self._now(contract)
        await self.session.flush()
        title = await self._title(contract)
        for email in await member_emails(self.session, contract.buyer_organisation_id, BUYER_ADMINS):
            await self.notifications.notify(
                recipient_email=email, kind="award.abnormally_low_justified", about=procedure.offer_id,
                subject=f"Offre anormalement basse : justification reçue ({title})",
                body=f"Le soumissionnaire a justifié son offre le {format_paris(procedure.justified_at)}"
                     + (" (avec un document joint)" if procedure.object_key else "") + f".\n\n{data.text}",
                sandbox=await self._sandbox(contract))
        await self._audit(principal, contract, "offer.abnormally_low_justified", "offer", procedure.offer_id,
                          procedure=str(procedure.id), document=procedure.object_key is not None)
        return self.schema(procedure)

    # -- the buyer: the decision ---------------------------------------------------------------------

    async def decide(self, principal: Principal, offer_id: uuid.UUID,
                     data: schemas.AbnormallyLowDecision) -> schemas.AbnormallyLow:
        offer, contract = await self._offer(principal, offer_id)
        self._admin(principal, contract, "decides on an abnormally low offer")
        await self._stay_out(principal, contract, "judging its offers", target_type="offer", target_id=offer.id)
        contract = await self._contract_locked(contract.id)
        procedure = await self._procedure(offer.id, lock=True)
        if procedure is None:
            raise NotFound(_NO_PROCEDURE)
        self._stage("evaluate", contract, "the decision is taken during the evaluation")
        action = "accept" if data.accepted else "reject"
        self._move(action, procedure)
        now = await self._now(contract)
        if not data.accepted:
            if data.reasons is None:
                raise RuleViolation("reasons: D15: a rejected offer's vendor is told why its justification was "
                                    "insufficient", field="reasons", rule="D15")
            if procedure.justified_at is None and now < procedure.justification_due_at:
                # D15: rejection only on an insufficient justification — one received, or none by the due date.
                raise AbnormallyLowConflict(
                    "D15: the offer is rejected only once its justification was received or its due date, "
                    f"{format_paris(procedure.justification_due_at)}, passed.", field="justification", rule="D15",
                    due_at=procedure.justification_due_at.isoformat())
        procedure.status = ABNORMALLY_LOW_MOVES[action][1]
        procedure.decision_reasons, procedure.decided_by, procedure.decided_at = data.reasons, principal.label, now
        if not data.accepted:
            assert data.reasons is not None
            # Machine (d) REJECTED_ALT: the offer leaves the ranking like any rejected offer.
            self.session.add(OfferRejection(specific_contract_id=contract.id, offer_id=offer.id,
                                            grounds=RejectionGround.ABNORMALLY_LOW, reasons=data.reasons,
                                            rejected_by=principal.label, rejected_at=now))
        await self.session.flush()
        title = await self._title(contract)
        if data.accepted:
            subject = f"Offre anormalement basse : justification acceptée ({title})"
            body = (f"Votre justification est acceptée : votre offre sur le marché spécifique « {title} » reste "
                    "évaluée comme les autres." + (f"\n{data.reasons}" if data.reasons else ""))
        else:
            subject = f"Offre anormalement basse : offre rejetée ({title})"
            body = (f"Votre offre sur le marché spécifique « {title} » est rejetée comme anormalement basse.\n"
                    f"Motifs : {data.reasons}")
        await self._tell_vendor(procedure, f"award.abnormally_low_{procedure.status.value}", subject, body)
        await self._audit(principal, contract, f"offer.abnormally_low_{procedure.status.value}", "offer", offer.id,
                          procedure=str(procedure.id), justified=procedure.justified_at is not None)
        if not data.accepted:
            await self.unsuccessful_if_none_left(principal, contract)
        return self.schema(procedure)

    # -- reading -------------------------------------------------------------------------------------

    async def pending_for_buying_side(self, principal: Principal) -> list[schemas.PendingItem]:
        """D15 on the work queue, in one query: the procedures still JUSTIFICATION_REQUESTED on the contracts of
        the caller's buying side (who reads them, as `get`), soonest due first, each with its due date on the
        contract's clock and whether the justification is in (then the decision waits). No offer content."""
        organisations = principal.organisations_with(*BUYER_WRITERS)
        if not organisations:
            return []
        rows = (await self.session.execute(
            select(AbnormallyLowProcedure.specific_contract_id, AbnormallyLowProcedure.justification_due_at,
                   AbnormallyLowProcedure.justified_at, Need.title, Dps)
            .join(SpecificContract, SpecificContract.id == AbnormallyLowProcedure.specific_contract_id)
            .join(Need, Need.id == SpecificContract.need_id).join(Dps, Dps.id == SpecificContract.dps_id)
            .where(SpecificContract.buyer_organisation_id.in_(organisations),
                   AbnormallyLowProcedure.status == AbnormallyLowStatus.JUSTIFICATION_REQUESTED)
            .order_by(AbnormallyLowProcedure.justification_due_at, AbnormallyLowProcedure.id))).all()
        return [schemas.PendingItem(specific_contract_id=contract_id, contract_title=title, due_at=due,
                                    now=listing_now(self.clock, dps), received=justified is not None,
                                    sandbox=dps.is_sandbox)
                for contract_id, due, justified, title, dps in rows]

    async def get(self, principal: Principal, offer_id: uuid.UUID) -> schemas.AbnormallyLow:
        procedure, _ = await self._visible(principal, offer_id)
        return self.schema(procedure)

    async def document_url(self, principal: Principal, offer_id: uuid.UUID) -> str:
        assert self.store is not None
        procedure, _ = await self._visible(principal, offer_id)
        if procedure.object_key is None:
            raise NotFound("This justification has no document.")
        return self.store.presigned_get(procedure.object_key, filename=procedure.document_filename)

    @staticmethod
    def schema(row: AbnormallyLowProcedure) -> schemas.AbnormallyLow:
        document = None
        if row.object_key is not None:
            assert row.document_size is not None and row.document_sha256 is not None
            document = schemas.JustificationDocument(
                filename=row.document_filename or "justification.pdf", size=row.document_size,
                sha256=row.document_sha256,
                download_path=f"/offers/{row.offer_id}/abnormally-low/justification/document")
        return schemas.AbnormallyLow(
            id=row.id, specific_contract_id=row.specific_contract_id, offer_id=row.offer_id,
            vendor_organisation_id=row.vendor_organisation_id, status=row.status, reasons=row.reasons,
            requested_at=row.requested_at, justification_due_at=row.justification_due_at,
            justification_due_at_paris=format_paris(row.justification_due_at), justification=row.justification,
            justified_at=row.justified_at, document=document, decision_reasons=row.decision_reasons,
            decided_at=row.decided_at)
