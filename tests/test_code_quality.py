"""Lint and types are part of the suite: a change that breaks them fails like a broken test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_ruff() -> None:
    result = subprocess.run([str(BIN / "ruff"), "check", "marketplace", "storage", "tests", "migrations", "bench"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = subprocess.run([str(BIN / "mypy"), "marketplace", "storage"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_storage_never_imports_marketplace() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "storage").rglob("*.py")
                 if "import marketplace" in path.read_text() or "from marketplace" in path.read_text()]
    assert offenders == []
