"""SIREN, SIRET and FINESS validation (domain.md §2.1–§2.3): test vectors, reasons, and Luhn properties."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import luhn

from marketplace.lib.identifiers import (
    InvalidIdentifier,
    is_public_body_siren,
    normalise,
    siren_of,
    validate_finess,
    validate_siren,
    validate_siret,
)

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def digit_strings(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=size, max_size=size)


def with_luhn(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def change_one_digit(value: str, position: int, offset: int) -> str:
    """`value` with the digit at `position` replaced by a different digit (offset 1–9, modulo 10)."""
    digit = (int(value[position]) + offset) % 10
    return value[:position] + str(digit) + value[position + 1:]


# Every numeric FINESS département prefix §2.3 allows: 01–95 (not 20: Corsica is 2A/2B) and overseas 97/98.
NUMERIC_FINESS_DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20] + ["97", "98"]


# --- domain.md §2.2 test vectors -----------------------------------------------------------------------------


@pytest.mark.parametrize("siren", ["552081317", "732829320"])
def test_siren_vectors_pass(siren: str) -> None:
    assert validate_siren(siren) == siren


@pytest.mark.parametrize("siret", ["73282932000074", "35600000049837", "35600000000048"])
def test_siret_vectors_pass(siret: str) -> None:
    assert validate_siret(siret) == siret


def test_siren_vector_fails_on_checksum() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siren("123456789")
    assert caught.value.kind == "siren"
    assert caught.value.value == "123456789"
    assert "check digit" in caught.value.reason and "Luhn" in caught.value.reason


def test_siret_vector_fails_on_checksum() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret("12345678912345")
    assert caught.value.kind == "siret"
    assert caught.value.reason == "the SIRET check digit is wrong (Luhn)"


# --- SIREN / SIRET reasons -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "count"), [("73282932", 8), ("7328293200", 10), ("", 0), ("   ", 0)])
def test_siren_wrong_length(value: str, count: int) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siren(value)
    assert caught.value.kind == "siren"
    assert caught.value.reason == f"a SIREN has 9 digits; this one has {count}"


@pytest.mark.parametrize(("value", "count"), [("7328293200007", 13), ("732829320000740", 15)])
def test_siret_wrong_length(value: str, count: int) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret(value)
    assert caught.value.kind == "siret"
    assert caught.value.reason == f"a SIRET has 14 digits; this one has {count}"


@pytest.mark.parametrize(
    ("value", "stray"),
    [
        ("73282932O", "O"),  # letter O for zero
        ("FR732829320", "F"),
        ("732_829_320", "_"),
        ("732829320²", "²"),  # str.isdigit() would accept it
        ("٧٣٢٨٢٩٣٢٠", "٧"),  # Arabic-Indic digits
    ],
)
def test_siren_invalid_characters(value: str, stray: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siren(value)
    assert caught.value.kind == "siren"
    assert "only digits" in caught.value.reason and repr(stray) in caught.value.reason


def test_siret_invalid_characters() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret("732829320 0007A")
    assert caught.value.kind == "siret"
    assert "only digits" in caught.value.reason and "'A'" in caught.value.reason


def test_siret_whose_siren_part_is_invalid_is_refused() -> None:
    # Luhn holds over the 14 digits, but the SIREN 123456789 fails its own Luhn check (§2.2: "and SIREN part valid").
    siret = with_luhn("1234567890001")
    assert luhn.is_valid(siret) and not luhn.is_valid(siret[:9])
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret(siret)
    assert caught.value.kind == "siret"
    assert "SIREN part" in caught.value.reason and "Luhn" in caught.value.reason


# --- La Poste (§2.2) ------------------------------------------------------------------------------------------


def test_la_poste_siret_is_not_luhn_valid_but_accepted() -> None:
    assert not luhn.is_valid("35600000049837")
    assert sum(map(int, "35600000049837")) % 5 == 0
    assert validate_siret("35600000049837") == "35600000049837"
    assert siren_of("35600000049837") == "356000000"


def test_la_poste_siret_failing_the_digit_sum_is_refused() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret("35600000049838")
    assert caught.value.kind == "siret"
    assert "La Poste" in caught.value.reason and "multiple of 5" in caught.value.reason
    assert "it is 46" in caught.value.reason


def test_la_poste_head_office_follows_luhn_not_the_digit_sum() -> None:
    assert sum(map(int, "35600000000048")) % 5 != 0
    assert validate_siret("35600000000048") == "35600000000048"
    # A neighbour of the head office with a digit sum divisible by 5 is valid under the La Poste rule.
    assert validate_siret("35600000000042") == "35600000000042"


@given(nic=digit_strings(5))
def test_la_poste_rule_is_the_digit_sum(nic: str) -> None:
    siret = "356000000" + nic
    expected = luhn.is_valid(siret) if siret == "35600000000048" else sum(map(int, siret)) % 5 == 0
    try:
        validate_siret(siret)
    except InvalidIdentifier as error:
        assert not expected
        assert error.kind == "siret" and "check digit" in error.reason
    else:
        assert expected


# --- normalisation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("732 829 320", "732829320"),
        ("732.829.320 00074", "73282932000074"),
        ("732-829-320-00074", "73282932000074"),
        ("732\u00a0829\u00a0320", "732829320"),  # no-break space
        ("732\u202f829\u202f320", "732829320"),  # narrow no-break space (French thousands separator)
        ("  732829320\n", "732829320"),
        ("2a 000 0123", "2A0000123"),
        ("2b-000-0123", "2B0000123"),
        ("fr732829320", "fr732829320"),  # case is otherwise left alone
    ],
)
def test_normalise(value: str, expected: str) -> None:
    assert normalise(value) == expected


def test_validators_return_the_normalised_identifier() -> None:
    assert validate_siren("732 829 320") == "732829320"
    assert validate_siret("732.829.320 00074") == "73282932000074"
    assert validate_siret("732-829-320-00074") == "73282932000074"
    assert validate_finess("75 071 218 4") == "750712184"
    assert validate_finess("2a0000123") == "2A0000123"


def test_exception_keeps_the_value_as_given() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siren("123 456 789")
    assert caught.value.value == "123 456 789"
    assert "123 456 789" in str(caught.value)


@given(
    body=digit_strings(8),
    separators=st.lists(st.sampled_from([" ", ".", "-", "\u00a0"]), min_size=9, max_size=9),
)
def test_separators_never_change_the_result(body: str, separators: list[str]) -> None:
    siren = with_luhn(body)
    spaced = "".join(digit + separator for digit, separator in zip(siren, separators, strict=True))
    assert validate_siren(spaced) == siren


# --- Luhn properties (§2.1) -----------------------------------------------------------------------------------


@given(body=digit_strings(8), position=st.integers(0, 8), offset=st.integers(1, 9))
def test_siren_luhn_property(body: str, position: int, offset: int) -> None:
    siren = with_luhn(body)
    assert validate_siren(siren) == siren
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siren(change_one_digit(siren, position, offset))
    assert caught.value.kind == "siren"
    assert "check digit" in caught.value.reason


@given(siren_body=digit_strings(8), nic_body=digit_strings(4), position=st.integers(0, 13),
       offset=st.integers(1, 9))
def test_siret_luhn_property(siren_body: str, nic_body: str, position: int, offset: int) -> None:
    # A SIRET is valid only if its SIREN part is valid too: build the SIREN first, then the NIC check digit.
    siren = with_luhn(siren_body)
    siret = with_luhn(siren + nic_body)
    changed = change_one_digit(siret, position, offset)
    # SIRET under 356000000 follow the La Poste rule instead (tested above).
    assume(not siret.startswith("356000000") and not changed.startswith("356000000"))
    assert validate_siret(siret) == siret
    assert siren_of(siret) == siren
    with pytest.raises(InvalidIdentifier) as caught:
        validate_siret(changed)
    assert caught.value.kind == "siret"
    assert "check digit" in caught.value.reason


@given(departement=st.sampled_from(NUMERIC_FINESS_DEPARTEMENTS), rest=digit_strings(6),
       position=st.integers(0, 8), offset=st.integers(1, 9))
def test_numeric_finess_luhn_property(departement: str, rest: str, position: int, offset: int) -> None:
    finess = with_luhn(departement + rest)
    assert validate_finess(finess) == finess
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(change_one_digit(finess, position, offset))
    assert caught.value.kind == "finess"
    # Either the check key no longer matches, or the change produced a département that does not exist.
    assert "check key" in caught.value.reason or "département '" in caught.value.reason


# --- FINESS (§2.3) --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "finess",
    [
        "750712184",  # AP-HP, EJ
        "970100400",  # Guadeloupe
        "980600027",  # Wallis-et-Futuna
    ],
)
def test_finess_vectors_pass(finess: str) -> None:
    assert validate_finess(finess) == finess


@given(letter=st.sampled_from("ABab"), rest=digit_strings(7))
def test_corsican_finess_pass_on_format_only(letter: str, rest: str) -> None:
    # §2.3: the Corsican check-key convention is unverified, so any 7 digits after 2A/2B are accepted.
    assert validate_finess(f"2{letter}{rest}") == f"2{letter.upper()}{rest}"


def test_finess_bad_checksum() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess("750712185")
    assert caught.value.kind == "finess"
    assert caught.value.reason == "the FINESS check key (last character) is wrong (Luhn)"


@pytest.mark.parametrize(("value", "count"), [("75071218", 8), ("7507121840", 10), ("2A000012", 8), ("", 0)])
def test_finess_wrong_length(value: str, count: int) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(value)
    assert caught.value.kind == "finess"
    assert caught.value.reason.startswith("a FINESS number is 9 characters")
    assert caught.value.reason.endswith(f"this one has {count}")


@pytest.mark.parametrize(
    ("value", "stray"),
    [
        ("75071218X", "X"),
        ("7507A2184", "A"),
        ("7A0712184", "A"),  # only 2A/2B carry a letter
        ("A20000123", "A"),
        ("2A00001B3", "B"),
        ("75071218٤", "٤"),  # Arabic-Indic digit
    ],
)
def test_finess_invalid_characters(value: str, stray: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(value)
    assert caught.value.kind == "finess"
    assert f"found the character {stray!r}" in caught.value.reason


@pytest.mark.parametrize("value", ["2C0000123", "2c0000123", "2Z0000123"])
def test_finess_unknown_corsican_letter(value: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(value)
    assert caught.value.kind == "finess"
    assert "only lettered départements are 2A and 2B" in caught.value.reason


@pytest.mark.parametrize("departement", ["00", "96", "99"])
def test_finess_bad_departement(departement: str) -> None:
    finess = with_luhn(departement + "071218")  # the check key is right: only the département is wrong
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(finess)
    assert caught.value.kind == "finess"
    assert f"département '{departement}' does not exist" in caught.value.reason


def test_finess_departement_20_is_refused_in_favour_of_2a_2b() -> None:
    finess = with_luhn("20071218")
    with pytest.raises(InvalidIdentifier) as caught:
        validate_finess(finess)
    assert caught.value.kind == "finess"
    assert "département '20'" in caught.value.reason and "2A" in caught.value.reason


# --- public bodies and the exception itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("siren", "public"),
    [
        (with_luhn("10000000"), True),
        (with_luhn("21750001"), True),
        ("732829320", False),
        ("356000000", False),
    ],
)
def test_is_public_body_siren(siren: str, public: bool) -> None:
    assert is_public_body_siren(siren) is public


def test_is_public_body_siren_validates_first() -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        is_public_body_siren("123456789")
    assert caught.value.kind == "siren"


def test_siren_of_validates_the_siret() -> None:
    assert siren_of("732 829 320 00074") == "732829320"
    with pytest.raises(InvalidIdentifier) as caught:
        siren_of("73282932000075")
    assert caught.value.kind == "siret"


def test_invalid_identifier_is_a_value_error_and_pickles() -> None:
    error = InvalidIdentifier("finess", "75071218", "a FINESS number is 9 characters")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.value, copy.reason) == ("finess", "75071218", "a FINESS number is 9 characters")
    assert str(copy) == str(error) == "invalid FINESS '75071218': a FINESS number is 9 characters"
