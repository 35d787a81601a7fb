from __future__ import annotations

from typing import ClassVar

from marketplace.errors import DomainError, RuleViolation


class DocumentTooLarge(DomainError):
    status_code: ClassVar[int] = 413
    title: ClassVar[str] = "Document too large"
    slug: ClassVar[str] = "document-too-large"


class DocumentTypeRefused(DomainError):
    status_code: ClassVar[int] = 415
    title: ClassVar[str] = "Document type refused"
    slug: ClassVar[str] = "document-type-refused"


class MissingDocuments(RuleViolation):
    slug: ClassVar[str] = "missing-documents"


class DocumentArchived(DomainError):
    status_code: ClassVar[int] = 410
    title: ClassVar[str] = "Gone"
    slug: ClassVar[str] = "document-archived"
