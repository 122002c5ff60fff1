"""Strict HTTP-date parsing (RFC 9110 5.6.7), as a pure function.

Only the three forms the RFC defines are dates: IMF-fixdate
(``Sun, 06 Nov 1994 08:49:37 GMT``), the obsolete RFC 850 form
(``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime (``Sun Nov  6 08:49:37 1994``).
Names and ``GMT`` are case-sensitive, spacing is exact, fields have their fixed widths
and must name a real time. ``email.utils`` alone is too lenient for a cache: it takes
``UTC`` for ``GMT``, two-digit years, a missing comma, repeated spaces and more, and
an ``Expires`` that is not a date must mean "already expired" (RFC 9111 5.3).
"""

from __future__ import annotations

import calendar
import re

__all__ = ["parse_http_date"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY = "|".join(_DAYS)
_MONTH = "|".join(_MONTHS)
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"

_IMF = re.compile(rf"(?:{_DAY}), ([0-9]{{2}}) ({_MONTH}) ([0-9]{{4}}) {_TIME} GMT")
_RFC850 = re.compile(rf"({'|'.join(_LONG_DAYS)}), ([0-9]{{2}})-({_MONTH})-([0-9]{{2}}) {_TIME} GMT")
_ASCTIME = re.compile(rf"(?:{_DAY}) ({_MONTH}) ([0-9]{{2}}| [0-9]) {_TIME} ([0-9]{{4}})")


def _timestamp(
    year: int, month: str, day: int, hour: int, minute: int, second: int
) -> float | None:
    number = _MONTHS.index(month) + 1
    if year < 1 or not 1 <= day <= calendar.monthrange(year, number)[1]:
        return None
    if hour > 23 or minute > 59 or second > 60:
        return None
    second = min(second, 59)  # a leap second (60) is representable but not in POSIX time
    return float(calendar.timegm((year, number, day, hour, minute, second, 0, 0, 0)))


def _rfc850_year(two_digits: int, weekday: str, month: str, day: int) -> int:
    """The century of a two-digit year, chosen by the redundant weekday the date names.

    RFC 9110 5.6.7 asks for the most recent matching year not more than 50 years
    ahead; the weekday settles that without reading a clock. If no century matches
    the weekday, the conventional pivot applies (00-69 -> 2000s, 70-99 -> 1900s).
    """
    wanted = _LONG_DAYS.index(weekday)
    number = _MONTHS.index(month) + 1
    for century in (2000, 1900, 2100):
        year = century + two_digits
        valid = day <= calendar.monthrange(year, number)[1]
        if valid and calendar.weekday(year, number, day) == wanted:
            return year
    return (2000 if two_digits < 70 else 1900) + two_digits


def parse_http_date(value: str) -> float | None:
    """Unix seconds of an HTTP-date, or ``None`` if ``value`` is not exactly one.

    Surrounding whitespace (optional whitespace around a field value) is ignored;
    everything else must match one of the three forms of RFC 9110 5.6.7.
    """
    text = value.strip(" \t")
    match = _IMF.fullmatch(text)
    if match is not None:
        day, month, year, hour, minute, second = match.groups()
        return _timestamp(int(year), month, int(day), int(hour), int(minute), int(second))
    match = _RFC850.fullmatch(text)
    if match is not None:
        weekday, day, month, year, hour, minute, second = match.groups()
        full_year = _rfc850_year(int(year), weekday, month, int(day))
        return _timestamp(full_year, month, int(day), int(hour), int(minute), int(second))
    match = _ASCTIME.fullmatch(text)
    if match is not None:
        month, day, hour, minute, second, year = match.groups()
        return _timestamp(int(year), month, int(day), int(hour), int(minute), int(second))
    return None
