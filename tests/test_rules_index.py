"""docs/rules.md, the index of rule ids, is kept complete in both directions.

Every rule id the code cites (in marketplace/ and storage/) has a row in the index, and every row's id is
cited by the code; each row's "enforced in" paths exist and cite its id, each "tested in" path exists; the
machines (a)-(e) live where the index says, with the states it lists. When code moves, the failure lists
exactly the stale rows (id, path) and where the id is cited now.

What counts as a citation
-------------------------
The ids are those of domain.md (D1-D20 and D14a-c the law, N1-N19 the programme, HC1-HC6 who decides, FU1-FU7
the funder, SN1-SN8 SONS) and of reliability.md (P1-P12 properties, G1-G18 goals). `RULE_ID` matches exactly
these, nothing beyond their numbers (no D21, N20, P13, G19), and only as a word of its own: not inside a longer
word or number (`MS1`, `0D14`, `D1x`), not after a dot or a hyphen nor before a hyphen (a dotted name, a UUID
or hex string, a CPV code's `-8`). It is looked for only where a reader sees prose: comments and string
literals (docstrings, messages, `rule="D8"`), read with `tokenize`, never identifiers. A range written with an
en dash or an ellipsis between two ids of the same family ("D4–D7", "N1…N19", "`N1`…`N19`") cites every id of
it, as a reader understands it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "docs" / "rules.md"
CODE = ("marketplace", "storage")

RULE_ID = re.compile(r"""
    (?<![\w.\-])                       # a word of its own: not after a letter, digit, dot or hyphen
    (?P<id>
        D(?:14[a-c]|1[0-9]|20|[1-9])   # domain.md §1.2 D1-D20, §11.3 D14a-D14c
      | N(?:1[0-9]|[1-9])              # domain.md §6 N1-N19
      | HC[1-6]                        # domain.md §11.1
      | FU[1-7]                        # domain.md §11.2
      | SN[1-8]                        # domain.md §12
      | P(?:1[0-2]|[1-9])              # reliability.md §1.7 P1-P12
      | G(?:1[0-8]|[1-9])              # reliability.md §5 G1-G18
    )
    (?![\w\-])                         # nor before a letter, digit or hyphen
""", re.VERBOSE)
# Two ids joined by an en dash or an ellipsis (optionally in backticks): a range.
RANGE = re.compile(r"(?P<first>[A-Z]{1,2})(?P<low>\d{1,2})`?\s*[–…]\s*`?(?P=first)(?P<high>\d{1,2})(?![\w\-])")


def ids_in(text: str) -> list[str]:
    """The ids a piece of prose cites, ranges expanded (D14a-c are never part of a range)."""
    found = [match["id"] for match in RULE_ID.finditer(text)]
    for match in RANGE.finditer(text):
        first, low, high = match["first"], int(match["low"]), int(match["high"])
        if RULE_ID.fullmatch(f"{first}{low}") and RULE_ID.fullmatch(f"{first}{high}"):
            found += [f"{first}{n}" for n in range(low + 1, high) if RULE_ID.fullmatch(f"{first}{n}")]
    return found


def prose(source: str) -> list[tuple[int, str]]:
    """The comments and string literals of a module, with their first line."""
    kinds = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    return [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type in kinds]


def citations(paths: tuple[str, ...] = CODE) -> dict[str, dict[str, list[int]]]:
    """id → file (relative to the repository) → lines that cite it."""
    cited: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for top in paths:
        for path in sorted((ROOT / top).rglob("*.py")):
            for line, text in prose(path.read_text()):
                for rule in ids_in(text):
                    cited[rule][str(path.relative_to(ROOT))].append(line)
    return cited


FAMILIES = ("D", "N", "HC", "FU", "SN", "P", "G")  # the specs' order: law, programme, …, properties, goals


def _key(rule: str) -> tuple[int, int, str]:
    match = re.match(r"([A-Z]+)(\d+)(.*)", rule)
    assert match, rule
    return FAMILIES.index(match[1]), int(match[2]), match[3]


# -- reading the index ------------------------------------------------------------------------------------

PATH = re.compile(r"`([^`]+)`")


def _rows(heading: str) -> list[list[str]]:
    """The table rows (cells, stripped) under every `## heading…` of docs/rules.md, without their header rows."""
    rows: list[list[str]] = []
    inside = False
    for line in INDEX.read_text().splitlines():
        if line.startswith("## "):
            inside = line[3:].strip().lower().startswith(heading)
        elif inside and re.fullmatch(r"\|[\s:|-]+\|", line.strip()):
            rows.pop()  # the line above a table's rule line is its header
        elif inside and line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def index() -> dict[str, tuple[list[str], list[str]]]:
    """id → (enforced in, tested in), as docs/rules.md says."""
    rows: dict[str, tuple[list[str], list[str]]] = {}
    for cells in _rows("rules"):
        assert len(cells) == 4, f"docs/rules.md: a rule row has 4 cells (id, rule, enforced in, tested in): {cells}"
        rule, text, enforced, tested = cells
        assert RULE_ID.fullmatch(rule), f"docs/rules.md: {rule!r} is not a rule id"
        assert rule not in rows, f"docs/rules.md: {rule} has two rows"
        assert text, f"docs/rules.md: {rule} says no rule"
        assert tested, f"docs/rules.md: {rule} names no test (write — and say why when nothing can test it)"
        rows[rule] = (PATH.findall(enforced), PATH.findall(tested))
    return rows


def _where(files: dict[str, list[int]]) -> str:
    return ", ".join(f"{path}:{lines[0]}" for path, lines in sorted(files.items())) or "nowhere"


# -- the index against the code ---------------------------------------------------------------------------


def test_the_index_is_read() -> None:
    rows = index()
    assert len(rows) >= 50, f"docs/rules.md: only {len(rows)} rule rows were read; is the table well formed?"
    assert list(rows) == sorted(rows, key=_key), "docs/rules.md: keep the rows in id order (D, N, HC, FU, SN, P, G)"


def test_every_id_the_code_cites_is_in_the_index() -> None:
    cited, rows = citations(), index()
    missing = [f"{rule} (cited at {_where(cited[rule])})" for rule in sorted(set(cited) - set(rows), key=_key)]
    assert missing == [], "ids cited in the code without a row in docs/rules.md:\n" + "\n".join(missing)


def test_every_id_in_the_index_is_cited_by_the_code() -> None:
    cited, rows = citations(), index()
    unused = sorted(set(rows) - set(cited), key=_key)
    assert unused == [], f"docs/rules.md has rows for ids nothing in {', '.join(CODE)} cites: {unused}"


def _cites(path: Path, rule: str) -> bool:
    """Whether the module at `path`, or any module under it if it is a folder, cites `rule`."""
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return any(rule in ids_in(text) for file in files for _, text in prose(file.read_text()))


def test_each_enforced_in_path_exists_and_cites_its_id() -> None:
    """After a move, this lists the stale rows: (id, path) and where the id is cited now. A path is a module
    (marketplace/, storage/, or a migration whose trigger or index backs the rule) or a folder ending in /."""
    cited, rows = citations(), index()
    stale: list[str] = []
    for rule, (enforced, _) in rows.items():
        assert enforced, f"docs/rules.md: {rule} names no module it is enforced in"
        for path in enforced:
            if not (ROOT / path).exists() or path.endswith("/") != (ROOT / path).is_dir():
                stale.append(f"{rule} {path}: no such {'folder' if path.endswith('/') else 'module'}; "
                             f"{rule} is cited at {_where(cited[rule])}")
            elif not _cites(ROOT / path, rule):
                stale.append(f"{rule} {path}: cites no {rule}; {rule} is cited at {_where(cited[rule])}")
    assert stale == [], "stale 'enforced in' rows of docs/rules.md (id path: why):\n" + "\n".join(stale)


def test_each_tested_in_path_exists() -> None:
    stale = [f"{rule} {path}" for rule, (_, tested) in index().items() for path in tested
             if not path.startswith("tests/") or not (ROOT / path).exists()]
    assert stale == [], "stale 'tested in' rows of docs/rules.md (id path), no such test file:\n" + "\n".join(stale)


# -- the machines -----------------------------------------------------------------------------------------


def _enum_values(path: Path, name: str) -> list[str] | None:
    """The string values of `class name(...)`'s members in the module at `path`, or None if it's not there."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return [statement.value.value for statement in node.body
                    if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)]
    return None


def test_the_machines_live_where_the_index_says_with_their_states() -> None:
    rows = _rows("state machines")
    assert {cells[0] for cells in rows} >= {"(a)", "(b)", "(c)", "(d)", "(e)"}, rows
    stale: list[str] = []
    for cells in rows:
        assert len(cells) == 5, f"docs/rules.md: a machine row has 5 cells (machine, of what, enum, lives in, " \
                                f"states): {cells}"
        machine, _, enum_cell, lives_cell, states_cell = cells
        (enum,), (path,) = PATH.findall(enum_cell), PATH.findall(lives_cell)
        listed = PATH.findall(states_cell)
        if not (ROOT / path).is_file():
            stale.append(f"{machine} {path}: no such module")
            continue
        values = _enum_values(ROOT / path, enum)
        if values is None:
            stale.append(f"{machine} {path}: defines no class {enum}")
        elif values != listed:
            stale.append(f"{machine} {path}: {enum} has the states {values}, the index lists {listed}")
    assert stale == [], "stale machine rows of docs/rules.md (machine path: why):\n" + "\n".join(stale)


# -- the grammar itself -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("# D14: late offers are rejected", ["D14"]),
    ('rule="D8"', ["D8"]),
    ("(D16/D17) and (P1, P12, G16)", ["D16", "D17", "P1", "P12", "G16"]),
    ("D14a, HC2, FU5, SN6, N19, G18, D20", ["D14a", "HC2", "FU5", "SN6", "N19", "G18", "D20"]),
    ("D4–D7", ["D4", "D7", "D5", "D6"]),
    ("its id (`N1`…`N19`, or `campaign`)", ["N1", "N19", *[f"N{n}" for n in range(2, 19)]]),
    # Not rule ids: beyond the specs' numbers, inside words or numbers, hex, CPV codes, dotted names.
    ("D21 N20 P13 G19 HC7 FU8 SN9 D0 D14d", []),
    ("MS1/MS2 couloirs, C0/C1 controls, 0D14, AD8F, D1x, x.P4, 48000000-8, G1-2, FR-G1", []),
])
def test_rule_ids_are_read_as_documented(text: str, expected: list[str]) -> None:
    assert ids_in(text) == expected


def test_only_comments_and_strings_count() -> None:
    source = 'P4 = 1  # P9: hashed\nG1 = "G5 and G7"\ndef D8() -> None:\n    """D13."""\n'
    assert [rule for _, text in prose(source) for rule in ids_in(text)] == ["P9", "G5", "G7", "D13"]
