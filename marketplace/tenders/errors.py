from __future__ import annotations

from typing import Any, ClassVar

from marketplace.errors import Conflict, DomainError, RuleViolation


class WrongStage(Conflict):
    """Machine (c): the action is not allowed in the contract's current state (G8)."""

    slug: ClassVar[str] = "wrong-stage"


class DeadlinePassed(Conflict):
    """D14: the end of the submission reached the server at or after the deadline."""

    slug: ClassVar[str] = "deadline-passed"


class ArchiveRefused(RuleViolation):
    """G11: an archive among an offer's files holds what is refused (a bomb, a zip-slip, nested or encrypted
    members). Its reasons name members of the archive, which is sealed content: the journal of failed deposits
    (D14b) keeps `unnamed`, the same reasons without the names."""

    def __init__(self, detail: str, *, unnamed: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.unnamed = unnamed


class OffersSealed(DomainError):
    """D13: nothing of the offers is shown before the deadline (their number included) nor, beyond that
    number, before the opening."""

    status_code: ClassVar[int] = 403
    title: ClassVar[str] = "Offers sealed"
    slug: ClassVar[str] = "offers-sealed"


class NotTheBuyingSide(DomainError):
    """HC2, HC3: the caller follows the procedure (the central purchasing body in intermediation) or holds it (the
    need's holder in centralised mode) without being its buying side: it knows the contract exists, so a 403 that
    says why rather than a 404, and nothing is done."""

    status_code: ClassVar[int] = 403
    title: ClassVar[str] = "Not the buying side"
    slug: ClassVar[str] = "not-the-buying-side"


class OpeningRefused(DomainError):
    status_code: ClassVar[int] = 403
    title: ClassVar[str] = "Opening refused"
    slug: ClassVar[str] = "opening-refused"


class IntegrityFailure(Conflict):
    """P9: a file no longer matches the size and SHA-256 recorded at receipt; it is blocked."""

    slug: ClassVar[str] = "integrity-failure"


class IdempotencyKeyReused(DomainError):
    status_code: ClassVar[int] = 422
    title: ClassVar[str] = "Idempotency key reused"
    slug: ClassVar[str] = "idempotency-key-reused"


class FileQuarantined(Conflict):
    """P10: the malware scan found a threat in this file; it is kept as the trace, never served."""

    slug: ClassVar[str] = "file-quarantined"


class FileNotScanned(Conflict):
    """reliability.md §2.9: a file without a verdict is not served unless the reader says, knowingly, that
    it takes it unscanned (and that choice is audited)."""

    slug: ClassVar[str] = "file-not-scanned"


class InvalidSearch(DomainError):
    """A search parameter that is malformed; `field` names it as on the wire."""

    status_code: ClassVar[int] = 400
    title: ClassVar[str] = "Invalid request"
    slug: ClassVar[str] = "invalid-request"


class UnknownSearchValue(RuleViolation):
    """A parameter of the documented form that names nothing known (a département, region or CPV code that
    doesn't exist, a cursor this listing never gave, a range that ends before it starts): a 422 naming it,
    as the document can't list every code (a 400 is for input its schema refuses)."""

    slug: ClassVar[str] = "unknown-search-value"
