"""D14a: the limits a deposit can hit, as the contract publishes them, and the refusals that quote them.

A vendor must be able to know before it deposits every constraint the platform will apply (the undisclosed
upload cap of CE 13 Nov 2025, n° 506640): each one is a member of the contract's `depositLimits` (its public
view and its invitees' view), and each refusal names the member it hit (`limitName`) and its value (`limit`),
in its detail too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import msgspec

from marketplace.errors import DomainError
from marketplace.lib.body import MAX_JSON_BODY
from marketplace.lib.clock import format_paris
from marketplace.lib.files import ZipLimits
from marketplace.tenders import schemas
from marketplace.tenders.models import SpecificContract

PRESIGNED_LIFETIME = timedelta(minutes=15)
# What an offer's archives are held to (lib/files `check_zip` without explicit limits).
ARCHIVE = ZipLimits()
ARCHIVE_LIMITS = schemas.ArchiveLimits(
    max_members=ARCHIVE.max_members, max_uncompressed_bytes=ARCHIVE.max_total_uncompressed,
    max_compression_ratio=ARCHIVE.max_ratio, ratio_checked_from_bytes=ARCHIVE.ratio_floor,
    nested_archives_allowed=ARCHIVE.allow_nested, encrypted_members_allowed=ARCHIVE.allow_encrypted)
# The offer's structured parts: the JSON body the app takes (lib/body.py), and the parts' own schema.
PARTS_LIMITS = schemas.PartsLimits(
    max_body_bytes=MAX_JSON_BODY, price_lines_max=schemas.PRICE_LINES_MAX, item_max_length=schemas.ITEM_MAX_LENGTH,
    answers_max=schemas.ANSWERS_MAX, answer_max_length=schemas.ANSWER_MAX_LENGTH)


class Limited(Protocol):
    """A specific contract, or a row of the public search that carries its limits."""

    @property
    def tender_deadline(self) -> datetime: ...
    @property
    def attachment_max_bytes(self) -> int: ...
    @property
    def offer_max_bytes(self) -> int: ...
    @property
    def attachment_max_count(self) -> int: ...
    @property
    def attachment_types(self) -> list[str]: ...


def deposit_limits(contract: Limited) -> schemas.DepositLimits:
    """Every limit a deposit on `contract` can hit (D14a), as its views publish them."""
    return schemas.DepositLimits(
        tender_deadline=contract.tender_deadline, tender_deadline_paris=format_paris(contract.tender_deadline),
        attachment_max_bytes=contract.attachment_max_bytes, offer_max_bytes=contract.offer_max_bytes,
        attachment_max_count=contract.attachment_max_count, attachment_types=list(contract.attachment_types),
        archive=ARCHIVE_LIMITS, presigned_upload_lifetime_seconds=int(PRESIGNED_LIFETIME.total_seconds()),
        filename_max_length=schemas.FILENAME_MAX_LENGTH, parts=PARTS_LIMITS)


def published(contract: SpecificContract, name: str) -> Any:
    """The value of the published limit `name` (a member of `depositLimits`, camelCase), as JSON."""
    builtins: dict[str, Any] = msgspec.to_builtins(deposit_limits(contract))
    return builtins[name]


_Error = TypeVar("_Error", bound=DomainError)


def quoted(error: _Error, contract: SpecificContract, name: str, **extra: Any) -> _Error:
    """`error`, naming the published limit `name` it hit and its value (D14a); its own rule (D14 for the
    deadline) is kept, D14a given otherwise."""
    value = published(contract, name)
    error.extra.update(limitName=name, limit=value, **extra)
    error.extra.setdefault("rule", "D14a")
    shown = format_paris(contract.tender_deadline) if name == "tenderDeadline" else _shown(value)
    error.detail = f"{error.detail} [D14a: the limit published as depositLimits.{name}: {shown}]"
    return error


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)
