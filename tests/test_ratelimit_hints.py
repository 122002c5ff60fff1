"""Server rate-limit hints: RateLimit drafts, X-RateLimit, Retry-After; garbage never raises."""

from __future__ import annotations

from email.utils import formatdate

import httpx
import pytest

from httpx_resilient._ratelimit.hints import has_hints, hinted_pause, server_pause

WALL = 1_700_000_000.0

Pairs = list[tuple[str, str | bytes]]


def headers(pairs: Pairs) -> httpx.Headers:
    return httpx.Headers(pairs)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], False),
        ([("Content-Type", "text/plain"), ("Retry-After", "5")], False),
        ([("RateLimit", '"default";r=5;t=1')], True),
        ([("ratelimit-remaining", "3")], True),
        ([("X-RateLimit-Remaining", "0")], True),
        ([("X-RATELIMIT-REMAINING", "0")], True),
        ([("X-RateLimit-Limit", "100")], False),
        ([("RateLimit-Policy", '"default";q=100;w=60')], False),
    ],
)
def test_has_hints(pairs: Pairs, expected: bool) -> None:
    assert has_hints(headers(pairs)) is expected


@pytest.mark.parametrize(
    ("pairs", "pause"),
    [
        # IETF draft-08 and later: RateLimit list items with r (remaining) and t (reset).
        ([("RateLimit", '"default";r=0;t=10')], 10.0),
        ([("RateLimit", "default;r=0;t=10")], 10.0),
        ([("RateLimit", '"default";r=5;t=10')], None),
        ([("RateLimit", '"a";r=3;t=5, "b";r=0;t=60')], 60.0),
        ([("RateLimit", '"a";r=0;t=5, "b";r=0;t=60')], 60.0),
        ([("RateLimit", '"a";r=0;t=5'), ("RateLimit", '"b";r=0;t=9')], 9.0),
        ([("RateLimit", '"x,y";r=0;t=4')], 4.0),
        (
            [("RateLimit", '"day";r=0'), ("RateLimit-Policy", '"min";q=10;w=60, "day";w=86400')],
            86400.0,
        ),
        ([("RateLimit", '"default";r=0')], None),
        ([("RateLimit", '"default";r=0'), ("RateLimit-Policy", '"other";w=30')], None),
        # drafts 03-07: one dictionary.
        ([("RateLimit", "limit=100, remaining=0, reset=7")], 7.0),
        ([("RateLimit", "limit=100, remaining=1, reset=7")], None),
        ([("RateLimit", "limit=100, remaining=0")], None),
        # drafts 00-02: separate fields.
        ([("RateLimit-Remaining", "0"), ("RateLimit-Reset", "12")], 12.0),
        ([("RateLimit-Remaining", "2"), ("RateLimit-Reset", "12")], None),
        # X-RateLimit: a delay below 10^9, a Unix timestamp above (milliseconds from 10^12).
        ([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "30")], 30.0),
        ([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1.5")], 1.5),
        ([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", f"{WALL + 45:.0f}")], 45.0),
        (
            [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", f"{(WALL + 45) * 1000:.0f}")],
            45.0,
        ),
        ([("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", f"{WALL - 100:.0f}")], 0.0),
        ([("X-RateLimit-Remaining", "7"), ("X-RateLimit-Reset", "30")], None),
        ([("X-RateLimit-Remaining", "0")], None),
        # several kinds at once: the latest reset counts.
        (
            [
                ("RateLimit", '"d";r=0;t=3'),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", "8"),
            ],
            8.0,
        ),
    ],
)
def test_hinted_pause(pairs: Pairs, pause: float | None) -> None:
    assert hinted_pause(headers(pairs), WALL) == (None if pause is None else pytest.approx(pause))


GARBAGE: list[Pairs] = [
    [("RateLimit", "garbage;;;==,,,")],
    [("RateLimit", '"unterminated;r=0;t=5')],
    [("RateLimit", '"d";r=0;t=-5')],
    [("RateLimit", '"d";r=0;t=abc')],
    [("RateLimit", '"d";r=-1;t=5')],
    [("RateLimit", '"d";r=zero;t=5')],
    [("RateLimit", "remaining=0, reset=soon")],
    [("RateLimit", '"d";r=0'), ("RateLimit-Policy", '"d";w=forever')],
    [("RateLimit", "=")],
    [("RateLimit", "")],
    [("RateLimit", ";;;")],
    [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "-5")],
    [("X-RateLimit-Remaining", "zero"), ("X-RateLimit-Reset", "30")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "soon")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1e5")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "NaN")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "inf")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1" * 5000)],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "١٢".encode())],  # not ASCII digits
    [("X-RateLimit-Remaining", b"\xff\xfe"), ("X-RateLimit-Reset", b"\x00\x80")],
    [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "Mon, 01 Jan 2024 00:00:00 GMT")],
]


@pytest.mark.parametrize("pairs", GARBAGE)
def test_garbage_hints_are_ignored(pairs: Pairs) -> None:
    assert hinted_pause(headers(pairs), WALL) is None
    assert server_pause(429, headers(pairs), WALL) is None


def test_absurd_values_parse_and_are_left_to_the_cap() -> None:
    big = [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "99999999999999999999")]
    pause = hinted_pause(headers(big), WALL)
    assert pause is not None
    assert pause > 1e9  # far beyond any max_pause; the bucket caps it


@pytest.mark.parametrize(
    ("status", "pairs", "pause"),
    [
        (429, [("Retry-After", "5")], 5.0),
        (503, [("Retry-After", "5")], 5.0),
        (200, [("Retry-After", "5")], None),
        (500, [("Retry-After", "5")], None),
        (429, [], None),
        (503, [], None),
        (429, [("Retry-After", formatdate(WALL + 20, usegmt=True))], 20.0),
        (503, [("Retry-After", formatdate(WALL - 20, usegmt=True))], 0.0),
        (429, [("Retry-After", "soon"), ("Retry-After", "7")], 7.0),
        (
            429,
            [("Retry-After", "2"), ("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "10")],
            10.0,
        ),
        (200, [("RateLimit", '"d";r=0;t=3')], 3.0),
        (429, [("Retry-After", "soon")], None),
        (429, [("Retry-After", "-5")], None),
        (429, [("Retry-After", "5.5")], None),
        (429, [("Retry-After", "Mon, 99 Foo 2024 99:99:99 GMT")], None),
        (429, [("Retry-After", "Mon, 01 Jan 2024 00:00:00")], None),
        (429, [("Retry-After", "")], None),
        # a 429 already says the quota is spent: a reset without a remaining count counts
        (429, [("X-RateLimit-Reset", "30")], 30.0),
        (429, [("RateLimit-Reset", "6")], 6.0),
        (429, [("RateLimit", '"d";t=9')], 9.0),
        (429, [("RateLimit", "limit=10, reset=4")], 4.0),
        (429, [("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", "30")], None),
        (200, [("X-RateLimit-Reset", "30")], None),
        (200, [("RateLimit", '"d";t=9')], None),
    ],
)
def test_server_pause(status: int, pairs: Pairs, pause: float | None) -> None:
    found = server_pause(status, headers(pairs), WALL)
    assert found == (None if pause is None else pytest.approx(pause, abs=1.0))


def test_huge_retry_after_is_returned_uncapped() -> None:
    assert server_pause(429, headers([("Retry-After", "99999999999999999999")]), WALL) == 1e20
