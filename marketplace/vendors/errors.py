from __future__ import annotations

from typing import ClassVar

from marketplace.errors import Conflict, DomainError, RuleViolation
from marketplace.uploads import DocumentTooLarge, DocumentTypeRefused

__all__ = ["DocumentArchived", "DocumentTooLarge", "DocumentTypeRefused", "InvalidTransition", "MissingDocuments"]


class MissingDocuments(RuleViolation):
    slug: ClassVar[str] = "missing-documents"


class InvalidTransition(Conflict):
    """A move the DPS's or the admission request's machine (states.py) does not allow from its current state."""

    slug: ClassVar[str] = "invalid-transition"


class DocumentArchived(DomainError):
    status_code: ClassVar[int] = 410
    title: ClassVar[str] = "Gone"
    slug: ClassVar[str] = "document-archived"
