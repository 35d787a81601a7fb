"""Working-day arithmetic and délais francs for DPS deadlines (domain.md §1.2 D4, D6, D9 and D11, §1.7).

Counting follows Regulation (EEC, Euratom) 1182/71 (§1.7):

* a period expressed in days starts on the day AFTER the event (the day of receipt never counts);
* "working days" are all days except public holidays, Saturdays and Sundays.

French civil law's "jours ouvrables" also count Saturdays, so the two readings differ. Each rule picks its
calendar (§1.7): the buyer's evaluation SLA (D6) alerts on the stricter count, Monday to Saturday, and the
operator's allowance to refresh a self-declaration (D11) gets the more generous count, Monday to Friday.

Public holidays are the French national list as published by the `holidays` package, never a hand-written
list. That list includes Whit Monday (lundi de Pentecôte, except 2005–2007 when the law had removed it):
it is still a public holiday in the Code du travail (L3133-1) even where the "journée de solidarité" is
worked, so it is never a working day here. Alsace-Moselle (Moselle, Bas-Rhin, Haut-Rhin) adds Good Friday
and 26 December; `WorkingDayRules.alsace_moselle` switches them on.

Dates are local dates in Europe/Paris; instants are aware datetimes, UTC inside (reliability.md §2.8).
Everything here is pure: no clock is read and nothing is stored except the holiday table for a year.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import holidays

from marketplace.lib.clock import PARIS, to_paris

_ONE_DAY = timedelta(days=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_SATURDAY = 5
_SUNDAY = 6

# The `holidays` subdivision for Moselle (57). The package gives Alsace ("6AE": Bas-Rhin 67 and Haut-Rhin 68)
# exactly the same two extra days, Good Friday and Saint Stephen's Day (26 December): local law of 1892.
_ALSACE_MOSELLE_SUBDIVISION = "57"


class Calendar(enum.StrEnum):
    """Which days of the week can be working days (§1.7)."""

    MON_FRI = "mon_fri"
    """"Jours ouvrés": Regulation 1182/71 working days. The more generous count, for operators (D11)."""

    MON_SAT = "mon_sat"
    """"Jours ouvrables": Saturdays count. The stricter count, for the buyer's own SLA (D6)."""


@dataclass(frozen=True, slots=True)
class WorkingDayRules:
    """How one rule counts its working days: the week it uses and whether Alsace-Moselle holidays apply."""

    calendar: Calendar
    alsace_moselle: bool = False


EVALUATION_DAYS = 10
"""D6: a request to participate is evaluated within 10 working days of its receipt (R2162-45)."""

EVALUATION_DAYS_EXTENDED = 15
"""D6: 15 working days when an `extension_reason` is recorded."""

DECLARATION_REFRESH_DAYS = 5
"""D11: the operator has 5 working days to send an updated self-declaration (DUME/ESPD)."""

EVALUATION_RULES = WorkingDayRules(Calendar.MON_SAT)
"""D6 / §1.7: the buyer's SLA counts on the stricter calendar, so Saturdays use up the buyer's time."""

DECLARATION_RULES = WorkingDayRules(Calendar.MON_FRI)
"""D11 / §1.7: the operator gets the more generous count, Saturdays are not working days."""


@functools.cache
def _public_holidays(year: int, alsace_moselle: bool) -> frozenset[date]:
    # §1.7: the French national list, plus Good Friday and 26 December in Alsace-Moselle.
    subdivision = _ALSACE_MOSELLE_SUBDIVISION if alsace_moselle else None
    return frozenset(holidays.country_holidays("FR", subdiv=subdivision, years=year))


def is_public_holiday(day: date, rules: WorkingDayRules) -> bool:
    return day in _public_holidays(day.year, rules.alsace_moselle)


def is_working_day(day: date, rules: WorkingDayRules) -> bool:
    """Not a Sunday, not a Saturday on the Monday-to-Friday calendar, and not a public holiday (§1.7)."""
    weekday = day.weekday()
    if weekday == _SUNDAY or (weekday == _SATURDAY and rules.calendar is Calendar.MON_FRI):
        return False
    return not is_public_holiday(day, rules)


def add_working_days(start: date, n: int, rules: WorkingDayRules) -> date:
    """The n-th working day after `start`: the day after the event is the first candidate (§1.7, 1182/71).

    `start` itself never counts, whatever it is; `n == 0` returns `start` unchanged.
    """
    if n < 0:
        raise ValueError(f"a period cannot count a negative number of working days: {n}")
    day = start
    remaining = n
    while remaining:
        day += _ONE_DAY
        if is_working_day(day, rules):
            remaining -= 1
    return day


def working_days_between(start: date, end: date, rules: WorkingDayRules) -> int:
    """How many working days fall in (start, end]: `start` is excluded, as the day of the event (§1.7).

    The inverse of `add_working_days`: `working_days_between(d, add_working_days(d, n, r), r) == n`.
    """
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    count = 0
    day = start
    while day < end:
        day += _ONE_DAY
        if is_working_day(day, rules):
            count += 1
    return count


def end_of_paris_day(day: date) -> datetime:
    """The last instant of a Paris calendar day, 23:59:59.999999 local time, as an aware UTC datetime.

    Taken as one microsecond before the next local midnight: midnight always exists in Paris (the clocks
    change at 02:00/03:00), and the day's length (23 or 25 hours on DST days) is handled by `zoneinfo`.
    """
    next_midnight = datetime.combine(day + _ONE_DAY, time(0), tzinfo=PARIS)
    return next_midnight.astimezone(UTC) - _ONE_MICROSECOND


def due_at(received_at: datetime, n: int, rules: WorkingDayRules) -> datetime:
    """When a period of `n` working days that starts with an event at `received_at` expires.

    The event's day is its local date in Europe/Paris (an instant at 23:30 UTC in summer is already the next
    day in Paris); the period starts the day after (§1.7) and expires at the end of the n-th working day, local
    time, returned as an aware UTC datetime. Anything strictly after that instant is late (D14 style).
    """
    received_day = to_paris(received_at).date()
    return end_of_paris_day(add_working_days(received_day, n, rules))


def evaluation_due_at(received_at: datetime, *, extended: bool = False) -> datetime:
    """D6: the buyer's deadline to evaluate a request to participate, 10 WD or 15 WD with an extension reason."""
    days = EVALUATION_DAYS_EXTENDED if extended else EVALUATION_DAYS
    return due_at(received_at, days, EVALUATION_RULES)


def declaration_due_at(requested_at: datetime) -> datetime:
    """D11: the operator's deadline to send an updated self-declaration, 5 WD after the buyer's request."""
    return due_at(requested_at, DECLARATION_REFRESH_DAYS, DECLARATION_RULES)


def earliest_franc_deadline(sent_at: datetime, days: int) -> datetime:
    """The earliest deadline a minimum period of `days` calendar days allows when it is a "délai franc" (D4, D9).

    §1.7: minimum tender and request periods are délais francs, and periods in days start the day AFTER the
    event (Regulation 1182/71). So, with the sending's day taken as its Europe/Paris local date:

    * the day of sending never counts, whatever the hour: a notice sent at 23:59 and one sent at 00:01 the
      same day give the same deadline;
    * the period runs from 00:00 Paris on the next day for `days` full days, i.e. it covers days 1 … N after
      the sending day and only ends when day N is over;
    * a deadline inside day N would cut that day short, so the earliest allowed deadline is the end of day N,
      that is 00:00 Paris on day N + 1 (returned as an aware UTC instant; any deadline at or after it is
      allowed, one microsecond earlier is refused).

    Counting is on Paris calendar dates, never `sent_at + N × 24 h`: across a change of the clocks a day
    lasts 23 or 25 hours, and the limit is still local midnight. Saturdays, Sundays and public holidays count
    like any day (D4 and D9 are in calendar days); Article 3(4) of 1182/71, which moves a period ending on a
    non-working day to the next working day, is not applied: D4/D9 are minima the buyer chooses a deadline
    above, and the domain rules (§1.7) state only the start of the count.
    """
    if days < 0:
        raise ValueError(f"a period cannot last a negative number of days: {days}")
    sending_day = to_paris(sent_at).date()
    return datetime.combine(sending_day + timedelta(days=days + 1), time(0), tzinfo=PARIS).astimezone(UTC)
