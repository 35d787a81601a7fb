from __future__ import annotations

from typing import ClassVar

from marketplace.errors import RuleViolation


class UndeliverableAddress(RuleViolation):
    """An address no mail could reach through the platform's server (notifications/mail.py)."""

    slug: ClassVar[str] = "undeliverable-address"
