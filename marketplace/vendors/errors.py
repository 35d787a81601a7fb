from __future__ import annotations

from typing import ClassVar

from marketplace.errors import DomainError, RuleViolation
from marketplace.uploads import DocumentTooLarge, DocumentTypeRefused

__all__ = ["DocumentArchived", "DocumentTooLarge", "DocumentTypeRefused", "MissingDocuments"]


class MissingDocuments(RuleViolation):
    slug: ClassVar[str] = "missing-documents"


class DocumentArchived(DomainError):
    status_code: ClassVar[int] = 410
    title: ClassVar[str] = "Gone"
    slug: ClassVar[str] = "document-archived"
