"""Strict HTTP-date parsing and what an invalid ``Expires`` means (RFC 9110 5.6.7, 9111 5.3)."""

from __future__ import annotations

import calendar

import httpx
import pytest

from httpx_resilient._cache.dates import parse_http_date
from httpx_resilient._cache.directives import response_info
from httpx_resilient._cache.policy import NO_DIRECTIVES, Decision, Stored, decide, storable

NOV_6_1994 = float(calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0)))


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime, one-digit day padded with a space
        "  Sun, 06 Nov 1994 08:49:37 GMT\t",  # optional whitespace around the value
    ],
)
def test_each_valid_form_parses_to_the_same_instant(value: str) -> None:
    assert parse_http_date(value) == NOV_6_1994


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", float(calendar.timegm((9999, 12, 31, 23, 59, 59)))),
        ("Thursday, 01-Jan-70 00:00:00 GMT", 0.0),  # the weekday picks the 1900s
        ("Wednesday, 01-Jan-25 00:00:00 GMT", float(calendar.timegm((2025, 1, 1, 0, 0, 0)))),
        ("Thu Jan 11 10:00:00 2024", float(calendar.timegm((2024, 1, 11, 10, 0, 0)))),
        ("Tue, 30 Jun 2015 23:59:60 GMT", float(calendar.timegm((2015, 6, 30, 23, 59, 59)))),
    ],
)
def test_valid_dates(value: str, expected: float) -> None:
    assert parse_http_date(value) == expected


MALFORMED = [
    "Sun, 06 Nov 1994 08:49:37 UTC",  # UTC instead of GMT
    "Sun, 06 Nov 1994 08:49:37 +0000",  # numeric zone
    "Sun, 06 Nov 94 08:49:37 GMT",  # two-digit year in IMF-fixdate
    "Sun 06 Nov 1994 08:49:37 GMT",  # missing comma
    "Sun,  06 Nov 1994 08:49:37 GMT",  # repeated spaces
    "Sun, 06  Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994  08:49:37 GMT",
    "Sun, 06-Nov-1994 08:49:37 GMT",  # dashes in the date of an IMF-fixdate
    "Sun, 06 Nov 1994 08.49.37 GMT",  # periods in the time
    "Sun, 06 Nov 1994 8:49:37 GMT",  # one-digit hour
    "Sun, 6 Nov 1994 08:49:37 GMT",  # one-digit day
    "sun, 06 nov 1994 08:49:37 gmt",  # names are case-sensitive
    "Sunday, 06 Nov 1994 08:49:37 GMT",  # long day name in IMF-fixdate
    "Sun, 06-Nov-94 08:49:37 GMT",  # short day name in RFC 850
    "Sun, 06 November 1994 08:49:37 GMT",
    "Sun, 31 Nov 1994 08:49:37 GMT",  # no such day
    "Sun, 06 Nov 1994 24:00:00 GMT",  # no such hour
    "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun Nov 6 08:49:37 1994",  # asctime without the padding space
    "Sun Nov  6 08:49:37 1994 GMT",
    "Sun, 06 Nov 1994",  # no time
    "1994-11-06T08:49:37Z",  # ISO 8601
    "784111777",  # seconds
    "0",
    "-1",
    "",
    "now",
]


@pytest.mark.parametrize("value", MALFORMED)
def test_every_malformed_shape_is_not_a_date(value: str) -> None:
    assert parse_http_date(value) is None


@pytest.mark.parametrize("value", MALFORMED)
def test_an_invalid_expires_means_stale(value: str) -> None:
    """Each malformed ``Expires`` makes a response stale, never fresh (RFC 9111 5.3)."""
    info = response_info(httpx.Headers({"Expires": value, "Date": "Sun, 06 Nov 1994 08:49:37 GMT"}))
    assert info.expires is None
    assert info.expires_invalid
    stored = Stored(200, info, NOV_6_1994, NOV_6_1994)
    assert stored.lifetime(shared=False, heuristic_fraction=0.1) == 0.0
    decision = decide(stored, NO_DIRECTIVES, NOV_6_1994, shared=False, heuristic_fraction=0.1)
    assert decision is Decision.REVALIDATE


@pytest.mark.parametrize(
    "value",
    ["Sun, 06 Nov 1994 09:49:37 GMT", "Sunday, 06-Nov-94 09:49:37 GMT", "Sun Nov  6 09:49:37 1994"],
)
def test_a_valid_expires_in_each_form_gives_a_lifetime(value: str) -> None:
    date = "Sun, 06 Nov 1994 08:49:37 GMT"
    info = response_info(httpx.Headers({"Expires": value, "Date": date}))
    stored = Stored(200, info, NOV_6_1994, NOV_6_1994)
    assert stored.lifetime(shared=False, heuristic_fraction=0.1) == 3600.0
    assert decide(stored, NO_DIRECTIVES, NOV_6_1994 + 10, shared=False, heuristic_fraction=0.1) is (
        Decision.FRESH
    )


def test_several_expires_lines_are_invalid_even_if_each_is_a_date() -> None:
    date = "Sun, 06 Nov 1994 09:49:37 GMT"
    info = response_info(httpx.Headers([("Expires", date), ("Expires", date)]))
    assert info.expires is None
    assert info.expires_invalid


def test_max_age_overrides_an_invalid_expires() -> None:
    info = response_info(httpx.Headers({"Expires": "0", "Cache-Control": "max-age=60"}))
    stored = Stored(200, info, NOV_6_1994, NOV_6_1994)
    assert stored.lifetime(shared=False, heuristic_fraction=0.1) == 60.0
    assert storable(
        "GET", stored, NO_DIRECTIVES, shared=False, has_authorization=False, heuristic_fraction=0.1
    )


def test_an_invalid_date_or_last_modified_counts_as_absent() -> None:
    info = response_info(
        httpx.Headers({"Date": "Sun, 06 Nov 1994 08:49:37 UTC", "Last-Modified": "yesterday"})
    )
    assert (info.date, info.last_modified) == (None, None)
