"""Deposits and the exception to D14 (domain.md §11.3: CE 13 Nov 2025, n° 506640).

An undisclosed platform limit must never decide who may bid. So every limit a deposit can hit is published with
the specific contract and quoted by each refusal (D14a, `_limits.py`); every refused deposit act is journaled
apart, never its content (D14b, `_journal.py`); and, before the opening, the buying side may admit a vendor whose
journaled attempts the platform blocked in time to deposit until a time it sets, sealed like any offer, the
decision audited and shown in the opening record (D14c, `_admissions.py`). For everyone else the deadline is
unchanged, to the microsecond (D14).

The offers' use cases (tenders/offers/) run their acts inside `Journal.attempt`, quote limits with `quoted`
and read a vendor's window with `admission_of`; the opening (tenders/opening/) waits for `open_windows` and
writes `opening_entries` into its record.
"""

from __future__ import annotations

from marketplace.tenders.deposits._admissions import (
    LATE_ADMISSION_KIND,
    LateAdmissions,
    admission_of,
    open_windows,
    opening_entries,
)
from marketplace.tenders.deposits._journal import Attempt, Journal, JournalReading, attempt_schema
from marketplace.tenders.deposits._limits import ARCHIVE, PRESIGNED_LIFETIME, deposit_limits, published, quoted

__all__ = ["ARCHIVE", "LATE_ADMISSION_KIND", "PRESIGNED_LIFETIME", "Attempt", "DepositService", "Journal",
           "admission_of", "attempt_schema", "deposit_limits", "open_windows", "opening_entries", "published",
           "quoted"]


class DepositService(JournalReading, LateAdmissions):
    """What the buying side and the vendors read of a contract's deposits, and the late admissions."""
