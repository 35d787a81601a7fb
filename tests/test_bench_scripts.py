"""The benchmarks in bench/ stay runnable: each script's imports resolve against today's code (a moved or renamed
module broke `bench/fanout.py` once, unnoticed until the next measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_bench_script_imports() -> None:
    scripts = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__init__")
    # Those with targets the lead measures at full size: a rename must not drop them from this check.
    assert {"fanout", "search", "seed_needs", "submissions"} <= set(scripts)
    # In a child process: some scripts reorder sys.path when imported, which must not leak into this one.
    code = "import importlib\n" + "".join(f"importlib.import_module('bench.{name}')\n" for name in scripts)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_results_file_that_does_not_exist_yet_is_started(tmp_path: Path) -> None:
    """`--out` elsewhere than bench/RESULTS.md: the run ended in a traceback and its figures were lost."""
    code = ("import sys; from pathlib import Path; from bench.search import insert_section, RUNS_MARKER\n"
            "p = Path(sys.argv[1]); insert_section(p, '## first'); insert_section(p, '## second')\n"
            "text = p.read_text(); assert RUNS_MARKER in text and text.index('## second') < text.index('## first')\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "new.md")], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
