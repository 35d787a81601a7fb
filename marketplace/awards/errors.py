from __future__ import annotations

from typing import ClassVar

from marketplace.errors import Conflict, Forbidden, RuleViolation
from marketplace.uploads import DocumentTypeRefused


class DeclarationRequired(RuleViolation):
    """An evaluator scores only after declaring, for this contract, that they have no conflict of interest."""

    slug: ClassVar[str] = "declaration-required"


class RankingIncomplete(Conflict):
    slug: ClassVar[str] = "ranking-incomplete"


class AlreadyAwarded(Conflict):
    """G8: one live award per specific contract; a concurrent or repeated award loses."""

    slug: ClassVar[str] = "already-awarded"


class ContractStage(Conflict):
    """Machine (e): the contract is not in a state that allows this (signing, modifications, its end)."""

    slug: ClassVar[str] = "contract-stage"


class SignatureTooEarly(Conflict):
    """D18: no signature before the earliest signature date set by the award."""

    slug: ClassVar[str] = "signature-too-early"


class AlreadySigned(Conflict):
    slug: ClassVar[str] = "already-signed"


class OffersNotOpened(Conflict):
    """D13: nothing of an offer is read, nor discussed with its vendor, before the opening."""

    slug: ClassVar[str] = "offers-not-opened"


class ClarificationClosed(Conflict):
    """The buying side closed the thread: nothing more is posted to it."""

    slug: ClassVar[str] = "clarification-closed"


class AnswerOverdue(Conflict):
    """The vendor answers strictly before the due date the buying side set (equal treatment: no vendor gets
    more time than it was given to explain its offer)."""

    slug: ClassVar[str] = "answer-overdue"


class AbnormallyLowConflict(Conflict):
    """D15: the abnormally-low procedure doesn't allow this now (pending, decided, or past its due date)."""

    slug: ClassVar[str] = "abnormally-low"


class SignatureInvalid(RuleViolation):
    """G16: the signed contract doesn't verify offline (integrity, timestamp, validity or revocation at signing
    time, chain to the trusted list) or, when qualified signatures are required, its certificate isn't qualified."""

    slug: ClassVar[str] = "signature-invalid"


class SignatureUnsupported(DocumentTypeRefused):
    """G16: not a PAdES, CAdES (enveloping) or XAdES (enveloped) signature, or not the declared one."""

    slug: ClassVar[str] = "signature-unsupported"


class ConflictOfInterest(Forbidden):
    """The caller declared a conflict of interest for this contract: they stay out of its offers."""

    slug: ClassVar[str] = "conflict-of-interest"
