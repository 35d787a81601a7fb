"""The opening of the offers (machine (c) OPEN --deadline--> CLOSED_FOR_OFFERS, D13, P6, P9, G2, G5).

After the deadline, `opening_threshold` openers of the buying organisation (the caller among them) give
their passphrases together. Their keys rebuild the contract's private key in memory; every submitted
offer is unsealed at once: each file is read back, decrypted and its size and SHA-256 compared with the
receipt's (a mismatch is flagged and blocks that file only). The result is the opening record: who
opened, when, every offer with its receipt times and hashes, and apart the withdrawn, superseded and late
ones, signed by the platform. Every attempt, refused or not, is audited; the refused ones in a
transaction of their own, since the request's rolls back with the refusal.

Before the deadline the buyer learns nothing of the offers, not even how many there are; between the
deadline and the opening, only how many were received.

The malware scan happens here too (P10, G11): the files are sealed at receipt, so the opening is the first
moment anyone can read them. Each file's verified plaintext goes to clamd in the same pass. Only a clear
verdict changes `scan_status`; with no scanner configured, or clamd down, slow or confused, the file stays
`pending` (never "clean") and, when a scanner is configured, a job scans it again once clamd is back.
An infected file stays stored with its verdict (the trace the CCP keeps), is listed in the opening
record, audited, and never served.

The package's private modules: `_open.py` (the offers received, the opening), `_reading.py` (the opened offers
read), `_scan.py` (each file verified and scanned, and scanned again by the job) over `_base.py`.
"""

from __future__ import annotations

from marketplace.tenders.opening._base import SCAN_JOB, Evaluation, released_key_context, scanner_from
from marketplace.tenders.opening._open import Opening
from marketplace.tenders.opening._reading import Reading
from marketplace.tenders.opening._scan import AttachmentVerdict

__all__ = ["SCAN_JOB", "AttachmentVerdict", "Evaluation", "OpeningService", "released_key_context", "scanner_from"]


class OpeningService(Opening, Reading):
    """The opening of a specific contract's offers and what the buying side reads of them."""
