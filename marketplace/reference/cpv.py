"""The CPV 2008 table: import from the publisher's file, lookup, and the reason a code is refused.

A CPV code is validated by lookup in the imported table, never by computing its check digit: about 6 % of
the official codes (whole branches such as 03300000-2 or 31680000-6) do not follow the weighted formula
(domain.md §2.4). The table is imported from a JSON object `{"DDDDDDDD-C": "English label", ...}` such as
the one the operator downloads; each import is recorded as a `ReferenceDataset`.

Importing: the whole file is checked first and refused as a whole if anything is malformed. Rows are
upserted in batches (`INSERT ... ON CONFLICT (code) DO UPDATE`), sorted so that a code's parent is always
written before it. A code the new file no longer lists is kept (documents may cite it); its `dataset` still
names the version it last came from, so what the latest import dropped is visible.

Idempotence: importing the file the table was last loaded from (same SHA-256) is skipped: nothing is
written and the existing dataset is returned. Importing an older file again (a roll-back) is a real import
with a dataset row of its own. A version name always denotes one file: reusing it for a different file is
refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.lib.clock import Clock
from marketplace.reference.errors import ReferenceFileRefused
from marketplace.reference.models import CpvCode, CpvLevel, ReferenceDataset

KIND_CPV = "cpv"
# What a refusal says when there is no table to look a code up in: the operator's one step to fix it.
IMPORT_COMMAND = "./run import-cpv cpv_en.json --version cpv-2008"
BATCH_SIZE = 2000
# Any constant will do; it only has to be the same for every importer of the table.
_IMPORT_LOCK = 0x4D4B_5043_5056_494D  # "MKPCPVIM"

FILE_KEY = re.compile(r"[0-9]{8}-[0-9]")
INPUT = re.compile(r"([0-9]{8})(?:-([0-9]))?")
_LEVELS = {2: CpvLevel.DIVISION, 3: CpvLevel.GROUP, 4: CpvLevel.CLASS, 5: CpvLevel.CATEGORY}
_SHOWN_ERRORS = 5


def cpv_level(code: str) -> CpvLevel:
    """Division, group, class, category or subcategory, by the code's significant (non-trailing-zero) digits."""
    return _LEVELS.get(max(2, len(code.rstrip("0"))), CpvLevel.SUBCATEGORY)


def cpv_parent(code: str, known: set[str] | frozenset[str]) -> str | None:
    """The nearest code above `code` that `known` lists: its digits, one fewer at a time, zero-padded."""
    significant = max(2, len(code.rstrip("0")))
    for keep in range(significant - 1, 1, -1):
        candidate = code[:keep].ljust(8, "0")
        if candidate != code and candidate in known:
            return candidate
    return None


def _refuse(path: Path | str, problems: list[str], total: int | None = None) -> ReferenceFileRefused:
    shown = "; ".join(problems[:_SHOWN_ERRORS])
    more = len(problems) - _SHOWN_ERRORS
    count = f"{len(problems)} malformed entr{'y' if len(problems) == 1 else 'ies'}"
    of = f" of {total}" if total is not None else ""
    tail = f" (and {more} more)" if more > 0 else ""
    return ReferenceFileRefused(f"{path}: not a CPV table, nothing imported: {count}{of}: {shown}{tail}")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members, in order, duplicates included."""


def parse_cpv_file(path: Path | str, data: bytes) -> dict[str, tuple[str, str]]:
    """`{code: (check digit, label)}` from the file's bytes; refuses the whole file on any malformed entry."""

    try:
        # Objects as lists of pairs: a dict would silently keep the last of two equal keys.
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_Pairs)
    except UnicodeDecodeError as exc:
        raise ReferenceFileRefused(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}), "
                                   "nothing imported") from None
    except json.JSONDecodeError as exc:
        raise ReferenceFileRefused(f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}), "
                                   "nothing imported") from None
    if not isinstance(document, _Pairs):
        raise ReferenceFileRefused(f'{path}: expected one JSON object {{"DDDDDDDD-C": "label", ...}}, '
                                   "nothing imported")
    rows: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for key, label in document:
        if not FILE_KEY.fullmatch(key):
            problems.append(f"key {key!r} is not DDDDDDDD-C")
            continue
        if not isinstance(label, str) or not label.strip():
            problems.append(f"{key}: the label must be a non-empty string")
            continue
        code, check = key[:8], key[9]
        if code in rows:
            problems.append(f"{code} is listed twice")
            continue
        rows[code] = (check, label.strip())
    if problems:
        raise _refuse(path, problems, len(document))
    if not rows:
        raise ReferenceFileRefused(f"{path}: the file lists no CPV code, nothing imported")
    return rows


async def current_dataset(session: AsyncSession, kind: str = KIND_CPV) -> ReferenceDataset | None:
    """The latest import of a reference table, if any."""
    return (await session.execute(
        select(ReferenceDataset).where(ReferenceDataset.kind == kind)
        .order_by(ReferenceDataset.imported_at.desc(), ReferenceDataset.id.desc()).limit(1)
    )).scalar_one_or_none()


async def import_cpv(session: AsyncSession, clock: Clock, path: Path, version: str | None) -> ReferenceDataset:
    """Import the CPV table from the publisher's JSON file, in the caller's transaction.

    `version` names the dataset (default: the first 12 hex digits of the file's SHA-256). Returns the new
    dataset, or the current one unchanged when the table was last imported from this very file.
    """
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        raise ReferenceFileRefused(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return await import_cpv_data(session, clock, path, data, version)


async def import_cpv_data(session: AsyncSession, clock: Clock, source: Path | str, data: bytes,
                          version: str | None) -> ReferenceDataset:
    """`import_cpv` from the file's bytes already read; `source` names where they came from.

    Also how a few codes written in the code itself are loaded (the demo's, `seed_cpv_codes`): the same
    checks, the same dataset record, so a later import of the whole table simply completes them.
    """
    digest = hashlib.sha256(data).hexdigest()
    name = (version or digest[:12]).strip()
    if not name or len(name) > 64:
        raise ReferenceFileRefused("the dataset version must be 1 to 64 characters")
    rows = parse_cpv_file(source, data)

    # One importer at a time: the skip decision and the upsert must see the same table.
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK})
    latest = await current_dataset(session)
    if latest is not None and latest.sha256 == digest:
        return latest
    clash = (await session.execute(
        select(ReferenceDataset.sha256).where(ReferenceDataset.kind == KIND_CPV, ReferenceDataset.version == name,
                                              ReferenceDataset.sha256 != digest).limit(1)
    )).scalar_one_or_none()
    if clash is not None:
        raise ReferenceFileRefused(f"version {name!r} already names another CPV file (SHA-256 {clash[:12]}…); "
                                   "give this one another --version")

    now = clock.now()
    known = frozenset(rows)
    # Sorted: a parent (the same digits, zero-padded) sorts before its children, so it is written first.
    values = [
        {"code": code, "check_digit": check, "label": label, "level": cpv_level(code),
         "parent_code": cpv_parent(code, known), "dataset": name, "imported_at": now}
        for code, (check, label) in sorted(rows.items())
    ]
    for start in range(0, len(values), BATCH_SIZE):
        statement = insert(CpvCode).values(values[start:start + BATCH_SIZE])
        # label_fr is left alone: it comes from another file.
        statement = statement.on_conflict_do_update(index_elements=[CpvCode.code], set_={
            column: statement.excluded[column]
            for column in ("check_digit", "label", "level", "parent_code", "dataset", "imported_at")})
        await session.execute(statement)

    dataset = ReferenceDataset(kind=KIND_CPV, version=name, source=str(source), sha256=digest, row_count=len(rows),
                               imported_at=now)
    session.add(dataset)
    await session.flush()
    return dataset


async def cpv_table_is_empty(session: AsyncSession) -> bool:
    return (await session.execute(select(CpvCode.code).limit(1))).first() is None


async def seed_cpv_codes(session: AsyncSession, clock: Clock, codes: dict[str, str],
                         version: str) -> ReferenceDataset | None:
    """Import `codes` (`{"DDDDDDDD-C": "label"}`) when the CPV table is empty, else nothing (None).

    For a demonstration that must run before any operator imported the publisher's file: a few codes,
    never the table itself (the product imports it from the operator's download, `IMPORT_COMMAND`).
    """
    if not await cpv_table_is_empty(session):
        return None
    data = json.dumps(codes, ensure_ascii=False, sort_keys=True).encode()
    return await import_cpv_data(session, clock, f"({version})", data, version)


class CpvInputError(ValueError):
    """The text is not shaped like a CPV code."""


def parse_cpv(code: str) -> tuple[str, str | None]:
    """(8 digits, check digit or None) from `48000000` or `48000000-8`, surrounding spaces ignored."""
    cleaned = code.strip()
    match = INPUT.fullmatch(cleaned)
    if match is None:
        digits = cleaned.partition("-")[0]
        if digits.isdigit() and len(digits) != 8:
            raise CpvInputError(f"CPV {cleaned}: a CPV code has 8 digits")
        raise CpvInputError(f"CPV {cleaned or '(empty)'}: a CPV code is 8 digits, optionally followed by a "
                            "hyphen and its check digit (e.g. 48000000-8)")
    return match[1], match[2]


async def _find(session: AsyncSession, code: str) -> tuple[str, str | None, CpvCode | None]:
    digits, check = parse_cpv(code)
    return digits, check, await session.get(CpvCode, digits)


async def lookup_cpv(session: AsyncSession, code: str) -> CpvCode | None:
    """The table's entry for `48000000` or `48000000-8`; None if malformed, unknown, or the check digit
    given is not the table's."""
    try:
        _, check, found = await _find(session, code)
    except CpvInputError:
        return None
    if found is None or (check is not None and check != found.check_digit):
        return None
    return found


async def cpv_error(session: AsyncSession, code: str) -> str | None:
    """Why `code` is not an acceptable CPV code, in words; None when it is."""
    try:
        digits, check, found = await _find(session, code)
    except CpvInputError as exc:
        return str(exc)
    cleaned = code.strip()
    if found is None:
        if await cpv_table_is_empty(session):
            # Not the code's fault: nothing was imported yet, and the operator is the one who can fix it.
            return (f"CPV {cleaned}: the CPV 2008 table is empty on this server, so no code can be checked; "
                    f"an operator imports it first with `{IMPORT_COMMAND}`")
        return f"CPV {cleaned}: not in the CPV 2008 table"
    if check is not None and check != found.check_digit:
        return f"CPV {cleaned}: the check digit of {digits} is {found.check_digit}"
    return None
