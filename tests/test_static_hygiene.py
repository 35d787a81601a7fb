"""Static and supply-chain hygiene (reliability.md G17): bandit, the project's semgrep rules, hashed locked
dependencies.

Each check fails listing what it found. A finding is silenced only on its line, naming the check and saying why
(`# nosec B608  # why`, `# nosemgrep: rule-id  # why`): `test_every_suppression_names_its_check_and_says_why`
refuses a bare one. The tools run offline, from the environment the tests run in (the dev group of pyproject).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCANNED = ("marketplace", "storage")
SEMGREP_RULES = ROOT / ".semgrep" / "marketplace.yml"
BAD_EXAMPLES = ROOT / "tests" / "static" / "bad_examples.py"
_BAD_MARK = re.compile(r"#\s*bad:\s*([\w-]+)\s*$")


def _tool(name: str) -> str:
    """The tool installed beside the interpreter running the tests (the project's environment: bandit), else the
    checkout's own tool venvs (`.tools/semgrep`, installed by `./run test` from `.semgrep/requirements.txt`, hashed);
    never whatever comes first on PATH."""
    for directory in (BIN, ROOT / ".tools" / "semgrep" / "bin", ROOT / ".tools" / "bin"):
        if (directory / name).exists():
            return str(directory / name)
    pytest.fail(f"{name} is installed neither beside {sys.executable} (the dev group of pyproject.toml) nor in "
                ".tools/semgrep/bin (`./run test` installs it)")


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout, env=env)


# --- bandit -----------------------------------------------------------------------------------------------------


def test_bandit_finds_nothing_of_medium_or_high_severity() -> None:
    """Low-severity findings (asserts, subprocess without a shell) are left to review; medium and high fail."""
    done = _run([_tool("bandit"), "-r", *SCANNED, "--severity-level", "medium", "--format", "json", "--quiet"],
                timeout=180)
    report = json.loads(done.stdout)
    assert report["errors"] == [], f"bandit could not check these files: {report['errors']}"
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} ({r['issue_severity']}) {r['issue_text']}"
                for r in report["results"]]
    assert findings == [], "bandit findings (fix them, or `# nosec BXXX  # why` on the line):\n" + "\n".join(findings)


# --- semgrep ----------------------------------------------------------------------------------------------------


def _rule_ids() -> set[str]:
    return set(re.findall(r"^  - id: ([\w-]+)$", SEMGREP_RULES.read_text(), flags=re.MULTILINE))


@pytest.fixture(scope="module")
def semgrep_findings() -> list[tuple[str, int, str, str]]:
    """(path, line, rule id, message) for the code and the bad examples, in one offline run (the start is slow)."""
    done = _run([_tool("semgrep"), "scan", "--config", str(SEMGREP_RULES.relative_to(ROOT)), "--metrics=off",
                 "--disable-version-check", "--no-git-ignore", "--json", "--quiet",
                 *SCANNED, str(BAD_EXAMPLES.relative_to(ROOT))], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["errors"] == [], f"semgrep could not check everything: {report['errors']}"
    scanned = set(report["paths"]["scanned"])
    # semgrep skips some folder names by default (tests/, vendor/, build/ …): every module is checked all the same.
    modules = {str(path.relative_to(ROOT)) for top in SCANNED for path in (ROOT / top).rglob("*.py")}
    assert sorted(modules - scanned) == [], "modules semgrep did not check"
    assert str(BAD_EXAMPLES.relative_to(ROOT)) in scanned
    # The rule id is prefixed with the config file's path (`.semgrep.marketplace.` or similar): keep the last part.
    return [(r["path"], r["start"]["line"], r["check_id"].rsplit(".", 1)[-1], r["extra"]["message"])
            for r in report["results"]]


def test_semgrep_project_rules_find_nothing_in_the_code(semgrep_findings: list[tuple[str, int, str, str]]) -> None:
    findings = [f"{path}:{line} {rule}: {message}" for path, line, rule, message in semgrep_findings
                if not path.startswith("tests/")]
    assert findings == [], "semgrep findings (fix them, or `# nosemgrep: rule-id  # why` on the line):\n" + \
        "\n".join(findings)


def test_each_semgrep_rule_fires_on_its_bad_examples_only(semgrep_findings: list[tuple[str, int, str, str]]) -> None:
    """Every rule refuses the lines marked for it, and nothing else: a rule that stopped matching (a typo in a
    pattern, a semgrep upgrade) or that starts refusing the accepted forms fails here."""
    fixture = str(BAD_EXAMPLES.relative_to(ROOT))
    expected = {(number, match.group(1)) for number, line in enumerate(BAD_EXAMPLES.read_text().splitlines(), 1)
                if (match := _BAD_MARK.search(line))}
    found = {(line, rule) for path, line, rule, _ in semgrep_findings if path == fixture}
    assert {rule for _, rule in expected} == _rule_ids(), "every rule has bad examples, and only rules that exist"
    assert sorted(expected - found) == [], "marked lines the rules let through"
    assert sorted(found - expected) == [], "lines refused though not marked bad"


def test_every_semgrep_rule_says_why() -> None:
    rules = SEMGREP_RULES.read_text().split("\n  - id: ")[1:]
    assert len(rules) == len(_rule_ids()) >= 6
    for rule in rules:
        message = re.search(r"message: >-\n((?:      .*\n)+)", rule)
        assert message is not None and len(message.group(1).split()) >= 15, rule.splitlines()[0]


# --- suppressions -----------------------------------------------------------------------------------------------

_NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)")
_NOSEC_OK = re.compile(r"#\s*nosec (?P<ids>B\d{3}(?:,\s*B\d{3})*)\s+#\s*(?P<why>\S.{7,})")
_NOSEMGREP = re.compile(r"#\s*nosemgrep\b(?P<rest>.*)")
_NOSEMGREP_OK = re.compile(r"#\s*nosemgrep: (?P<ids>[\w-]+(?:,\s*[\w-]+)*)\s+#\s*(?P<why>\S.{7,})")


def _comments() -> list[tuple[str, int, str]]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            with tokenize.open(path) as source:
                found += [(str(path.relative_to(ROOT)), token.start[0], token.string)
                          for token in tokenize.generate_tokens(source.readline) if token.type == tokenize.COMMENT]
    return found


def test_every_suppression_names_its_check_and_says_why() -> None:
    """A bare `# nosec` would silence every bandit check on the line, and a `# nosemgrep` without a rule id every
    rule: each names what it silences, and says why that is safe there."""
    rule_ids = _rule_ids()
    bad = []
    for path, line, comment in _comments():
        if _NOSEC.search(comment) and not _NOSEC_OK.search(comment):
            bad.append(f"{path}:{line} {comment}  (write `# nosec BXXX  # why`)")
        if _NOSEMGREP.search(comment):
            match = _NOSEMGREP_OK.search(comment)
            if match is None:
                bad.append(f"{path}:{line} {comment}  (write `# nosemgrep: rule-id  # why`)")
            elif unknown := {i.strip() for i in match["ids"].split(",")} - rule_ids:
                bad.append(f"{path}:{line} {comment}  (no such rule: {', '.join(sorted(unknown))})")
    assert bad == [], "\n".join(bad)


# --- locked dependencies ----------------------------------------------------------------------------------------


def _lock() -> dict[str, Any]:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_locked_package_has_sha256_hashes() -> None:
    """Every artefact an install may fetch carries its SHA-256 in uv.lock, which `uv sync --frozen` checks: a
    changed or substituted file on the index is refused, not installed."""
    missing = []
    packages = [p for p in _lock()["package"] if "editable" not in p["source"] and "virtual" not in p["source"]]
    assert len(packages) > 50
    for package in packages:
        name = f"{package['name']} {package['version']}"
        if "registry" not in package["source"]:
            missing.append(f"{name}: from {package['source']}, not a registry (no hash to check)")
            continue
        artefacts = ([package["sdist"]] if "sdist" in package else []) + package.get("wheels", [])
        if not artefacts:
            missing.append(f"{name}: no artefact")
        missing += [f"{name}: {artefact.get('url')} has no sha256" for artefact in artefacts
                    if not re.fullmatch(r"sha256:[0-9a-f]{64}", artefact.get("hash", ""))]
    assert missing == [], "\n".join(missing)


def _as_locked(requirement: Requirement) -> tuple[str, frozenset[str], str, str]:
    return (canonicalize_name(requirement.name), frozenset(requirement.extras), str(requirement.specifier),
            str(requirement.marker or ""))


def _from_lock(entry: dict[str, Any]) -> tuple[str, frozenset[str], str, str]:
    extras = entry.get("extras", [])
    text = entry["name"] + (f"[{','.join(extras)}]" if extras else "") + entry.get("specifier", "")
    if entry.get("marker"):
        text += f"; {entry['marker']}"
    return _as_locked(Requirement(text))


def test_the_lock_holds_what_pyproject_declares() -> None:
    """The project's entry in uv.lock records the requirements it was resolved from: the same as pyproject's, and
    each of them resolved to a locked package. (`./run` installs with `--frozen`, which does not check this.)"""
    project = _pyproject()
    lock = _lock()
    name = canonicalize_name(project["project"]["name"])
    [own] = [p for p in lock["package"] if canonicalize_name(p["name"]) == name]
    locked_names = {canonicalize_name(p["name"]) for p in lock["package"]}

    declared = {_as_locked(Requirement(r)) for r in project["project"]["dependencies"]}
    assert declared == {_from_lock(e) for e in own["metadata"]["requires-dist"]}, "uv.lock is stale: `uv lock`"
    for group, requirements in project.get("dependency-groups", {}).items():
        group_declared = {_as_locked(Requirement(r)) for r in requirements if isinstance(r, str)}
        group_locked = {_from_lock(e) for e in own["metadata"].get("requires-dev", {}).get(group, [])}
        assert group_declared == group_locked, f"uv.lock is stale for the {group} group: `uv lock`"
        declared |= group_declared
    assert sorted(n for n, *_ in declared if n not in locked_names) == []


def test_uv_finds_the_lock_up_to_date() -> None:
    """uv's own check, offline and read-only: the lock satisfies pyproject.toml as uv reads it."""
    uv = ROOT / ".tools" / "bin" / "uv"
    command = str(uv) if uv.exists() else shutil.which("uv")
    if command is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and uv is not installed (./run installs it into .tools)")
        pytest.skip("uv is not installed (./run installs it into .tools)")
    done = _run([command, "lock", "--check", "--offline"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
