"""Sealed offers (machine (d), D13–D14, reliability.md P1–P4, P9, P11, G3, G7).

An invited vendor's admin or bid manager creates a draft offer on an open specific contract, gives its
structured parts (price schedule, an answer per award criterion) and streams its attachments; then
submits it. Everything it sends is sealed as it arrives: each file and the parts get their own data key,
wrapped to the contract's public key (tenders/openers.py), so what is stored, in PostgreSQL and in the
bucket, is ciphertext until the opening (P4). The server sees each file's bytes once, in memory, while
hashing them (the SHA-256 of the plaintext is what the receipt certifies).

Submission is accepted iff the server's clock, read once every byte is persisted, is strictly before
the deadline (D14: at the deadline exactly it is late); a trigger refuses any submitted row whose time
is not (P2). It returns the receipt, signed by the platform (tenders/vault.py). Submitting the same draft
again, or with the same Idempotency-Key, returns the same receipt (G7). A new draft submitted later
supersedes the previous submission; before the deadline the vendor may also withdraw.

Object rule: an offer is its vendor's; its buyer learns nothing of it before the deadline, then how many
were received, then everything at the opening (tenders/opening/). Anyone else: 404.

The package's private modules: `_drafts.py` (the draft and its parts), `_attachments.py` (its files),
`_submission.py` (submission, the receipt, withdrawal) over `_base.py` (the vendor's own offer, the deadline);
`_contexts.py` binds each sealed piece to its place.
"""

from __future__ import annotations

from marketplace.tenders.deposits import PRESIGNED_LIFETIME
from marketplace.tenders.offers._attachments import Attachments
from marketplace.tenders.offers._base import audit_apart
from marketplace.tenders.offers._contexts import attachment_context, name_context, offer_context, receipt_context
from marketplace.tenders.offers._drafts import Drafts
from marketplace.tenders.offers._submission import RECEIPT_PLATFORM, Submission

__all__ = ["PRESIGNED_LIFETIME", "RECEIPT_PLATFORM", "OfferService", "attachment_context", "audit_apart",
           "name_context", "offer_context", "receipt_context"]


class OfferService(Drafts, Attachments, Submission):
    """An invited vendor's offers on a specific contract: its drafts, their files, their submission."""
