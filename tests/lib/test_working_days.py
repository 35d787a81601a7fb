"""Working days for DPS deadlines (domain.md §1.2 D6/D11, §1.7 "Time counting", reliability.md §2.8).

Every expected date below was counted by hand on a printed calendar; the comment beside each row shows the
count (✗ = not a working day, n = the n-th working day). Notation: "sat" = Monday-to-Saturday ("jours
ouvrables", D6), "fri" = Monday-to-Friday ("jours ouvrés", D11), "AM" = Alsace-Moselle.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from marketplace.lib.working_days import (
    DECLARATION_REFRESH_DAYS,
    DECLARATION_RULES,
    EVALUATION_DAYS,
    EVALUATION_DAYS_EXTENDED,
    EVALUATION_RULES,
    Calendar,
    WorkingDayRules,
    add_working_days,
    declaration_due_at,
    due_at,
    earliest_franc_deadline,
    end_of_paris_day,
    evaluation_due_at,
    is_public_holiday,
    is_working_day,
    working_days_between,
)

PARIS = ZoneInfo("Europe/Paris")
SAT = WorkingDayRules(Calendar.MON_SAT)
FRI = WorkingDayRules(Calendar.MON_FRI)
SAT_AM = WorkingDayRules(Calendar.MON_SAT, alsace_moselle=True)
FRI_AM = WorkingDayRules(Calendar.MON_FRI, alsace_moselle=True)
ALL_RULES = (SAT, FRI, SAT_AM, FRI_AM)


def d(text: str) -> date:
    return date.fromisoformat(text)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# The French national list, written out by hand: 1 Jan, Easter Monday, 1 May, 8 May, Ascension Thursday,
# Whit Monday, 14 Jul, 15 Aug, 1 Nov, 11 Nov, 25 Dec. Easter Sundays: 2025-04-20, 2026-04-05, 2027-03-28,
# 2028-04-16, 2029-04-01, 2030-04-21 (Easter Monday +1, Ascension +39, Whit Monday +50, Good Friday -2).
NATIONAL_HOLIDAYS: dict[int, tuple[str, ...]] = {
    2025: ("01-01", "04-21", "05-01", "05-08", "05-29", "06-09", "07-14", "08-15", "11-01", "11-11", "12-25"),
    2026: ("01-01", "04-06", "05-01", "05-08", "05-14", "05-25", "07-14", "08-15", "11-01", "11-11", "12-25"),
    2027: ("01-01", "03-29", "05-01", "05-06", "05-08", "05-17", "07-14", "08-15", "11-01", "11-11", "12-25"),
    2028: ("01-01", "04-17", "05-01", "05-08", "05-25", "06-05", "07-14", "08-15", "11-01", "11-11", "12-25"),
    2029: ("01-01", "04-02", "05-01", "05-08", "05-10", "05-21", "07-14", "08-15", "11-01", "11-11", "12-25"),
    2030: ("01-01", "04-22", "05-01", "05-08", "05-30", "06-10", "07-14", "08-15", "11-01", "11-11", "12-25"),
}
# Alsace-Moselle adds Good Friday and Saint Stephen's Day (26 Dec).
GOOD_FRIDAYS = {2025: "04-18", 2026: "04-03", 2027: "03-26", 2028: "04-14", 2029: "03-30", 2030: "04-19"}


def _holidays(year: int, alsace_moselle: bool) -> set[date]:
    days = set(NATIONAL_HOLIDAYS[year])
    if alsace_moselle:
        days |= {GOOD_FRIDAYS[year], "12-26"}
    return {d(f"{year}-{month_day}") for month_day in days}


def _days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


@pytest.mark.parametrize("year", sorted(NATIONAL_HOLIDAYS))
@pytest.mark.parametrize("alsace_moselle", [False, True], ids=["national", "alsace-moselle"])
def test_public_holidays_are_exactly_the_french_list(year: int, alsace_moselle: bool) -> None:
    rules = WorkingDayRules(Calendar.MON_FRI, alsace_moselle=alsace_moselle)
    found = {day for day in _days_of(year) if is_public_holiday(day, rules)}
    assert found == _holidays(year, alsace_moselle)


@pytest.mark.parametrize("year", sorted(NATIONAL_HOLIDAYS))
@pytest.mark.parametrize("rules", ALL_RULES, ids=["sat", "fri", "sat-AM", "fri-AM"])
def test_every_day_of_the_year(year: int, rules: WorkingDayRules) -> None:
    # §1.7: Sundays never work; Saturdays only on the Mon–Sat calendar; public holidays never.
    last_working_weekday = 5 if rules.calendar is Calendar.MON_SAT else 4
    holidays = _holidays(year, rules.alsace_moselle)
    for day in _days_of(year):
        expected = day.weekday() <= last_working_weekday and day not in holidays
        assert is_working_day(day, rules) is expected, day


@pytest.mark.parametrize(("day", "on_sat", "on_fri", "why"), [
    ("2026-03-06", True, True, "an ordinary Friday"),
    ("2026-03-07", True, False, "Saturday: a 'jour ouvrable' but not a 'jour ouvré'"),
    ("2026-03-08", False, False, "Sunday"),
    ("2026-04-06", False, False, "Easter Monday"),
    ("2026-05-14", False, False, "Ascension Thursday"),
    ("2026-05-25", False, False, "Whit Monday (lundi de Pentecôte) stays a public holiday"),
    ("2027-05-08", False, False, "8 May on a Saturday: a holiday even for Mon–Sat"),
    ("2027-05-01", False, False, "1 May on a Saturday"),
    ("2026-08-15", False, False, "15 Aug on a Saturday"),
    ("2025-12-26", True, True, "26 Dec is a working day outside Alsace-Moselle"),
    ("2026-04-03", True, True, "Good Friday is a working day outside Alsace-Moselle"),
])
def test_weekends_and_holidays(day: str, on_sat: bool, on_fri: bool, why: str) -> None:
    assert is_working_day(d(day), SAT) is on_sat, why
    assert is_working_day(d(day), FRI) is on_fri, why


@pytest.mark.parametrize(("day", "why"), [
    ("2025-04-18", "Good Friday 2025"), ("2026-04-03", "Good Friday 2026"), ("2030-04-19", "Good Friday 2030"),
    ("2025-12-26", "26 Dec 2025, a Friday"), ("2030-12-26", "26 Dec 2030, a Thursday"),
])
def test_alsace_moselle_extras(day: str, why: str) -> None:
    assert is_working_day(d(day), FRI) and is_working_day(d(day), SAT), why
    assert not is_working_day(d(day), FRI_AM) and not is_working_day(d(day), SAT_AM), why


ADD_CASES = [
    # --- The year boundary (D6: 10 WD, D6 extended: 15 WD, D11 generous calendar) ---
    # Thu 24 Dec 2026 → 25 ✗, Sat 26 1, Sun ✗, 28 2, 29 3, 30 4, 31 5, Fri 1 Jan ✗, Sat 2 6, Sun ✗, 4 7, 5 8,
    # 6 9, Thu 7 10
    ("2026-12-24", 10, SAT, "2027-01-07"),
    # ... then Fri 8 11, Sat 9 12, Mon 11 13, Tue 12 14, Wed 13 15
    ("2026-12-24", 15, SAT, "2027-01-13"),
    # Mon 28 1, 29 2, 30 3, 31 4, Jan 1 ✗, Mon 4 5, 5 6, 6 7, 7 8, Fri 8 9, Mon 11 10
    ("2026-12-24", 10, FRI, "2027-01-11"),
    # AM: Sat 26 ✗ as well → 28 1, 29 2, 30 3, 31 4, Sat 2 5, Mon 4 6, 5 7, 6 8, 7 9, Fri 8 10
    ("2026-12-24", 10, SAT_AM, "2027-01-08"),
    # Fri 31 Dec 2027 → Sat 1 Jan 2028 ✗ (holiday on a Saturday), Sun ✗, Mon 3 1
    ("2027-12-31", 1, SAT, "2028-01-03"),
    # Mon 24 Dec 2029 → 25 ✗, Wed 26 1, 27 2, Fri 28 3, Mon 31 4, Tue 1 Jan 2030 ✗, Wed 2 5
    ("2029-12-24", 5, FRI, "2030-01-02"),
    # Tue 24 Dec 2030 → 25 ✗, Thu 26 1, Fri 27 2, Sat 28 3, Mon 30 4, Tue 31 5
    ("2030-12-24", 5, SAT, "2030-12-31"),
    # AM: 26 ✗ too → Fri 27 1, Sat 28 2, Mon 30 3, Tue 31 4, Wed 1 Jan 2031 ✗, Thu 2 5
    ("2030-12-24", 5, SAT_AM, "2031-01-02"),
    # AM 2025: Wed 24 Dec → 25 ✗, Fri 26 ✗, Mon 29 1, Tue 30 2, Wed 31 3 (national: Fri 26 1, 29 2, Tue 30 3)
    ("2025-12-24", 3, FRI, "2025-12-30"),
    ("2025-12-24", 3, FRI_AM, "2025-12-31"),
    # --- Easter (Good Friday in AM, Easter Monday everywhere) ---
    # Wed 1 Apr 2026 → Thu 2 1, Fri 3 2, Sat ✗, Sun ✗, Mon 6 ✗ (Easter Monday), Tue 7 3, Wed 8 4, Thu 9 5
    ("2026-04-01", 5, FRI, "2026-04-09"),
    # AM → Thu 2 1, Fri 3 ✗ (Good Friday), Mon 6 ✗, Tue 7 2, 8 3, 9 4, Fri 10 5
    ("2026-04-01", 5, FRI_AM, "2026-04-10"),
    # Mon–Sat → Thu 2 1, Fri 3 2, Sat 4 3, Mon 6 ✗, Tue 7 4, Wed 8 5
    ("2026-04-01", 5, SAT, "2026-04-08"),
    # Mon–Sat AM → Thu 2 1, Fri 3 ✗, Sat 4 2, Mon 6 ✗, Tue 7 3, Wed 8 4, Thu 9 5
    ("2026-04-01", 5, SAT_AM, "2026-04-09"),
    # Thu 17 Apr 2025 → Fri 18 1, Mon 21 ✗, Tue 22 2 ; AM: Fri 18 ✗, Tue 22 1, Wed 23 2
    ("2025-04-17", 2, FRI, "2025-04-22"),
    ("2025-04-17", 2, FRI_AM, "2025-04-23"),
    # Thu 13 Apr 2028 → Fri 14 1, Sat 15 2, Mon 17 ✗, Tue 18 3 ; AM: Fri 14 ✗, Sat 15 1, Tue 18 2, Wed 19 3
    ("2028-04-13", 3, SAT, "2028-04-18"),
    ("2028-04-13", 3, SAT_AM, "2028-04-19"),
    # Thu 29 Mar 2029 → national: Fri 30 1 ; AM: Fri 30 ✗, Mon 2 Apr ✗ (Easter Monday), Tue 3 1
    ("2029-03-29", 1, FRI, "2029-03-30"),
    ("2029-03-29", 1, FRI_AM, "2029-04-03"),
    # Thu 18 Apr 2030 → national: Fri 19 1 ; AM: Fri 19 ✗, Mon 22 ✗, Tue 23 1
    ("2030-04-18", 1, FRI, "2030-04-19"),
    ("2030-04-18", 1, FRI_AM, "2030-04-23"),
    # --- May: 1 May, 8 May, Ascension, Whit Monday ---
    # Thu 30 Apr 2026 → Fri 1 ✗, Sat 2 1, Mon 4 2, 5 3, 6 4, Thu 7 5, Fri 8 ✗, Sat 9 6, 11 7, 12 8, 13 9,
    # Thu 14 ✗ (Ascension), Fri 15 10
    ("2026-04-30", 10, SAT, "2026-05-15"),
    # Mon 4 1, 5 2, 6 3, 7 4, Fri 8 ✗, Mon 11 5, 12 6, 13 7, Thu 14 ✗, Fri 15 8, Mon 18 9, Tue 19 10
    ("2026-04-30", 10, FRI, "2026-05-19"),
    # Fri 22 May 2026 → Sat ✗, Sun ✗, Mon 25 ✗ (Whit Monday), Tue 26 1 ; Mon–Sat: Sat 23 1, Mon 25 ✗, Tue 26 2
    ("2026-05-22", 1, FRI, "2026-05-26"),
    ("2026-05-22", 1, SAT, "2026-05-23"),
    ("2026-05-22", 2, SAT, "2026-05-26"),
    # Wed 28 May 2025 → Thu 29 ✗ (Ascension), Fri 30 1, Sat 31 2, Mon 2 3, 3 4, 4 5, 5 6, 6 7, Sat 7 8,
    # Mon 9 ✗ (Whit Monday), Tue 10 9, Wed 11 10
    ("2025-05-28", EVALUATION_DAYS, SAT, "2025-06-11"),
    # ... Thu 12 11, Fri 13 12, Sat 14 13, Mon 16 14, Tue 17 15
    ("2025-05-28", EVALUATION_DAYS_EXTENDED, SAT, "2025-06-17"),
    # Wed 30 Apr 2025 → Thu 1 ✗, Fri 2 1, Mon 5 2, 6 3, 7 4, Thu 8 ✗, Fri 9 5
    ("2025-04-30", 5, FRI, "2025-05-09"),
    # Fri 30 Apr 2027 → Sat 1 ✗, Mon 3 1, 4 2, 5 3, Thu 6 ✗, Fri 7 4, Sat 8 ✗, Mon 10 5 (same on both calendars:
    # 1 and 8 May fall on Saturdays and take away the Mon–Sat calendar's extra days)
    ("2027-04-30", 5, SAT, "2027-05-10"),
    ("2027-04-30", 5, FRI, "2027-05-10"),
    # Fri 14 May 2027 → Mon 17 ✗ (Whit Monday), Tue 18 1
    ("2027-05-14", 1, FRI, "2027-05-18"),
    # Wed 24 May 2028 → Thu 25 ✗, Fri 26 1, Mon 29 2, 30 3, 31 4, Thu 1 Jun 5, Fri 2 6, Mon 5 ✗, 6 7, 7 8, 8 9, Fri 9 10
    ("2028-05-24", 10, FRI, "2028-06-09"),
    # Mon 7 May 2029 → Tue 8 ✗, Wed 9 1, Thu 10 ✗ (Ascension), Fri 11 2, Mon 14 3
    ("2029-05-07", 3, FRI, "2029-05-14"),
    # --- Summer and autumn ---
    # Mon 13 Jul 2026 → Tue 14 ✗, Wed 15 1
    ("2026-07-13", 1, SAT, "2026-07-15"),
    # Tue 13 Jul 2027 → Wed 14 ✗, Thu 15 1, Fri 16 2, Mon 19 3, 20 4, Wed 21 5
    ("2027-07-13", 5, FRI, "2027-07-21"),
    # Thu 14 Aug 2025 → Fri 15 ✗, Mon 18 1 ; Mon–Sat: Sat 16 1
    ("2025-08-14", 1, FRI, "2025-08-18"),
    ("2025-08-14", 1, SAT, "2025-08-16"),
    # Mon 14 Aug 2028 → Tue 15 ✗, Wed 16 1, 17 2, Fri 18 3, Mon 21 4, Tue 22 5
    ("2028-08-14", 5, FRI, "2028-08-22"),
    # Wed 31 Oct 2029 → Thu 1 Nov ✗, Fri 2 1, Sat 3 2, Mon 5 3, 6 4, Wed 7 5
    ("2029-10-31", 5, SAT, "2029-11-07"),
    # Tue 10 Nov 2026 → Wed 11 ✗, Thu 12 1
    ("2026-11-10", 1, FRI, "2026-11-12"),
    # Thu 31 Oct 2030 → Fri 1 ✗, Mon 4 1, 5 2, 6 3, 7 4, Fri 8 5, Mon 11 ✗, 12 6, 13 7, 14 8, Fri 15 9, Mon 18 10
    ("2030-10-31", 10, FRI, "2030-11-18"),
    # --- Weekends only ---
    # Fri 6 Mar 2026 → Mon 9 1, 10 2, 11 3, 12 4, Fri 13 5 ; Mon–Sat: Sat 7 1, Mon 9 2, 10 3, 11 4, Thu 12 5
    ("2026-03-06", DECLARATION_REFRESH_DAYS, FRI, "2026-03-13"),
    ("2026-03-06", 5, SAT, "2026-03-12"),
    # An event on a Saturday or a Sunday: the next working day is the first
    ("2026-03-07", 1, SAT, "2026-03-09"),
    ("2026-03-08", 1, FRI, "2026-03-09"),
    # n = 0: the day of the event itself, even if it is not a working day
    ("2026-03-08", 0, FRI, "2026-03-08"),
    ("2026-12-25", 0, SAT, "2026-12-25"),
]


@pytest.mark.parametrize(("start", "n", "rules", "expected"), ADD_CASES)
def test_add_working_days(start: str, n: int, rules: WorkingDayRules, expected: str) -> None:
    assert add_working_days(d(start), n, rules) == d(expected)


@pytest.mark.parametrize(("start", "n", "rules", "expected"), [case for case in ADD_CASES if case[1] > 0])
def test_working_days_between_inverts_the_table(start: str, n: int, rules: WorkingDayRules, expected: str) -> None:
    assert working_days_between(d(start), d(expected), rules) == n


@pytest.mark.parametrize(("start", "end", "rules", "expected"), [
    ("2026-03-06", "2026-03-06", SAT, 0),  # empty period
    ("2026-03-06", "2026-03-08", FRI, 0),  # Sat, Sun
    ("2026-03-06", "2026-03-08", SAT, 1),  # Sat 7
    # Mon 28, 29, 30, 31, Jan 1 ✗, Mon 4, 5, 6, Thu 7 (the D6 due day of a receipt on 24 Dec 2026, 10 WD Mon–Sat)
    ("2026-12-24", "2027-01-07", FRI, 8),
    # Thu 2, Fri 3, Mon 6 ✗, Tue 7, 8, 9, Fri 10 ; AM: without Fri 3
    ("2026-04-01", "2026-04-10", FRI, 6),
    ("2026-04-01", "2026-04-10", FRI_AM, 5),
    # The whole of 2026 (starts on a Thursday): 52 weeks + Thu 31 Dec → 261 weekdays, 313 Mon–Sat days.
    # Holidays on weekdays: 1 Jan Thu, 6 Apr Mon, 1 May Fri, 8 May Fri, 14 May Thu, 25 May Mon, 14 Jul Tue,
    # 11 Nov Wed, 25 Dec Fri = 9 → 252 ; plus 15 Aug Sat for Mon–Sat = 10 → 303 ; 1 Nov is a Sunday.
    # AM: Good Friday 3 Apr (weekday) → 251 ; + 26 Dec Sat for Mon–Sat → 301.
    ("2025-12-31", "2026-12-31", FRI, 252),
    ("2025-12-31", "2026-12-31", SAT, 303),
    ("2025-12-31", "2026-12-31", FRI_AM, 251),
    ("2025-12-31", "2026-12-31", SAT_AM, 301),
])
def test_working_days_between(start: str, end: str, rules: WorkingDayRules, expected: int) -> None:
    assert working_days_between(d(start), d(end), rules) == expected


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(d("2026-03-06"), -1, SAT)
    with pytest.raises(ValueError, match="before it starts"):
        working_days_between(d("2026-03-06"), d("2026-03-05"), SAT)
    with pytest.raises(ValueError, match="naive"):
        due_at(datetime(2026, 3, 6, 12, 0), 1, SAT)


def test_rules_of_the_domain() -> None:
    # D6: the buyer's SLA on the stricter Mon–Sat count; D11: the operator's allowance on Mon–Fri (§1.7).
    assert (EVALUATION_DAYS, EVALUATION_DAYS_EXTENDED, DECLARATION_REFRESH_DAYS) == (10, 15, 5)
    assert EVALUATION_RULES.calendar is Calendar.MON_SAT and not EVALUATION_RULES.alsace_moselle
    assert DECLARATION_RULES.calendar is Calendar.MON_FRI and not DECLARATION_RULES.alsace_moselle
    assert Calendar("mon_sat") is Calendar.MON_SAT


@pytest.mark.parametrize(("received_at", "n", "rules", "expected"), [
    # DST: the due local days 29 Mar and 25 Oct 2026 are Sundays, so only n = 0 ends on them. 29 Mar lasts
    # 23 hours and ends at 23:59:59.999999 CEST (UTC+2); 25 Oct lasts 25 hours and ends in CET (UTC+1).
    # 23:30 UTC on Sat 28 Mar is already 00:30 CET on Sun 29 Mar in Paris (before the 01:00 UTC switch).
    ("2026-03-28T23:30:00", 0, SAT, "2026-03-29T21:59:59.999999"),
    ("2026-03-29T12:00:00", 0, SAT, "2026-03-29T21:59:59.999999"),
    # 22:30 UTC on Sat 24 Oct is 00:30 CEST on Sun 25 Oct.
    ("2026-10-24T22:30:00", 0, FRI, "2026-10-25T22:59:59.999999"),
    ("2026-10-25T12:00:00", 0, FRI, "2026-10-25T22:59:59.999999"),
    # Sun 25 Oct → Mon 26 1: the first due day after the change, in CET
    ("2026-10-24T22:30:00", 1, FRI, "2026-10-26T22:59:59.999999"),
    # Received in CET, due in CEST: Fri 20 Mar → Sat 21 1, 23 2, 24 3, 25 4, 26 5, 27 6, Sat 28 7, Sun 29 ✗,
    # Mon 30 8, Tue 31 9, Wed 1 Apr 10
    ("2026-03-20T10:00:00", 10, SAT, "2026-04-01T21:59:59.999999"),
    # Received in CEST, due in CET: Fri 16 Oct → Sat 17 1, 19 2, 20 3, 21 4, 22 5, 23 6, Sat 24 7, Sun 25 ✗,
    # Mon 26 8, Tue 27 9, Wed 28 10
    ("2026-10-16T09:00:00", 10, SAT, "2026-10-28T22:59:59.999999"),
    # 23:30 UTC on Tue 30 Jun is 01:30 CEST on Wed 1 Jul: the event's day is 1 Jul →
    # Thu 2 1, Fri 3 2, Mon 6 3, Tue 7 4, Wed 8 5 (counting from 30 Jun would give Tue 7)
    ("2026-06-30T23:30:00", 5, FRI, "2026-07-08T21:59:59.999999"),
    # 21:59 UTC on Tue 30 Jun is still 23:59 CEST on 30 Jun → Wed 1 1, 2 2, 3 3, Mon 6 4, Tue 7 5
    ("2026-06-30T21:59:00", 5, FRI, "2026-07-07T21:59:59.999999"),
    # Winter: 23:30 UTC on Mon 30 Nov is 00:30 CET on Tue 1 Dec → Wed 2 1, 3 2, Fri 4 3, Mon 7 4, Tue 8 5
    ("2026-11-30T23:30:00", 5, FRI, "2026-12-08T22:59:59.999999"),
])
def test_due_at(received_at: str, n: int, rules: WorkingDayRules, expected: str) -> None:
    due = due_at(utc(received_at), n, rules)
    assert due == utc(expected)
    assert due.utcoffset() == timedelta(0)


def test_due_at_accepts_any_aware_instant() -> None:
    # The same instant given in Paris time: 01:30 CEST on Wed 1 Jul 2026 = 23:30 UTC on 30 Jun.
    paris = datetime(2026, 7, 1, 1, 30, tzinfo=PARIS)
    assert due_at(paris, 5, FRI) == due_at(utc("2026-06-30T23:30:00"), 5, FRI) == utc("2026-07-08T21:59:59.999999")


def test_end_of_paris_day_on_the_dst_days() -> None:
    assert end_of_paris_day(d("2026-03-29")) == utc("2026-03-29T21:59:59.999999")
    assert end_of_paris_day(d("2026-10-25")) == utc("2026-10-25T22:59:59.999999")
    assert end_of_paris_day(d("2026-03-28")) == utc("2026-03-28T22:59:59.999999")
    assert end_of_paris_day(d("2026-10-24")) == utc("2026-10-24T21:59:59.999999")


def test_evaluation_and_declaration_deadlines() -> None:
    # D6, 10 WD Mon–Sat from Thu 24 Dec 2026 → Thu 7 Jan 2027 (counted above), 15 WD → Wed 13 Jan; CET
    received = utc("2026-12-24T10:00:00")
    assert evaluation_due_at(received) == utc("2027-01-07T22:59:59.999999")
    assert evaluation_due_at(received, extended=True) == utc("2027-01-13T22:59:59.999999")
    # D11, 5 WD Mon–Fri from Wed 1 Apr 2026 → Thu 9 Apr (Easter Monday skipped, counted above); CEST
    assert declaration_due_at(utc("2026-04-01T08:00:00")) == utc("2026-04-09T21:59:59.999999")


# --- Délais francs (D4, D9; §1.7): the day of sending doesn't count, the period ends with day N ---


@pytest.mark.parametrize(("sent_at", "days", "earliest"), [
    # D9: invitation sent Mon 5 Jan 2026 09:00 UTC (10:00 CET); days 1…10 are Tue 6 … Thu 15 Jan, so the
    # earliest deadline is Fri 16 Jan 00:00 CET = Thu 15 Jan 23:00 UTC (not Thu 15 09:00 UTC, + 10 × 24 h).
    ("2026-01-05T09:00:00", 10, "2026-01-15T23:00:00"),
    # Sent at 23:30 UTC on Sun 4 Jan, which is already Mon 5 Jan 00:30 in Paris: the same answer.
    ("2026-01-04T23:30:00", 10, "2026-01-15T23:00:00"),
    # Sent one minute before Paris midnight, Mon 5 Jan 23:59 CET: still the 5th, still the same answer.
    ("2026-01-05T22:59:00", 10, "2026-01-15T23:00:00"),
    # Across the spring change (Sun 29 Mar 2026 02:00 CET → 03:00 CEST): sent Fri 20 Mar 10:00 CET, days
    # 21 Mar … 30 Mar, the limit is Tue 31 Mar 00:00 CEST = Mon 30 Mar 22:00 UTC (a 23-hour day in between).
    ("2026-03-20T09:00:00", 10, "2026-03-30T22:00:00"),
    # Across the autumn change (Sun 25 Oct 2026 03:00 CEST → 02:00 CET): sent Thu 22 Oct 12:00 CEST, days
    # 23 Oct … 1 Nov, the limit is Mon 2 Nov 00:00 CET = Sun 1 Nov 23:00 UTC.
    ("2026-10-22T10:00:00", 10, "2026-11-01T23:00:00"),
    # D4: notice sent Mon 5 Jan 2026; days 1…30 are 6 Jan … 4 Feb; earliest end Thu 5 Feb 00:00 CET.
    ("2026-01-05T08:00:00", 30, "2026-02-04T23:00:00"),
])
def test_earliest_franc_deadline(sent_at: str, days: int, earliest: str) -> None:
    assert earliest_franc_deadline(utc(sent_at), days) == utc(earliest)


def test_a_franc_deadline_is_paris_midnight_and_never_shorter_than_n_times_24_hours() -> None:
    with pytest.raises(ValueError, match="negative"):
        earliest_franc_deadline(utc("2026-01-05T09:00:00"), -1)
    assert earliest_franc_deadline(utc("2026-01-05T09:00:00"), 0) == utc("2026-01-05T23:00:00")


# --- Properties, over the years the issue asks for ---

dates = st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31))
rules_strategy = st.sampled_from(ALL_RULES)


@given(start=dates, n=st.integers(min_value=1, max_value=60), rules=rules_strategy)
def test_add_working_days_properties(start: date, n: int, rules: WorkingDayRules) -> None:
    day = add_working_days(start, n, rules)
    assert is_working_day(day, rules)
    assert day > add_working_days(start, n - 1, rules)  # strictly increasing in n
    assert add_working_days(start, n + 1, rules) > day
    assert working_days_between(start, day, rules) == n
    # The day before the n-th working day still has only n - 1 working days since the start.
    assert working_days_between(start, day - timedelta(days=1), rules) == n - 1


@given(start=dates, n=st.integers(min_value=0, max_value=60), alsace_moselle=st.booleans())
def test_mon_sat_is_never_later_than_mon_fri(start: date, n: int, alsace_moselle: bool) -> None:
    # Every Mon–Fri working day is a Mon–Sat working day, so the buyer's count (D6) is the stricter one.
    strict = add_working_days(start, n, WorkingDayRules(Calendar.MON_SAT, alsace_moselle))
    generous = add_working_days(start, n, WorkingDayRules(Calendar.MON_FRI, alsace_moselle))
    assert strict <= generous


@given(received=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31),
                             timezones=st.just(UTC)),
       n=st.integers(min_value=0, max_value=20), rules=rules_strategy)
def test_due_at_is_the_last_instant_of_a_paris_day(received: datetime, n: int, rules: WorkingDayRules) -> None:
    due = due_at(received, n, rules)
    assert due.tzinfo is UTC
    local = due.astimezone(PARIS)
    assert local.time() == time(23, 59, 59, 999_999)
    assert (due + timedelta(microseconds=1)).astimezone(PARIS).time() == time(0)
    assert local.date() == add_working_days(received.astimezone(PARIS).date(), n, rules)
    assert due >= received


@given(sent=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
       days=st.integers(min_value=1, max_value=60))
@example(sent=datetime(2028, 3, 23, 22, 0, tzinfo=UTC), days=3)
def test_a_franc_deadline_ends_the_nth_paris_day_after_sending(sent: datetime, days: int) -> None:
    limit = earliest_franc_deadline(sent, days)
    local = limit.astimezone(PARIS)
    assert local.time() == time(0) and local.date() == sent.astimezone(PARIS).date() + timedelta(days=days + 1)
    # N whole Paris days after the rest of the day of sending: more than N × 24 h, at most a day more, give or
    # take the hour a clock change adds or removes (sent 2028-03-23 23:00 Paris with N = 3 ends exactly
    # 72 h later: 26 March 2028 has 23 hours).
    assert timedelta(days=days, hours=-1) < limit - sent <= timedelta(days=days + 1, hours=1)
