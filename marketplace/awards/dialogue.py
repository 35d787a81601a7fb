"""Clarifications on an opened offer (issue 7; machine (c) EVALUATION --clarifications--> EVALUATION; D13;
domain.md §8 item 3).

After the opening, the buying side (an admin or evaluator of the contract's buying organisation) opens a
thread with ONE vendor about its opened offer: a subject, a question and the date the answer is due. The
vendor's admin or bid manager answers, with text or a PDF, strictly before that date (at the due date
exactly it is late, as for offers, D14); the buying side may ask again, setting a new due date, and closes
the thread when it has what it needs. Every message notifies the other side (inbox and mail, never the
message itself: mail is not a confidential channel) and lands in the audit log with the SHA-256 of its
text and, for a file, its size and SHA-256 (the text stays out of the log).

Equal treatment: a clarification explains an offer, it never changes it nor the consultation documents.
So nothing here writes to the offer or its files: the answers are rows beside the offer, shown with it in
the buyer's list of opened offers, and the messages and files are append-only in the database
(triggers). Nothing is discussed before the opening (409, D13), nor after the award, nor about an offer
that was withdrawn or superseded.

Object rule: a thread is its buying organisation's and its vendor's. Anyone else gets 404, the other
vendors first: they must not learn that a competitor is being asked anything.

The dialogue is held by the buying side only: in intermediation that is the holder itself, its admins and
evaluators (HC2); the central purchasing body that follows the procedure takes no part (403 naming HC2), nor does
the holder of a contract the central purchasing body runs (403 naming HC3).
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from marketplace.accounts.members import member_emails
from marketplace.accounts.principal import Principal
from marketplace.accounts.roles import BUYER_WRITERS, VENDOR_WRITERS, Role
from marketplace.awards import schemas
from marketplace.awards.conflicts import stay_out
from marketplace.awards.errors import AnswerOverdue, ClarificationClosed, OffersNotOpened
from marketplace.awards.models import ClarificationAttachment, ClarificationMessage, ClarificationThread
from marketplace.awards.states import ClarificationStatus, DialogueSide, allowed, thread_allows
from marketplace.errors import Conflict, Forbidden, NotFound, RuleViolation
from marketplace.lib import audit
from marketplace.lib.clock import Clock, InvalidLocalTime, format_paris, paris_instant
from marketplace.lib.files import safe_filename
from marketplace.notifications.notify import NotificationService
from marketplace.tenders import schemas as tender_schemas
from marketplace.tenders.access import buying_side, not_the_buying_side, vendor_side
from marketplace.tenders.errors import WrongStage
from marketplace.tenders.models import Need, Offer, SpecificContract
from marketplace.tenders.offers import audit_apart
from marketplace.tenders.states import OfferStatus, SpecificContractStatus
from marketplace.uploads import check_declared, header_filename, store_upload
from marketplace.vendors.sandbox import clock_of, dps_of
from storage import ObjectStore

CLARIFICATION_TYPES = ["application/pdf"]
CLARIFICATION_MAX_BYTES = 50 * 1024 * 1024
PREFIX = "clarifications"
MESSAGE_KIND = "award.clarification_message"
_NO_OFFER = "No offer has this id."
_NO_THREAD = "No clarification thread has this id."
_SEALED = (SpecificContractStatus.DRAFT, SpecificContractStatus.OPEN)


def thread_path(thread_id: uuid.UUID) -> str:
    return f"/clarifications/{thread_id}"


class DialogueService:
    def __init__(self, session: AsyncSession, clock: Clock, store: ObjectStore | None = None,
                 side_sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.session = session
        self.clock = clock
        self.store = store
        self.side_sessions = side_sessions
        self.notifications = NotificationService(session, clock)

    # -- access --------------------------------------------------------------------------------------

    async def _offer(self, principal: Principal, offer_id: uuid.UUID) -> tuple[Offer, SpecificContract, DialogueSide]:
        """The offer, its contract and the caller's side; 404 to anyone on neither side."""
        offer = await self.session.get(Offer, offer_id)
        contract = await self.session.get(SpecificContract, offer.specific_contract_id) if offer else None
        if offer is None or contract is None:
            raise NotFound(_NO_OFFER)
        if buying_side(principal, contract):
            await self._stay_out(principal, contract.id, contract.buyer_organisation_id, "offer", offer.id)
            return offer, contract, DialogueSide.BUYER
        if vendor_side(principal, offer):
            return offer, contract, DialogueSide.VENDOR
        # The dialogue is the buying side's with each vendor (HC2: the holder's in intermediation); who follows or
        # holds the contract knows the offers exist (the opening record lists them) and is told why not.
        raise not_the_buying_side(principal, contract, _NO_OFFER)

    async def _thread(self, principal: Principal, thread_id: uuid.UUID, *,
                      lock: bool = False) -> tuple[ClarificationThread, DialogueSide]:
        thread = await self.session.get(ClarificationThread, thread_id, with_for_update=lock or None,
                                        populate_existing=lock)
        if thread is not None:
            if buying_side(principal, thread):
                await self._stay_out(principal, thread.specific_contract_id, thread.buyer_organisation_id,
                                     "clarification_thread", thread.id)
                return thread, DialogueSide.BUYER
            if vendor_side(principal, thread):
                return thread, DialogueSide.VENDOR
        raise NotFound(_NO_THREAD)

    async def _stay_out(self, principal: Principal, contract_id: uuid.UUID, organisation_id: uuid.UUID,
                        target_type: str, target_id: uuid.UUID) -> None:
        """The dialogue explains the offers: whoever declared a conflict of interest stays out of it (403)."""
        await stay_out(self.session, self.clock, principal, contract_id, organisation_id,
                       "the dialogue with its vendors", target_type=target_type, target_id=target_id,
                       side_sessions=self.side_sessions)

    async def _now(self, contract_id: uuid.UUID) -> datetime:
        """Business time on the contract's clock: its DPS's (a sandbox's runs faster, vendors/sandbox.py)."""
        contract = await self.session.get(SpecificContract, contract_id)
        assert contract is not None
        return (await clock_of(self.session, self.clock, contract.dps_id)).now()

    @staticmethod
    def _not_sealed(contract: SpecificContract) -> None:
        if contract.status in _SEALED:
            raise OffersNotOpened(f"status: the contract is {contract.status.value}; its offers are sealed until "
                                  "the opening, and nothing of them is read or discussed before (D13)",
                                  field="status", rule="D13")

    async def _in_dialogue(self, contract: SpecificContract) -> None:
        """Machine (c): between the opening and the award. The contract is read under a share lock, so an
        award waits for this message's transaction and the message never lands after it."""
        await self.session.refresh(contract, with_for_update={"read": True})
        self._not_sealed(contract)
        if not allowed("clarify", contract.status):
            raise WrongStage(f"status: the contract is {contract.status.value}; clarifications are asked between "
                             "the opening and the award", field="status", rule="G8")

    async def _due(self, value: datetime, contract_id: uuid.UUID) -> datetime:
        try:
            due = paris_instant(value)
        except InvalidLocalTime as exc:
            raise RuleViolation(f"answerDueAt: {exc}", field="answerDueAt") from exc
        now = await self._now(contract_id)
        if due <= now:
            raise RuleViolation(f"answerDueAt: the answer is due after now ({format_paris(now)})",
                                field="answerDueAt")
        return due

    # -- the buying side asks ------------------------------------------------------------------------

    async def open(self, principal: Principal, offer_id: uuid.UUID,
                   data: schemas.ClarificationCreate) -> schemas.ClarificationThread:
        offer, contract, side = await self._offer(principal, offer_id)
        if side is not DialogueSide.BUYER:
            raise Forbidden("The buying side asks for clarifications; the vendor answers them.")
        await self._in_dialogue(contract)
        if offer.status != OfferStatus.OPENED:
            raise Conflict(f"status: this offer is {offer.status.value}; only an opened offer is clarified (a "
                           "withdrawn or superseded one is out of the competition)", field="status")
        due = await self._due(data.answer_due_at, contract.id)
        now = await self._now(contract.id)
        thread = ClarificationThread(
            specific_contract_id=contract.id, offer_id=offer.id, buyer_organisation_id=contract.buyer_organisation_id,
            vendor_organisation_id=offer.vendor_organisation_id, subject=data.subject,
            status=ClarificationStatus.OPEN, answer_due_at=due, opened_by=principal.label, opened_at=now)
        self.session.add(thread)
        await self.session.flush()
        await self._audit(principal, thread, "clarification.thread_opened", answer_due_at=due.isoformat())
        await self._message(principal, thread, DialogueSide.BUYER, body=data.body, answer_due_at=due)
        return (await self._schemas([thread]))[0]

    # -- either side writes --------------------------------------------------------------------------

    async def _writable(self, principal: Principal, thread_id: uuid.UUID) -> tuple[ClarificationThread, DialogueSide]:
        """The thread, locked (a close and a message queue), if the caller may write to it now."""
        thread, side = await self._thread(principal, thread_id, lock=True)
        if side is DialogueSide.VENDOR and not vendor_side(principal, thread, *VENDOR_WRITERS):
            raise Forbidden("The vendor's administrator or bid manager answers for it.")
        if not thread_allows("post", thread.status):
            raise ClarificationClosed("This clarification thread was closed by the buying side.", field="status")
        contract = await self.session.get(SpecificContract, thread.specific_contract_id)
        assert contract is not None
        await self._in_dialogue(contract)
        return thread, side

    async def _on_time(self, principal: Principal, thread: ClarificationThread) -> None:
        now = await self._now(thread.specific_contract_id)
        if now < thread.answer_due_at:
            return
        if self.side_sessions is not None:
            # The refusal is kept: the request's transaction rolls back with it.
            await audit_apart(self.side_sessions, self.clock, "clarification.answer_refused_late",
                              actor=principal.label, organisation_id=thread.buyer_organisation_id,
                              target_type="clarification_thread", target_id=thread.id,
                              details={"offer": str(thread.offer_id), "at": now.isoformat(),
                                       "answer_due_at": thread.answer_due_at.isoformat()})
        raise AnswerOverdue(f"The answer was due before {format_paris(thread.answer_due_at, seconds=True)}: it "
                            "is refused.", field="answerDueAt", rule="clarification-due-date",
                            answerDueAt=thread.answer_due_at.isoformat())

    async def post(self, principal: Principal, thread_id: uuid.UUID,
                   data: schemas.ClarificationPost) -> schemas.ClarificationThread:
        thread, side = await self._writable(principal, thread_id)
        due = None
        if side is DialogueSide.VENDOR:
            if data.answer_due_at is not None:
                raise RuleViolation("answerDueAt: the buying side sets when the answer is due", field="answerDueAt")
            await self._on_time(principal, thread)
        elif data.answer_due_at is not None:
            due = thread.answer_due_at = await self._due(data.answer_due_at, thread.specific_contract_id)
            await self.session.flush()
        await self._message(principal, thread, side, body=data.body, answer_due_at=due)
        return (await self._schemas([thread]))[0]

    async def attach(self, principal: Principal, thread_id: uuid.UUID, *, filename: str, declared_type: str,
                     declared_size: int | None, body: AsyncIterable[bytes]) -> schemas.ClarificationThread:
        """A message carrying one file (a PDF), streamed to object storage. `filename` is the X-Filename
        header as sent: UTF-8, percent-encoded."""
        assert self.store is not None
        filename = header_filename(filename)
        thread, side = await self._writable(principal, thread_id)
        if side is DialogueSide.VENDOR:
            await self._on_time(principal, thread)
        label = "a clarification's file"
        media_type = check_declared(declared_type, declared_size, CLARIFICATION_TYPES, CLARIFICATION_MAX_BYTES,
                                    label)
        key, stored = await store_upload(self.store, PREFIX, body, media_type, CLARIFICATION_TYPES,
                                         CLARIFICATION_MAX_BYTES, label, {"clarification": str(thread.id)})
        try:
            if side is DialogueSide.VENDOR:
                # Received once the last byte is in: an upload still running at the due date is late.
                await self._on_time(principal, thread)
            await self._message(
                principal, thread, side, body=None, answer_due_at=None,
                file=ClarificationAttachment(thread_id=thread.id, object_key=key,
                                             filename=safe_filename(filename)[:300], content_type=media_type,
                                             size=stored.size, sha256=stored.sha256))
        except BaseException:
            await self.store.delete(key)  # no object without its row
            raise
        return (await self._schemas([thread]))[0]

    async def _message(self, principal: Principal, thread: ClarificationThread, side: DialogueSide, *,
                       body: str | None, answer_due_at: datetime | None,
                       file: ClarificationAttachment | None = None) -> ClarificationMessage:
        message = ClarificationMessage(thread_id=thread.id, side=side, body=body, answer_due_at=answer_due_at,
                                       posted_by=principal.label,
                                       posted_at=await self._now(thread.specific_contract_id))
        self.session.add(message)
        await self.session.flush()
        details: dict[str, Any] = {"message": str(message.id), "side": side.value}
        if body is not None:
            # The text's hash, not the text: the log proves what was said without repeating it.
            details |= {"body_sha256": hashlib.sha256(body.encode()).hexdigest(), "body_length": len(body)}
        if answer_due_at is not None:
            details["answer_due_at"] = answer_due_at.isoformat()
        if file is not None:
            file.message_id = message.id
            self.session.add(file)
            await self.session.flush()
            details["attachment"] = {"id": str(file.id), "size": file.size, "sha256": file.sha256,
                                     "content_type": file.content_type}
        await self._audit(principal, thread, "clarification.message_posted", **details)
        await self._tell(thread, DialogueSide.VENDOR if side is DialogueSide.BUYER else DialogueSide.BUYER,
                         answer_due_at)
        return message

    # -- the buying side closes ----------------------------------------------------------------------

    async def close(self, principal: Principal, thread_id: uuid.UUID) -> schemas.ClarificationThread:
        thread, side = await self._thread(principal, thread_id, lock=True)
        if side is not DialogueSide.BUYER:
            raise Forbidden("The buying side closes a clarification thread.")
        if not thread_allows("close", thread.status):
            raise ClarificationClosed("This clarification thread is closed already.", field="status")
        thread.status = ClarificationStatus.CLOSED
        thread.closed_by, thread.closed_at = principal.label, await self._now(thread.specific_contract_id)
        await self.session.flush()
        await self._audit(principal, thread, "clarification.thread_closed")
        return (await self._schemas([thread]))[0]

    # -- reading -------------------------------------------------------------------------------------

    async def for_offer(self, principal: Principal, offer_id: uuid.UUID) -> list[schemas.ClarificationThread]:
        offer, contract, side = await self._offer(principal, offer_id)
        if side is DialogueSide.BUYER:
            self._not_sealed(contract)
        threads = (await self.session.scalars(select(ClarificationThread).where(
            ClarificationThread.offer_id == offer.id).order_by(ClarificationThread.opened_at,
                                                               ClarificationThread.id))).all()
        return await self._schemas(threads)

    async def get(self, principal: Principal, thread_id: uuid.UUID) -> schemas.ClarificationThread:
        thread, _ = await self._thread(principal, thread_id)
        return (await self._schemas([thread]))[0]

    async def download_url(self, principal: Principal, thread_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
        assert self.store is not None
        thread, _ = await self._thread(principal, thread_id)
        file = await self.session.get(ClarificationAttachment, attachment_id)
        if file is None or file.thread_id != thread.id:
            raise NotFound("No file of this clarification thread has this id.")
        # In a transaction of its own: a redirect is no success to the request's, which rolls back.
        assert self.side_sessions is not None
        await audit_apart(self.side_sessions, self.clock, "clarification_attachment.downloaded",
                          actor=principal.label, organisation_id=thread.buyer_organisation_id,
                          target_type="clarification_attachment", target_id=file.id,
                          details={"thread": str(thread.id), "offer": str(thread.offer_id)})
        return self.store.presigned_get(file.object_key, filename=file.filename)

    async def _schemas(self, threads: Sequence[ClarificationThread]) -> list[schemas.ClarificationThread]:
        """The threads with their messages and files: three queries, whatever their number."""
        ids = [t.id for t in threads]
        if not ids:
            return []
        messages: dict[uuid.UUID, list[ClarificationMessage]] = defaultdict(list)
        for message in (await self.session.scalars(select(ClarificationMessage).where(
                ClarificationMessage.thread_id.in_(ids)).order_by(ClarificationMessage.posted_at,
                                                                  ClarificationMessage.id))).all():
            messages[message.thread_id].append(message)
        files = {f.message_id: f for f in (await self.session.scalars(select(ClarificationAttachment).where(
            ClarificationAttachment.thread_id.in_(ids)))).all()}
        return [schemas.ClarificationThread(
            id=t.id, specific_contract_id=t.specific_contract_id, offer_id=t.offer_id,
            vendor_organisation_id=t.vendor_organisation_id, subject=t.subject, status=t.status,
            answer_due_at=t.answer_due_at, answer_due_at_paris=format_paris(t.answer_due_at), opened_at=t.opened_at,
            closed_at=t.closed_at,
            messages=[_message_schema(m, files.get(m.id)) for m in messages[t.id]]) for t in threads]

    # -- audit and notifications ---------------------------------------------------------------------

    async def _audit(self, principal: Principal, thread: ClarificationThread, action: str, **details: Any) -> None:
        await audit.record(self.session, self.clock, action, actor=principal.label,
                           organisation_id=thread.buyer_organisation_id, target_type="clarification_thread",
                           target_id=thread.id, details={"specific_contract": str(thread.specific_contract_id),
                                                         "offer": str(thread.offer_id),
                                                         "vendor": str(thread.vendor_organisation_id), **details})

    async def _tell(self, thread: ClarificationThread, side: DialogueSide, answer_due_at: datetime | None) -> None:
        """The other side's people (the vendor's admins and bid managers; the buying organisation's admins
        and evaluators) learn that a message awaits them, in their inbox and by mail."""
        roles: tuple[Role, ...]
        if side is DialogueSide.VENDOR:
            organisation, roles = thread.vendor_organisation_id, VENDOR_WRITERS
        else:
            organisation, roles = thread.buyer_organisation_id, BUYER_WRITERS
        title = await self.session.scalar(select(Need.title).join(
            SpecificContract, SpecificContract.need_id == Need.id).where(
            SpecificContract.id == thread.specific_contract_id)) or str(thread.specific_contract_id)
        if side is DialogueSide.VENDOR:
            subject = f"Demande de précisions sur votre offre — {title}"
            lines = [f"L'acheteur vous adresse un message sur votre offre au marché spécifique « {title} », dans "
                     f"l'échange « {thread.subject} ».",
                     f"Votre réponse est attendue avant le {format_paris(answer_due_at or thread.answer_due_at)} ; "
                     "une réponse reçue après cette date est refusée.",
                     "Ces précisions éclairent votre offre ; elles ne la modifient pas."]
        else:
            subject = f"Réponse d'un soumissionnaire — {title}"
            lines = [f"Le soumissionnaire a répondu dans l'échange « {thread.subject} » sur son offre au marché "
                     f"spécifique « {title} »."]
        lines.append(f"Le message se lit sur la plateforme : {thread_path(thread.id)}")
        contract = await self.session.get(SpecificContract, thread.specific_contract_id)
        assert contract is not None
        sandbox = (await dps_of(self.session, contract.dps_id)).is_sandbox
        for email in await member_emails(self.session, organisation, roles):
            await self.notifications.notify(recipient_email=email, kind=MESSAGE_KIND, subject=subject,
                                            body="\n".join(lines), about=thread.id, sandbox=sandbox)



def _message_schema(message: ClarificationMessage,
                    file: ClarificationAttachment | None) -> schemas.ClarificationMessage:
    return schemas.ClarificationMessage(
        id=message.id, side=message.side, body=message.body, answer_due_at=message.answer_due_at,
        posted_at=message.posted_at, posted_at_paris=format_paris(message.posted_at),
        attachment=None if file is None else schemas.ClarificationFile(
            id=file.id, filename=file.filename, content_type=file.content_type, size=file.size, sha256=file.sha256,
            download_path=f"{thread_path(message.thread_id)}/attachments/{file.id}/download"))


Summaries = dict[uuid.UUID, list[tender_schemas.ClarificationSummary]]


async def clarification_summaries(session: AsyncSession, offer_ids: list[uuid.UUID]) -> Summaries:
    """Per offer, its clarification threads with their message counts, for the buyer's list of opened
    offers (tenders/opening/): one query for every offer."""
    found: Summaries = defaultdict(list)
    if not offer_ids:
        return found
    rows = (await session.execute(
        select(ClarificationThread, func.count(ClarificationMessage.id))
        .outerjoin(ClarificationMessage, ClarificationMessage.thread_id == ClarificationThread.id)
        .where(ClarificationThread.offer_id.in_(offer_ids)).group_by(ClarificationThread.id)
        .order_by(ClarificationThread.opened_at, ClarificationThread.id))).all()
    for thread, count in rows:
        found[thread.offer_id].append(tender_schemas.ClarificationSummary(
            id=thread.id, subject=thread.subject, status=thread.status.value, answer_due_at=thread.answer_due_at,
            messages=count, path=thread_path(thread.id)))
    return found
