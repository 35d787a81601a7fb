from __future__ import annotations

from typing import ClassVar

from marketplace.errors import DomainError


class ReferenceFileRefused(DomainError):
    """The file is not a reference table this command can import; nothing was imported."""

    status_code: ClassVar[int] = 422
    title: ClassVar[str] = "Reference file refused"
    slug: ClassVar[str] = "reference-file-refused"
