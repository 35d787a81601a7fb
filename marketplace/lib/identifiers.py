"""French identifiers: SIREN, SIRET and FINESS (domain.md §2.1–§2.3).

Pure functions, no I/O. Each `validate_*` returns the normalised identifier or raises `InvalidIdentifier`
with a reason a user can act on (wrong length, stray characters, bad check digit, bad département).

Checksums come from python-stdnum (`stdnum.luhn`, `stdnum.fr.siren`, `stdnum.fr.siret`), as domain.md §2.1
recommends. stdnum 2.2's SIRET validator already implements the La Poste exception of §2.2, so it is not
re-implemented here; this module only adds what stdnum lacks: dashes and non-breaking spaces as separators,
a reason per failure, and FINESS (§2.3), which stdnum does not know.

Existence checks (SIRENE, the FINESS extraction, EJ↔ET links) are not done here: they need data.
"""

from __future__ import annotations

import re
from typing import Literal

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

IdentifierKind = Literal["siren", "siret", "finess"]

__all__ = [
    "IdentifierKind",
    "InvalidIdentifier",
    "is_public_body_siren",
    "normalise",
    "siren_of",
    "validate_finess",
    "validate_siren",
    "validate_siret",
]

# Separators people type or paste: space, dot, hyphen-minus (§2.2 "remove spaces, dots, dashes"), plus the
# typographic variants a copy from a web page or a spreadsheet brings along: no-break space (U+00A0), narrow
# no-break space (U+202F, the French thousands separator), tab, and the Unicode dashes (U+2010–U+2015, U+2212).
_SEPARATORS = re.compile("[ .\t\u00a0\u202f\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212]")
_ASCII_DIGITS = re.compile(r"[0-9]+")

SIREN_LENGTH = 9
SIRET_LENGTH = 14
FINESS_LENGTH = 9

# domain.md §2.2: La Poste establishments share the SIREN 356000000; their SIRET (head office excepted) do not
# follow Luhn but have a digit sum divisible by 5. Kept here only to explain a failure: stdnum decides validity.
_LA_POSTE_SIREN = "356000000"
_LA_POSTE_HEAD_OFFICE = "35600000000048"

_FINESS_FORMAT = re.compile(r"([0-9]{2}|2[AB])[0-9]{7}")  # [0-9], not \d, which also matches non-Latin digits
_FINESS_FORMAT_HINT = (
    "a FINESS number is 9 characters: 2 for the département (01–95, 2A, 2B, or 97/98 overseas) then 7 digits"
)


class InvalidIdentifier(ValueError):
    """An identifier that is malformed or fails its check.

    `kind` is "siren", "siret" or "finess"; `value` is the input exactly as given (before normalisation);
    `reason` is a human explanation in English.
    """

    kind: IdentifierKind
    value: str
    reason: str

    def __init__(self, kind: IdentifierKind, value: str, reason: str) -> None:
        super().__init__(f"invalid {kind.upper()} {value!r}: {reason}")
        self.kind = kind
        self.value = value
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidIdentifier], tuple[IdentifierKind, str, str]]:
        # Keeps the exception picklable (the default would replay only the formatted message).
        return (type(self), (self.kind, self.value, self.reason))


def normalise(value: str) -> str:
    """Remove separators (spaces, dots, dashes, non-breaking spaces) — domain.md §2.2.

    Case is left alone, except the Corsican FINESS prefixes "2a"/"2b", which become "2A"/"2B" (§2.3). No other
    character is touched, so stray letters still reach the validators and are reported as such.
    """
    compact = _SEPARATORS.sub("", value.strip())
    if compact[:2] in ("2a", "2b"):
        compact = "2" + compact[1].upper() + compact[2:]
    return compact


def _is_ascii_digits(value: str) -> bool:
    # Not str.isdigit(): it accepts superscripts and non-Latin digits ("²", "٣").
    return _ASCII_DIGITS.fullmatch(value) is not None


def _check_digits_and_length(kind: IdentifierKind, value: str, compact: str, label: str, length: int) -> None:
    if compact and not _is_ascii_digits(compact):
        stray = _first_non_digit(compact)
        raise InvalidIdentifier(kind, value, f"a {label} contains only digits; found the character {stray!r}")
    if len(compact) != length:
        raise InvalidIdentifier(kind, value, f"a {label} has {length} digits; this one has {len(compact)}")


def _first_non_digit(value: str) -> str:
    return next((ch for ch in value if not ("0" <= ch <= "9")), "")


def validate_siren(value: str) -> str:
    """Return the normalised 9-digit SIREN, or raise `InvalidIdentifier` (domain.md §2.2: `^\\d{9}$`, Luhn)."""
    compact = normalise(value)
    _check_digits_and_length("siren", value, compact, "SIREN", SIREN_LENGTH)
    try:
        return stdnum_siren.validate(compact)
    except ValidationError:
        # Digits and length were checked above, so the only failure left is the Luhn check digit.
        raise InvalidIdentifier("siren", value, "the SIREN check digit is wrong (Luhn)") from None


def validate_siret(value: str) -> str:
    """Return the normalised 14-digit SIRET, or raise `InvalidIdentifier`.

    domain.md §2.2: `^\\d{14}$`, Luhn over the 14 digits and a valid SIREN part; La Poste exception: a SIRET
    starting 356000000, other than the head office 35600000000048, is valid iff its digit sum is a multiple
    of 5. stdnum.fr.siret (2.2) implements all of this; it is only asked for a verdict.
    """
    compact = normalise(value)
    _check_digits_and_length("siret", value, compact, "SIRET", SIRET_LENGTH)
    try:
        return stdnum_siret.validate(compact)
    except ValidationError:
        raise InvalidIdentifier("siret", value, _siret_checksum_reason(compact)) from None


def _siret_checksum_reason(compact: str) -> str:
    if compact.startswith(_LA_POSTE_SIREN) and compact != _LA_POSTE_HEAD_OFFICE:
        return (
            "the SIRET check digit is wrong (La Poste rule: for SIRET starting 356000000 the sum of the 14 digits"
            f" must be a multiple of 5; here it is {sum(map(int, compact))})"
        )
    if not luhn.is_valid(compact):
        return "the SIRET check digit is wrong (Luhn)"
    return "the SIREN part (first 9 digits) of this SIRET has a wrong check digit (Luhn)"


def siren_of(siret: str) -> str:
    """The SIREN (first 9 digits) of a SIRET, after validating the SIRET (domain.md §2.2)."""
    return validate_siret(siret)[:SIREN_LENGTH]


def validate_finess(value: str) -> str:
    """Return the normalised 9-character FINESS (EJ or ET), or raise `InvalidIdentifier` (domain.md §2.3).

    Format `^(\\d{2}|2[AB])\\d{7}$`; département 01–95 (except 20, see below), 2A/2B, or overseas 97x/98x;
    Luhn over the 9 digits for all-numeric numbers. Corsican numbers are checked on format only. Existence,
    EJ↔ET link and category must still be checked against the imported FINESS extraction.
    """
    compact = normalise(value)
    if len(compact) != FINESS_LENGTH:
        raise InvalidIdentifier("finess", value, f"{_FINESS_FORMAT_HINT}; this one has {len(compact)}")
    if _FINESS_FORMAT.fullmatch(compact) is None:
        raise InvalidIdentifier("finess", value, _finess_format_reason(compact))

    departement = compact[:2]
    if departement in ("2A", "2B"):
        # §2.3: the check-key convention for Corsican numbers is unverified → accept on format only.
        return compact
    if not _is_finess_departement(departement):
        raise InvalidIdentifier("finess", value, _finess_departement_reason(departement))
    # §2.3: Luhn over the 9 digits (32/32 real numbers, overseas included, satisfy it; not a published rule).
    if not luhn.is_valid(compact):
        raise InvalidIdentifier("finess", value, "the FINESS check key (last character) is wrong (Luhn)")
    return compact


def _is_finess_departement(departement: str) -> bool:
    number = int(departement)
    # §2.3: 01–95 for metropolitan départements. "20" is refused: Corsica is numbered 2A/2B in FINESS (§2.3),
    # département 20 was split into 2A/2B in 1976 (INSEE COG, §2.5), and a leading "20" is most likely a
    # Corsican postal code (20xxx) typed in its place. Should the imported extraction ever hold a 20xxxxxxx
    # number, this rule is the one to revisit.
    if 1 <= number <= 95:
        return number != 20
    # §2.3: overseas numbers are all digits, 97/98 + a territory digit (observed 9701–9704, 9805, 9806). Other
    # territory digits are not refused here: the existence check against the extraction settles them.
    return number in (97, 98)


def _finess_departement_reason(departement: str) -> str:
    if departement == "20":
        return (
            "the FINESS département '20' does not exist: Corsica is 2A (Corse-du-Sud) or 2B (Haute-Corse);"
            " expected 01–95, 2A, 2B, or 97/98 overseas"
        )
    return f"the FINESS département '{departement}' does not exist; expected 01–95, 2A, 2B, or 97/98 overseas"


def _finess_format_reason(compact: str) -> str:
    # Length is already 9, so some character is not where it may be.
    head = compact[:2]
    if head[0] == "2" and head[1].isalpha() and head[1] not in "AB":
        return f"{_FINESS_FORMAT_HINT}; the only lettered départements are 2A and 2B, not '{head}'"
    head_ok = head in ("2A", "2B") or _is_ascii_digits(head)
    stray = _first_non_digit(compact[2:] if head_ok else compact)
    return f"{_FINESS_FORMAT_HINT}; found the character {stray!r}, which is not allowed there"


def is_public_body_siren(siren: str) -> bool:
    """Whether a (valid) SIREN belongs to a public body: it starts with 1 or 2 (domain.md §2.2).

    Raises `InvalidIdentifier` if `siren` is not a valid SIREN.
    """
    return validate_siren(siren)[0] in ("1", "2")
