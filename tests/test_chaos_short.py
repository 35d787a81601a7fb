"""G6 at a small size: submissions with an attachment while API workers, PostgreSQL and Redis are killed; no
acknowledged offer is lost, none is duplicated, every object matches its hash, no orphan survives the sweeper.

bench/chaos.py's `run()` on services of its own (a PostgreSQL, Redis and S3 under the test's temporary directory):
it crashes its PostgreSQL and kills its Redis, so it never touches the session's shared ones. The full size
(1,000 submissions, 20 worker kills, 5 PostgreSQL crashes, 5 Redis kills) is `bench/chaos.py` with its defaults.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# `serial`: it kills processes and wants the machine's cores for its time bounds; `slow`: it starts its own services.
# Not `serial`: it asserts what is stored, not how fast, on services of its own; beside another worker it takes
# longer, which its time bound allows, and the suite's serial part (everything else waits) is shorter for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]


def test_no_acknowledged_offer_is_lost_when_workers_postgresql_and_redis_are_killed(tmp_path: Path) -> None:
    saved = list(sys.path)
    try:
        from bench.chaos import run
    finally:
        sys.path[:] = saved  # the script puts the repository's root first when imported
    outcome = run(tmp_path / "chaos", submissions=30, concurrency=10, api_kills=2, pg_restarts=1, redis_kills=1,
                  max_seconds=240, seed=6, log=lambda line: None)
    ledger, rec, faults = outcome.ledger, outcome.reconciliation, outcome.faults
    # Every fault happened, while submissions were in flight, and the clients saw them.
    done = Counter({"api": faults.api_kills, "pg": faults.pg_restarts, "redis": faults.redis_kills})
    assert done == Counter({"api": 2, "pg": 1, "redis": 1}) and not faults.errors, faults
    assert sum(ledger.retried.values()) > 0, ledger.retried
    # Every vendor got its receipt in the end (retries with the same Idempotency-Key), none refused.
    assert rec.acknowledged == 30 and not ledger.refused and ledger.abandoned == 0, (ledger.refused, ledger.abandoned)
    # The reconciliation: 0 missing, 0 mismatched, 0 duplicates, every object read back and matching its hash.
    assert rec.missing_offers == [] and rec.receipt_mismatches == [] and rec.sent_not_recorded == []
    assert rec.submitted_rows == 30 and rec.duplicate_vendors == 0 and rec.duplicate_submissions == 0
    assert rec.objects_missing == [] and rec.objects_mismatched == []
    assert rec.objects_verified == rec.attachment_rows >= 30
    # Orphans (objects of requests killed mid-way) are gone after the sweep; nothing a row names was removed.
    assert rec.orphans_after_sweep == 0 and rec.named_missing_after_sweep == 0
    assert rec.swept == rec.orphans_before_sweep
    assert rec.audit_verified, rec.audit_output
    assert outcome.failures == []
