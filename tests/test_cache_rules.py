"""Sans-IO rules added for issue 10: preconditions, HEAD matching, when an error is a 504,
and the tee that streams a cold body while keeping a bounded copy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from httpx_resilient._cache.conditional import Precondition, not_modified_headers
from httpx_resilient._cache.directives import response_info
from httpx_resilient._cache.fields import head_matches
from httpx_resilient._cache.policy import Stored, error_must_be_504
from httpx_resilient._cache.tee import TeeStream

LM = "Sun, 06 Nov 1994 08:49:37 GMT"
LM_SECONDS = 784111777.0


@pytest.mark.parametrize(
    ("request_headers", "stored", "expected"),
    [
        ({"If-None-Match": '"a"'}, {"ETag": '"a"'}, True),
        ({"If-None-Match": '"a"'}, {"ETag": 'W/"a"'}, True),  # weak comparison
        ({"If-None-Match": 'W/"a", "b"'}, {"ETag": '"b"'}, True),
        ({"If-None-Match": '"a"'}, {"ETag": '"b"'}, False),
        ({"If-None-Match": '"a"'}, {}, False),  # nothing to compare with
        ({"If-None-Match": "*"}, {}, True),
        ({"If-Modified-Since": LM}, {"Last-Modified": LM}, True),
        ({"If-Modified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"}, {"Last-Modified": LM}, False),
        ({"If-Modified-Since": LM}, {"Date": LM}, True),  # no Last-Modified: Date counts
        ({"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 UTC"}, {"Last-Modified": LM}, False),
        (
            {"If-None-Match": '"x"', "If-Modified-Since": LM},
            {"ETag": '"a"', "Last-Modified": LM},
            False,
        ),
    ],
)
def test_precondition(
    request_headers: dict[str, str], stored: dict[str, str], expected: bool
) -> None:
    precondition = Precondition(httpx.Headers(request_headers))
    assert (
        precondition.not_modified(response_info(httpx.Headers(stored)), LM_SECONDS + 5) is expected
    )


def test_an_invalid_if_modified_since_is_nothing_to_evaluate() -> None:
    assert not Precondition(httpx.Headers({"If-Modified-Since": "yesterday"})).present
    assert Precondition(httpx.Headers({"If-None-Match": '"a"'})).present


def test_if_modified_since_falls_back_to_the_time_received() -> None:
    precondition = Precondition(httpx.Headers({"If-Modified-Since": LM}))
    assert precondition.not_modified(response_info(httpx.Headers()), LM_SECONDS)
    assert not precondition.not_modified(response_info(httpx.Headers()), LM_SECONDS + 1)


def test_not_modified_keeps_only_the_304_fields() -> None:
    headers = httpx.Headers(
        [
            ("ETag", '"a"'),
            ("Cache-Control", "max-age=5"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "5"),
            ("Vary", "Accept"),
            ("Age", "3"),
        ]
    )
    kept = [name for name, _ in not_modified_headers(headers)]
    assert kept == [b"ETag", b"Cache-Control", b"Vary", b"Age"]


@pytest.mark.parametrize(
    ("stored", "head", "length", "expected"),
    [
        ({"ETag": '"a"'}, {"ETag": '"a"'}, None, True),
        ({"ETag": '"a"'}, {"ETag": '"b"'}, None, False),
        ({}, {"ETag": '"a"'}, None, False),
        ({"Last-Modified": LM}, {"Last-Modified": LM}, None, True),
        ({"Last-Modified": LM}, {"Last-Modified": "Mon, 07 Nov 1994 08:49:37 GMT"}, None, False),
        ({"ETag": '"a"'}, {}, "4", True),  # no validators: the length still has to agree
        ({"ETag": '"a"'}, {}, "5", False),
    ],
)
def test_head_matches(
    stored: dict[str, str], head: dict[str, str], length: str | None, expected: bool
) -> None:
    stored_headers = httpx.Headers(stored)
    result = head_matches(
        response_info(stored_headers), response_info(httpx.Headers(head)), length, stored_headers, 4
    )
    assert result is expected


@pytest.mark.parametrize(
    ("cache_control", "shared", "expected"),
    [
        ("max-age=1, must-revalidate", False, True),
        ("max-age=1, proxy-revalidate", False, False),
        ("max-age=1, proxy-revalidate", True, True),
        ("s-maxage=1", True, True),
        ("s-maxage=1", False, False),
        ("max-age=1", True, False),
        ("no-cache", False, False),
    ],
)
def test_error_must_be_504(cache_control: str, shared: bool, expected: bool) -> None:
    stored = Stored(200, response_info(httpx.Headers({"Cache-Control": cache_control})), 0, 0)
    assert error_must_be_504(stored, shared=shared) is expected


class Source(httpx.AsyncByteStream):
    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


class Recorder:
    def __init__(self) -> None:
        self.completed: list[bytes] = []
        self.abandoned = 0

    async def complete(self, data: bytes) -> None:
        self.completed.append(data)

    async def abandon(self) -> None:
        self.abandoned += 1


@pytest.mark.anyio
async def test_tee_hands_on_16_kib_pieces_and_reports_the_whole_body_once() -> None:
    big = bytes(range(256)) * 200  # 51,200 bytes in one network chunk
    record = Recorder()
    tee = TeeStream(Source(b"", b"ab", big), 1_000_000, record.complete, record.abandon)
    pieces = [piece async for piece in tee]
    assert [len(p) for p in pieces] == [2, 16384, 16384, 16384, 2048]
    assert b"".join(pieces) == b"ab" + big
    assert record.completed == [b"ab" + big]
    assert record.abandoned == 0


@pytest.mark.anyio
async def test_tee_abandons_its_copy_over_the_limit_but_delivers_everything() -> None:
    record = Recorder()
    tee = TeeStream(Source(b"a" * 6, b"b" * 6, b"c"), 10, record.complete, record.abandon)
    assert b"".join([piece async for piece in tee]) == b"aaaaaabbbbbbc"
    assert (record.completed, record.abandoned) == ([], 1)


@pytest.mark.anyio
async def test_tee_closed_early_reports_nothing() -> None:
    record = Recorder()
    source = Source(b"a", b"b")
    tee = TeeStream(source, 10, record.complete, record.abandon)
    iterator = tee.__aiter__()
    assert await iterator.__anext__() == b"a"
    await tee.aclose()
    assert source.closed
    assert (record.completed, record.abandoned) == ([], 0)


@pytest.mark.parametrize(
    ("status", "cache_control", "expected"),
    [
        (200, "max-age=60, must-understand, no-store", True),  # understood: no-store yields
        (299, "max-age=60, must-understand, no-store", False),  # not understood: never stored
        (299, "max-age=60, must-understand", False),
        (200, "max-age=60, no-store", False),
    ],
)
def test_must_understand(status: int, cache_control: str, expected: bool) -> None:
    from httpx_resilient._cache.policy import NO_DIRECTIVES, storable

    stored = Stored(status, response_info(httpx.Headers({"Cache-Control": cache_control})), 0, 0)
    result = storable(
        "GET", stored, NO_DIRECTIVES, shared=False, has_authorization=False, heuristic_fraction=0.1
    )
    assert result is expected
