"""The real worker in a process of its own, for tests that kill it with SIGKILL.

Same functions and options as `marketplace worker`, except a short job timeout: arq lets another worker
take over a job whose worker died only once the job's in-progress mark expires (job timeout + 10 s), two
minutes in production, which a test should not wait for.
"""

from __future__ import annotations

import asyncio
import sys

from arq.worker import Worker

from marketplace.settings import Settings
from marketplace.worker import worker_options


async def main(job_timeout: int) -> None:
    worker = Worker(**worker_options(Settings.from_env(), job_timeout=job_timeout))
    try:
        await worker.main()
    finally:
        await worker.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
