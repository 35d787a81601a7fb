"""The CPV 2008 table: imported by the operator's command from the publisher's file, then looked up."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from marketplace.lib.clock import system_clock
from marketplace.reference.cpv import (
    IMPORT_COMMAND,
    cpv_error,
    import_cpv,
    lookup_cpv,
    parse_cpv,
    parse_cpv_file,
    seed_cpv_codes,
)
from marketplace.reference.errors import ReferenceFileRefused
from marketplace.reference.models import CpvCode, CpvLevel, ReferenceDataset
from marketplace.settings import Settings
from tests.conftest import CPV_SAMPLE

# The publisher's whole table, where a checkout keeps it beside the repository (../shared/data/README.md).
# These tests are the only ones that read it: every other test imports CPV_SAMPLE (the `cpv` fixture). Without
# it they run all the same on the sample, with the checks that only the whole table can answer left out:
# a clone of the repository alone runs the same tests, and skips none.
WHOLE_TABLE = Path(__file__).resolve().parents[2].parent / "shared/data/cpv/cpv_en.json"
CODES_IN_CPV_2008 = 9458
WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7)


@dataclass(frozen=True, slots=True)
class CpvFile:
    path: Path
    whole: bool  # the publisher's whole table, not the sample

    @property
    def codes(self) -> int:
        return len(_table(self.path))


@pytest.fixture
def cpv_file() -> CpvFile:
    if WHOLE_TABLE.is_file():
        return CpvFile(WHOLE_TABLE, whole=True)
    return CpvFile(CPV_SAMPLE, whole=False)


@pytest.fixture
async def session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A session as the application's role (like the app and the command), outside any import."""
    engine = create_async_engine(settings.database_url)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            yield session
    finally:
        await engine.dispose()


def _import(settings: Settings, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "marketplace", "import-cpv", str(path), *args],
                          env={**os.environ, **settings.to_env()}, capture_output=True, text=True,
                          timeout=120, check=False)


async def _count(session: AsyncSession, model: type[CpvCode] | type[ReferenceDataset]) -> int:
    count = (await session.execute(select(func.count()).select_from(model))).scalar_one()
    await session.rollback()  # end the read so the next one sees later commits
    return int(count)


def _table(path: Path) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weighted_check_digit(code: str) -> int:
    return sum(w * int(d) for w, d in zip(WEIGHTS, code, strict=True)) % 10


async def test_the_command_imports_the_whole_table_in_seconds(settings: Settings, cpv_file: CpvFile,
                                                              session: AsyncSession) -> None:
    began = time.monotonic()
    result = _import(settings, cpv_file.path)
    elapsed = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    digest = _sha256(cpv_file.path)
    codes = cpv_file.codes
    if cpv_file.whole:
        assert codes == CODES_IN_CPV_2008
    assert f"Imported {codes} CPV codes, dataset {digest[:12]}" in result.stdout
    assert elapsed < 10, f"import took {elapsed:.1f}s"

    assert await _count(session, CpvCode) == codes
    dataset = (await session.execute(select(ReferenceDataset))).scalar_one()
    assert (dataset.kind, dataset.version, dataset.sha256, dataset.row_count, dataset.source) == (
        "cpv", digest[:12], digest, codes, str(cpv_file.path))
    software = await session.get(CpvCode, "48000000")
    assert software is not None
    assert software.full_code == "48000000-8"
    assert software.label == "Software package and information systems"
    assert software.label_fr is None
    assert software.dataset == digest[:12]
    assert software.imported_at == dataset.imported_at


async def test_lookup_by_code_with_or_without_its_check_digit(settings: Settings, cpv_file: CpvFile,
                                                              session: AsyncSession) -> None:
    assert _import(settings, cpv_file.path).returncode == 0

    for given in ("48000000-8", "48000000", "  48000000-8 ", "48180000-3", "72000000-5"):
        found = await lookup_cpv(session, given)
        assert found is not None, given
        assert found.code == given.strip()[:8]
        assert await cpv_error(session, given) is None

    assert await lookup_cpv(session, "48000000-9") is None
    assert await cpv_error(session, "48000000-9") == "CPV 48000000-9: the check digit of 48000000 is 8"
    assert await lookup_cpv(session, "12345678") is None
    assert await cpv_error(session, "12345678") == "CPV 12345678: not in the CPV 2008 table"
    assert await cpv_error(session, "12345678-5") == "CPV 12345678-5: not in the CPV 2008 table"


async def test_codes_off_the_weighted_formula_are_accepted_from_the_table(settings: Settings, cpv_file: CpvFile,
                                                                          session: AsyncSession) -> None:
    """Domain §2.4: the check digit comes from the table; a formula would refuse whole branches."""
    assert _import(settings, cpv_file.path).returncode == 0
    for given in ("03300000-2", "72400000-4", "48628000-9", "31680000-6"):
        found = await lookup_cpv(session, given)
        assert found is not None, given
        assert found.full_code == given
    assert _weighted_check_digit("03300000") != 2
    assert _weighted_check_digit("72400000") != 4
    assert await cpv_error(session, f"03300000-{_weighted_check_digit('03300000')}") == (
        "CPV 03300000-4: the check digit of 03300000 is 2")


@pytest.mark.parametrize(("given", "reason"), [
    ("4800", "CPV 4800: a CPV code has 8 digits"),
    ("480000000", "CPV 480000000: a CPV code has 8 digits"),
    ("4800-8", "CPV 4800-8: a CPV code has 8 digits"),
    ("48000000-", "CPV 48000000-: a CPV code is 8 digits, optionally followed by a hyphen and its check digit"),
    ("48000000-88", "CPV 48000000-88: a CPV code is 8 digits"),
    ("4800000A", "CPV 4800000A: a CPV code is 8 digits"),
    ("48 000 000", "CPV 48 000 000: a CPV code is 8 digits"),
    ("48000000 8", "CPV 48000000 8: a CPV code is 8 digits"),
    ("", "CPV (empty): a CPV code is 8 digits"),
    ("   ", "CPV (empty): a CPV code is 8 digits"),
])
async def test_malformed_codes_are_refused_with_a_reason(settings: Settings, session: AsyncSession,
                                                         given: str, reason: str) -> None:
    # No table needed: the shape is checked before any lookup.
    with pytest.raises(ValueError, match="CPV"):
        parse_cpv(given)
    assert await lookup_cpv(session, given) is None
    error = await cpv_error(session, given)
    assert error is not None
    assert error.startswith(reason), error


async def test_importing_the_same_file_again_changes_nothing(settings: Settings, cpv_file: CpvFile,
                                                             session: AsyncSession) -> None:
    assert _import(settings, cpv_file.path).returncode == 0
    first = (await session.execute(select(ReferenceDataset))).scalar_one()
    version, imported_at = first.version, first.imported_at
    await session.rollback()

    again = _import(settings, cpv_file.path, "--version", "cpv-2008")
    assert again.returncode == 0, again.stderr
    assert "already imported from this file" in again.stdout
    assert f"dataset {version}" in again.stdout
    assert await _count(session, CpvCode) == cpv_file.codes
    assert await _count(session, ReferenceDataset) == 1
    stamps = (await session.execute(select(func.min(CpvCode.imported_at), func.max(CpvCode.imported_at)))).one()
    assert tuple(stamps) == (imported_at, imported_at)


async def test_a_later_version_updates_keeps_dropped_codes_and_french_labels(
        settings: Settings, cpv_file: CpvFile, session: AsyncSession, tmp_path: Path) -> None:
    assert _import(settings, cpv_file.path, "--version", "cpv-2008").returncode == 0
    codes = cpv_file.codes
    await session.execute(update(CpvCode).where(CpvCode.code == "48000000")
                          .values(label_fr="Logiciels et systèmes d'information"))
    await session.commit()

    table = _table(cpv_file.path)
    del table["48900000-7"]
    table["48000000-8"] = "Software packages and information systems"
    later = tmp_path / "cpv_en_later.json"
    later.write_text(json.dumps(table))
    result = _import(settings, later, "--version", "cpv-2008-amended")
    assert result.returncode == 0, result.stderr
    assert f"Imported {codes - 1} CPV codes, dataset cpv-2008-amended" in result.stdout

    assert await _count(session, CpvCode) == codes  # the dropped code is kept...
    by_dataset = {dataset: count for dataset, count in (await session.execute(
        select(CpvCode.dataset, func.count()).group_by(CpvCode.dataset))).all()}
    assert by_dataset == {"cpv-2008-amended": codes - 1, "cpv-2008": 1}
    dropped = await session.get(CpvCode, "48900000")
    assert dropped is not None and dropped.dataset == "cpv-2008"  # ...and shows where it last came from
    software = await session.get(CpvCode, "48000000")
    assert software is not None
    assert software.label == "Software packages and information systems"
    assert software.label_fr == "Logiciels et systèmes d'information"
    await session.rollback()
    assert await _count(session, ReferenceDataset) == 2

    # A version name denotes one file.
    clash = _import(settings, cpv_file.path, "--version", "cpv-2008-amended")
    assert clash.returncode != 0
    assert "version 'cpv-2008-amended' already names another CPV file" in clash.stderr
    assert await _count(session, ReferenceDataset) == 2


async def test_a_malformed_file_is_refused_whole(settings: Settings, cpv_file: CpvFile, session: AsyncSession,
                                                 tmp_path: Path) -> None:
    table = _table(cpv_file.path)
    table["4800000-8"] = "Seven digits"
    table["48000000-X"] = "A letter for a check digit"
    broken = tmp_path / "cpv_broken.json"
    broken.write_text(json.dumps(table))
    result = _import(settings, broken)
    assert result.returncode != 0
    assert "not a CPV table, nothing imported: 2 malformed entries" in result.stderr
    assert "'4800000-8' is not DDDDDDDD-C" in result.stderr
    assert await _count(session, CpvCode) == 0
    assert await _count(session, ReferenceDataset) == 0

    truncated = tmp_path / "cpv_truncated.json"
    whole = json.dumps(_table(cpv_file.path))
    truncated.write_text(whole[:len(whole) // 2])
    result = _import(settings, truncated)
    assert result.returncode != 0 and "not JSON" in result.stderr
    assert await _count(session, CpvCode) == 0


@pytest.mark.parametrize(("content", "reason"), [
    (b'["48000000-8"]', 'expected one JSON object {"DDDDDDDD-C": "label", ...}'),
    (b'{"48000000-8": "Software", "48000000-8": "Again"}', "48000000 is listed twice"),
    (b'{"48000000-8": "Software", "48000000-1": "Other digit"}', "48000000 is listed twice"),
    (b'{"48000000-8": ""}', "48000000-8: the label must be a non-empty string"),
    (b'{"48000000-8": {"en": "Software"}}', "48000000-8: the label must be a non-empty string"),
    (b'{ "48000000-8 ": "Software"}', "key '48000000-8 ' is not DDDDDDDD-C"),
    (b"{}", "the file lists no CPV code"),
    (b"\xff\xfe{}", "not UTF-8 text"),
])
def test_file_checks(content: bytes, reason: str) -> None:
    with pytest.raises(ReferenceFileRefused, match="nothing imported") as refused:
        parse_cpv_file(Path("cpv.json"), content)
    assert reason in refused.value.detail


async def test_levels_and_parents_come_from_trailing_zeros(settings: Settings, cpv_file: CpvFile,
                                                           session: AsyncSession) -> None:
    async with session.begin():  # the service itself, in the caller's transaction
        dataset = await import_cpv(session, system_clock, cpv_file.path, "cpv-2008")
    assert dataset.row_count == cpv_file.codes

    expected = {
        "48000000": (CpvLevel.DIVISION, None),
        "48100000": (CpvLevel.GROUP, "48000000"),
        "48180000": (CpvLevel.CLASS, "48100000"),
        "48814000": (CpvLevel.CATEGORY, "48810000"),
        "03111100": (CpvLevel.SUBCATEGORY, "03111000"),
        "70200000": (CpvLevel.GROUP, "70000000"),  # an inner zero: group 702, under division 70
        # The file lists no 30192120 nor 35811000: the parent is the nearest code it does list.
        "30192126": (CpvLevel.SUBCATEGORY, "30192100"),
        "35811100": (CpvLevel.SUBCATEGORY, "35810000"),
    }
    for code, (level, parent) in expected.items():
        row = await session.get(CpvCode, code)
        assert row is not None, code
        assert (row.level, row.parent_code) == (level, parent), code

    if not cpv_file.whole:
        return  # what follows holds of the whole table only
    levels = Counter((await session.execute(select(CpvCode.level))).scalars().all())
    assert levels == {CpvLevel.DIVISION: 45, CpvLevel.GROUP: 272, CpvLevel.CLASS: 1003,
                      CpvLevel.CATEGORY: 2381, CpvLevel.SUBCATEGORY: 806 + 1811 + 3140}
    # Every code but the divisions sits under one, except the file's catch-all 99999999-9 ("Not reflected
    # in other sections"), which has no division 99 above it.
    orphans = (await session.execute(select(CpvCode.code).where(
        CpvCode.parent_code.is_(None), CpvCode.level != CpvLevel.DIVISION))).scalars().all()
    assert orphans == ["99999999"]


async def test_with_no_table_imported_the_refusal_names_the_import_command(settings: Settings,
                                                                         session: AsyncSession) -> None:
    """The code is not at fault when nothing was imported: the reason says so, and how the operator fixes it."""
    error = await cpv_error(session, "48000000-8")
    assert error is not None
    assert "the CPV 2008 table is empty" in error
    assert IMPORT_COMMAND in error and IMPORT_COMMAND == "./run import-cpv cpv_en.json --version cpv-2008"


async def test_a_few_codes_are_seeded_only_into_an_empty_table(settings: Settings, cpv_file: CpvFile,
                                                               session: AsyncSession) -> None:
    few = {"48000000-8": "Software package and information systems", "48180000-3": "Medical software package"}
    async with session.begin():
        seeded = await seed_cpv_codes(session, system_clock, few, "demo")
    assert seeded is not None and (seeded.version, seeded.row_count) == ("demo", 2)
    medical = await lookup_cpv(session, "48180000-3")
    assert medical is not None and medical.parent_code == "48000000"
    await session.rollback()

    # The operator's import completes them; a later seed then leaves the table alone.
    assert _import(settings, cpv_file.path, "--version", "cpv-2008").returncode == 0
    assert await _count(session, CpvCode) == cpv_file.codes
    async with session.begin():
        assert await seed_cpv_codes(session, system_clock, {"72000000-5": "IT services"}, "demo-2") is None
    assert await _count(session, ReferenceDataset) == 2
