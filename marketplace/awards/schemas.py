"""Bodies of the evaluation and award routes. Scores are integers 0–100; means and totals are decimals
rounded half-up to two places, sent as strings so no client reads them through a float."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from marketplace.accounts.roles import OrganisationKind
from marketplace.awards.states import (
    SCORE_MAX,
    SCORE_MIN,
    AbnormallyLowStatus,
    AwardStatus,
    ClarificationStatus,
    ContractEnd,
    ContractStatus,
    DialogueSide,
    OfferOutcome,
    RejectionGround,
    SignatureSide,
)
from marketplace.lib.esign import SignatureReport
from marketplace.lib.schemas import CamelStruct
from marketplace.tenders.schemas import ClarificationSummary

Text = Annotated[str, Meta(min_length=1, max_length=10_000)]


class DeclarationCreate(CamelStruct):
    has_conflict: bool
    statement: Text


class Declaration(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    evaluator_id: uuid.UUID
    has_conflict: bool
    statement: str
    declared_at: datetime


class ScoreGiven(CamelStruct):
    criterion: Annotated[str, Meta(min_length=1, max_length=200)]
    score: Annotated[int, Meta(ge=SCORE_MIN, le=SCORE_MAX)]
    comment: Text


class ScoresPut(CamelStruct):
    scores: Annotated[list[ScoreGiven], Meta(min_length=1, max_length=50)]


class Score(CamelStruct):
    offer_id: uuid.UUID
    evaluator_id: uuid.UUID
    criterion: str
    score: int
    comment: str
    scored_at: datetime


class RejectionCreate(CamelStruct):
    grounds: RejectionGround
    reasons: Text


class Rejection(CamelStruct):
    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    grounds: RejectionGround
    reasons: str
    rejected_at: datetime


# -- abnormally low offers (D15) ---------------------------------------------------------------------------


class AbnormallyLowCreate(CamelStruct):
    # Why the offer looks abnormally low: sent to the vendor as the written request for justification.
    reasons: Text
    # The justification is received until then (strictly before). A time without offset is Paris time.
    justification_due_at: datetime


class JustificationCreate(CamelStruct):
    text: Text


class AbnormallyLowDecision(CamelStruct):
    # True: the justification convinces, the offer is evaluated as any other; False: rejected (REJECTED_ALT).
    accepted: bool
    # Required to reject (the vendor reads them, D16/D17).
    reasons: Text | None = None


class JustificationDocument(CamelStruct):
    filename: str
    size: int
    sha256: str
    download_path: str


class AbnormallyLow(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    status: AbnormallyLowStatus
    reasons: str
    requested_at: datetime
    justification_due_at: datetime
    justification_due_at_paris: str
    justification: str | None
    justified_at: datetime | None
    document: JustificationDocument | None
    decision_reasons: str | None
    decided_at: datetime | None


class CriterionResult(CamelStruct):
    name: str
    weight: int
    mean: Decimal | None      # None until someone scored it
    scores: int               # how many evaluators scored it


class RankedOffer(CamelStruct):
    rank: int
    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    criteria: list[CriterionResult]
    total: Decimal
    received_at: datetime | None
    # Once the award is decided: winning or not_retained (machine (d)'s last states); rejected offers are
    # listed apart, in `rejected`. None before the award.
    outcome: OfferOutcome | None = None


class Ranking(CamelStruct):
    specific_contract_id: uuid.UUID
    status: str
    # Every evaluator who declared no conflict scored every criterion of every admissible offer.
    complete: bool
    evaluators: list[uuid.UUID]
    offers: list[RankedOffer]
    rejected: list[Rejection]
    tie_break: str = ("total (exact, before rounding) descending, then the earlier receipt, then the offer id; "
                      "offers tied on the exact total are all first (firstOfferIds)")
    # D10, R2162-51: the offers the award may go to, the first of the weighted ranking (several when tied on the
    # exact total, the buyer's reasons then say which and why); empty while nothing is admissible.
    first_offer_ids: list[uuid.UUID] = msgspec.field(default_factory=list)


class AwardCreate(CamelStruct):
    # D10, R2162-51: the first of the weighted ranking (`Ranking.firstOfferIds`); a better-ranked offer leaves
    # the ranking only by a reasoned rejection, never by a reason given here.
    offer_id: uuid.UUID
    reasons: Text
    # D18: a standstill is not required for a DPS specific contract; the buyer may observe one.
    standstill_required: bool = False


class Award(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    status: AwardStatus
    reasons: str
    # Awards decided before D10 was enforced could depart from the ranking with a reason; none since.
    departure_reason: str | None
    standstill_required: bool
    decided_at: datetime
    notices_sent_at: datetime
    earliest_signature_at: datetime
    notices: int
    sandbox: bool = False


class ReasonsRequestCreate(CamelStruct):
    request: Text


class ReasonsAnswer(CamelStruct):
    answer: Text


class PendingItem(CamelStruct):
    """One thing the buying side owes or waits for on a contract (the work queue): when it is due, on the
    contract's own clock (`now`: a sandbox's runs faster). Nothing of any offer's content."""

    specific_contract_id: uuid.UUID
    contract_title: str
    due_at: datetime
    now: datetime
    # D15: the vendor's justification is in, the buyer's decision is what waits.
    received: bool = False
    sandbox: bool = False

    @property
    def overdue(self) -> bool:
        return self.due_at <= self.now


class ReasonsRequest(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    request: str
    requested_at: datetime
    due_at: datetime
    answer: str | None
    answered_at: datetime | None


class OwnCriterion(CamelStruct):
    name: str
    weight: int
    mean: Decimal | None


class MyEvaluation(CamelStruct):
    """What a vendor reads of the evaluation (D16): its own offer's scores, the awardee, nothing else."""

    specific_contract_id: uuid.UUID
    offer_id: uuid.UUID
    outcome: OfferOutcome
    criteria: list[OwnCriterion]
    total: Decimal | None
    rejection_grounds: RejectionGround | None
    rejection_reasons: str | None
    awardee_name: str
    award_reasons: str
    earliest_signature_at: datetime
    reasons_requests: list[ReasonsRequest] = msgspec.field(default_factory=list)


# -- contracts (machine (e), FU7) -------------------------------------------------------------------------

Cents = Annotated[int, Meta(gt=0, le=10**15)]
Terms = Annotated[str, Meta(min_length=1, max_length=10_000)]
Label = Annotated[str, Meta(min_length=1, max_length=300)]


class PaymentInstalment(CamelStruct):
    """One payment the holder (the buyer) owes the vendor under the contract: what for, how much, and when (a date,
    or none when it hangs on an event the label says, e.g. "à la recette")."""

    label: Label
    amount_cents: Cents
    due_on: date | None = None


class ContractCreate(CamelStruct):
    # The amount signed, in euro cents excluding tax (the award records no amount).
    amount_cents: Cents
    # FU7: the contract's own payment terms, what the buyer pays the vendor and when, as agreed between them:
    # free text and/or a schedule whose instalments add up to the amount. Distinct from the funder's grant
    # tranches (FU5), which pay the holder.
    payment_terms: Terms | None = None
    payment_schedule: Annotated[list[PaymentInstalment], Meta(max_length=50)] = msgspec.field(default_factory=list)


class ContractSignature(CamelStruct):
    side: SignatureSide
    signed_by: str
    signed_at: datetime
    size: int
    sha256: str
    # GET: a short-lived link to the signed document (307).
    download_path: str
    media_type: str
    # G16: what the offline verification found, check by check (none on signatures from before it).
    verification: SignatureReport | None


class ModificationCreate(CamelStruct):
    reason: Text
    amount_cents: Cents


class ContractModification(CamelStruct):
    id: uuid.UUID
    reason: str
    previous_amount_cents: int
    amount_cents: int
    modified_by: str
    modified_at: datetime


class ContractTransition(CamelStruct):
    from_status: str | None
    to_status: str
    action: str
    at: datetime
    reasons: str | None = None


class ContractCancellation(CamelStruct):
    """PENDING --abandon--> CANCELLED."""

    reasons: Text


class ContractTermination(CamelStruct):
    """ACTIVE --completed|terminated_early--> TERMINATED."""

    kind: ContractEnd
    reasons: Text


# -- the specific contract declared sans suite (machine (c)) ---------------------------------------------


class SansSuiteCreate(CamelStruct):
    reasons: Text


class SansSuite(CamelStruct):
    specific_contract_id: uuid.UUID
    status: str
    previous_status: str
    reasons: str
    declared_at: datetime
    # The award cancelled and the pending contract abandoned with it, if there were any.
    cancelled_award_id: uuid.UUID | None
    abandoned_contract_id: uuid.UUID | None
    # How many notifications went to the invitees (admins and bid managers of every invited vendor).
    notified: int


class ContractParty(CamelStruct):
    """HC4: a party to the contract, who signs for its side: the buyer of the specific contract (the holder in
    intermediation, HC2; the central purchasing body when centralised, HC3) and the awardee."""

    side: SignatureSide
    organisation_id: uuid.UUID
    name: str
    kind: OrganisationKind
    signed_at: datetime | None


class Contract(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    award_id: uuid.UUID
    buyer_organisation_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    # HC4: both parties, the buyer's side first; each signs for its own (G16, D18).
    parties: list[ContractParty]
    status: ContractStatus
    # As signed; `currentAmountCents` is the last modification's, or this one.
    amount_cents: int
    current_amount_cents: int
    earliest_sign_at: datetime
    signatures: list[ContractSignature]
    # FU7: the contract's payment terms as given at its creation (the funder's grant is the need's, FU5).
    payment_terms: str | None
    payment_schedule: list[PaymentInstalment]
    modifications: list[ContractModification]
    transitions: list[ContractTransition]
    # Under a sandbox DPS: a rehearsal, "sans valeur juridique"; its times are the sandbox's.
    sandbox: bool = False


# -- clarifications (the dialogue on an opened offer) ------------------------------------------------------

Subject = Annotated[str, Meta(min_length=1, max_length=300)]


class CommitteeUpdate(CamelStruct):
    """HC3: whether the holder sits on the evaluation committee of a contract the central purchasing body runs."""

    holder_invited: bool


class ClarificationCreate(CamelStruct):
    subject: Subject
    body: Text
    # The vendor answers strictly before it. Without a zone, a Paris wall-clock time.
    answer_due_at: datetime


class ClarificationPost(CamelStruct):
    body: Text
    # The buying side only, with a new question: a new due date (else the thread's stays).
    answer_due_at: datetime | None = None


class ClarificationFile(CamelStruct):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    download_path: str


class ClarificationMessage(CamelStruct):
    id: uuid.UUID
    side: DialogueSide
    # A text, or a file (`attachment`).
    body: str | None
    # The due date this question of the buying side set.
    answer_due_at: datetime | None
    posted_at: datetime
    posted_at_paris: str
    attachment: ClarificationFile | None


class ClarificationThread(CamelStruct):
    id: uuid.UUID
    specific_contract_id: uuid.UUID
    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    subject: str
    status: ClarificationStatus
    answer_due_at: datetime
    answer_due_at_paris: str
    opened_at: datetime
    closed_at: datetime | None
    messages: list[ClarificationMessage]


# -- the evaluation and award files, as the back-office's pages read them ----------------------------------


class SheetCriterion(CamelStruct):
    name: str
    weight: int


class EvaluatorDeclaration(CamelStruct):
    """Who declared for the contract, and whether with a conflict (the statement stays with its author)."""

    evaluator_id: uuid.UUID
    evaluator_name: str
    has_conflict: bool
    declared_at: datetime


class EvaluatorScore(CamelStruct):
    evaluator_id: uuid.UUID
    evaluator_name: str
    criterion: str
    score: int
    comment: str
    scored_at: datetime


class SheetOffer(CamelStruct):
    """An opened offer as the evaluation committee works on it: every evaluator's scores, its rejection if any,
    its D15 procedure if any, the clarifications asked of its vendor."""

    offer_id: uuid.UUID
    vendor_organisation_id: uuid.UUID
    vendor_name: str
    received_at: datetime | None
    rejection: Rejection | None
    abnormally_low: AbnormallyLow | None
    scores: list[EvaluatorScore]
    clarifications: list[ClarificationSummary]


class EvaluationSheet(CamelStruct):
    """The evaluation of a specific contract for one member of its committee: the stage, their own declaration,
    everyone's declarations and scores, the offers and, from the evaluation's start, the ranking."""

    specific_contract_id: uuid.UUID
    status: str
    # G8: the evaluation has started and the award has not frozen it: declarations and scores are taken.
    evaluating: bool
    # D13: clarifications are asked after the opening and until the award.
    clarifying: bool
    # Machine (c): the caller may start the evaluation now (an administrator of the buying side, offers opened).
    startable: bool
    criteria: list[SheetCriterion]
    my_declaration: Declaration | None
    declarations: list[EvaluatorDeclaration]
    offers: list[SheetOffer]
    ranking: Ranking | None


class NoticeDelivery(CamelStruct):
    """D16: one award notice (to the awardee's or a losing vendor's people) and how its delivery stands."""

    kind: str
    recipient_email: str
    email_status: str
    emailed_at: datetime | None
    failure_reason: str | None
    created_at: datetime


class AwardFile(CamelStruct):
    """The award of a specific contract for its buying side: the ranking it decides on, the award, its notices
    (D16), the vendors' requests for reasons (D17) and the contract that follows, if created."""

    specific_contract_id: uuid.UUID
    status: str
    # Machine (c): the caller may award now (an administrator of the buying side, evaluation, no live award).
    awardable: bool
    ranking: Ranking | None
    award: Award | None
    notices: list[NoticeDelivery]
    reasons_requests: list[ReasonsRequest]
    vendor_names: dict[str, str]
    contract_id: uuid.UUID | None
