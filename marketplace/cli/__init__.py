"""`marketplace`: dev (embedded stack), serve, worker, migrate, create-bucket, demo-sign, …

The package's private modules: `_main.py` (the command group and the helpers its commands share), `_ops.py`
(running and operating the product), `_backup.py` (backup, restore, the retention purge), `_dev.py` (the
development commands); importing them registers their commands with the group.
"""

from __future__ import annotations

from marketplace.cli import _backup, _dev, _ops  # noqa: F401  (their commands join the group as they are imported)
from marketplace.cli._main import main

__all__ = ["main"]
