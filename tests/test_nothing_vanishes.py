"""Under CI=true a test that did not run fails the run (tests/conftest.py, NothingVanishes): a skip is green
and tests nothing, so a missing file, service or font would silently drop whole rules from CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The suite's own hook, in a throwaway session of its own.
CONFTEST = "from tests.conftest import pytest_configure  # noqa: F401\n"
TESTS = '''
import pytest

def test_runs():
    assert True

def test_skipped():
    pytest.skip("the reference file is not there")

@pytest.mark.skipif(True, reason="no font installed")
def test_skipped_by_mark():
    pass

@pytest.mark.xfail(reason="known to fail")
def test_xfailed():
    assert False

@pytest.mark.xfail(reason="was known to fail")
def test_xpassed():
    pass
'''


def _pytest(directory: Path, *, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--rootdir", str(directory), "-c", os.devnull, str(directory)],
                          cwd=directory, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_under_ci_a_skip_xfail_or_xpass_fails_the_run_with_its_reasons(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_some.py").write_text(TESTS)

    ci = _pytest(tmp_path, ci="true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "CI=true: 4 test(s) did not run, which fails the run" in ci.stdout
    for line in ("test_some.py::test_skipped: skipped: the reference file is not there",
                 "test_some.py::test_skipped_by_mark: skipped: no font installed",
                 "test_some.py::test_xfailed: xfailed: known to fail",
                 "test_some.py::test_xpassed: xpassed: was known to fail"):
        assert line in ci.stdout, ci.stdout

    # On a developer's machine they stay what pytest makes of them.
    local = _pytest(tmp_path, ci=None)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "did not run" not in local.stdout


def test_under_ci_a_run_where_everything_ran_passes(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_some.py").write_text("def test_runs():\n    assert True\n")
    ci = _pytest(tmp_path, ci="true")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    assert "did not run" not in ci.stdout
