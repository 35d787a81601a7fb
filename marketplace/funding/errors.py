"""The funding domain's refusals (domain.md §11.2), each a problem naming its field and rule."""

from __future__ import annotations

from typing import ClassVar

from marketplace.errors import Conflict, RuleViolation


class NotRouted(RuleViolation):
    """N5: the need goes to another call (the national one from the threshold, else the ARS of its region)."""

    slug: ClassVar[str] = "not-routed"


class CallClosed(Conflict):
    """N17: the call receives filings within its window only (from its opening, until its closing excluded)."""

    slug: ClassVar[str] = "call-closed"


class AlreadyFiled(Conflict):
    """FU3: a need is filed once, to one call."""

    slug: ClassVar[str] = "already-filed"


class AlreadyDecided(Conflict):
    """FU3: one decision per need, never changed."""

    slug: ClassVar[str] = "already-decided"


class EnvelopeExceeded(RuleViolation):
    """FU3: what a call grants stays within its envelope."""

    slug: ClassVar[str] = "envelope-exceeded"


class TrancheOutOfOrder(Conflict):
    """FU5: the tranches are requested in order, the first once the contract is signed."""

    slug: ClassVar[str] = "tranche-out-of-order"


class TrancheStage(Conflict):
    """FU5: the tranche is not in a state that allows this (requested, validated, refused, paid)."""

    slug: ClassVar[str] = "tranche-stage"
