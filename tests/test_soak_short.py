"""G13 at a small size: ten users for 45 s against granian with two workers on the session's services; no 5xx,
descriptors and PostgreSQL connections stable, memory bounded, latencies within loose bounds.

bench/soak.py's `soak()` (the full size is `bench/soak.py` with its defaults: 50 users for 30 minutes, the targets
of reliability.md G13). The bounds here are looser than the targets: the suite shares the machine.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from marketplace.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.serial, pytest.mark.timeout(300)]


def test_ten_users_for_45_seconds_get_no_5xx_and_leak_no_descriptor_nor_connection(settings: Settings) -> None:
    saved = list(sys.path)
    try:
        from bench.soak import soak
        from bench.submissions import set_up
    finally:
        sys.path[:] = saved  # the scripts put the repository's root first when imported
    contract = asyncio.run(set_up(settings, 10))
    result = soak(settings, contract.id, contract.users, seconds=45, warmup=10, workers=2, think=0.5,
                  submit_share=0.15, sample_every=3, seed=13)
    assert result.server_errors == 0, result.statuses
    assert result.other_errors == 0, result.statuses
    assert len(result.latencies["metadata"]) > 100 and result.submitted > 5, (result.statuses, result.submitted)
    assert result.missed(metadata_p95=1500, submit_p95=6000, rss_growth=0.25, fd_slack=24,
                         connection_slack=6) == [], result.samples
