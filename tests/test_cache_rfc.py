"""RFC 9111 rules added for issue 10, through the transport against a scripted origin.

Conditional requests answered from storage (4.3.2), HEAD freshening a stored GET
(4.3.5), must-revalidate meeting an unreachable origin (4.2.4, 5.2.2.2), what a 304's
``Set-Cookie`` does (4.3.4) and ``store_set_cookie=True`` replaying cookies exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient._core.errors import ClientClosedError
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://api.test/doc"
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"
Handler = Callable[[httpx.Request], httpx.Response]


def make(handler: Handler, **config: Any) -> tuple[CacheTransport, ScriptedTransport, FakeClock]:
    upstream = ScriptedTransport(handler)
    clock = FakeClock()
    return CacheTransport(upstream, CacheConfig(**config), clock=clock), upstream, clock


async def send(
    transport: httpx.AsyncBaseTransport,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> httpx.Response:
    response = await transport.handle_async_request(
        httpx.Request(method, URL, headers=headers, extensions=extensions)
    )
    await response.aread()
    return response


def document(request: httpx.Request) -> httpx.Response:
    headers = {
        "Cache-Control": "max-age=60",
        "ETag": '"v1"',
        "Last-Modified": LAST_MODIFIED,
        "Content-Type": "text/plain",
        "X-Extra": "representation metadata",
    }
    return httpx.Response(200, headers=headers, content=b"the document")


# -- 4.3.2: a caller's own conditional request ------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"If-None-Match": '"v1"'}, 304),
        ({"If-None-Match": 'W/"v1"'}, 304),  # weak comparison
        ({"If-None-Match": '"v0", "v1"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"v2"'}, 200),
        ({"If-Modified-Since": LAST_MODIFIED}, 304),
        ({"If-Modified-Since": "Sat, 05 Nov 1994 08:49:37 GMT"}, 200),
        ({"If-Modified-Since": "not a date"}, 200),  # invalid: ignored
        # If-None-Match present: If-Modified-Since is not evaluated (RFC 9110 13.2.2).
        ({"If-None-Match": '"v2"', "If-Modified-Since": LAST_MODIFIED}, 200),
    ],
)
async def test_conditional_request_is_answered_from_a_fresh_stored_response(
    headers: dict[str, str], expected: int
) -> None:
    transport, upstream, _ = make(document)
    await send(transport)
    response = await send(transport, headers=headers)
    assert upstream.calls == 1  # answered by the cache
    assert response.status_code == expected
    assert response.extensions["from_cache"] is True
    if expected == 304:
        assert response.content == b""
        assert response.headers["etag"] == '"v1"'
        assert response.headers["cache-control"] == "max-age=60"
        assert "age" in response.headers
        assert "x-extra" not in response.headers  # a 304 carries no representation metadata
        assert "content-type" not in response.headers
    else:
        assert response.content == b"the document"


async def test_conditional_request_on_a_miss_goes_to_the_origin_as_sent() -> None:
    transport, upstream, _ = make(lambda r: httpx.Response(304, headers={"ETag": '"v1"'}))
    response = await send(transport, headers={"If-None-Match": '"v1"'})
    assert response.status_code == 304
    assert upstream.requests[0].headers["if-none-match"] == '"v1"'


async def test_conditional_request_on_a_stale_entry_revalidates_with_our_validators() -> None:
    answers: list[Handler] = [document, lambda r: httpx.Response(304, headers={"ETag": '"v1"'})]
    transport, upstream, clock = make(lambda r: answers.pop(0)(r))
    await send(transport)
    clock.advance(120)
    response = await send(transport, headers={"If-None-Match": '"v1"', "If-Modified-Since": "x"})
    revalidation = upstream.requests[1]
    assert revalidation.headers["if-none-match"] == '"v1"'  # the cache's own validator
    assert revalidation.headers["if-modified-since"] == LAST_MODIFIED  # not the caller's "x"
    assert response.status_code == 304
    assert response.extensions["revalidated"] is True


# -- 4.3.5: HEAD freshens a stored GET ----------------------------------------------


async def test_head_response_freshens_the_stored_get() -> None:
    def origin(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            headers = {"Cache-Control": "max-age=600", "ETag": '"v1"', "X-New": "head"}
            return httpx.Response(200, headers=headers)
        return document(request)

    transport, upstream, clock = make(origin)
    await send(transport)
    clock.advance(120)  # the GET is now stale
    head = await send(transport, method="HEAD")
    assert head.extensions["cache_status"] == "miss"
    hit = await send(transport)
    assert upstream.calls == 2  # the GET was served from the freshened entry
    assert hit.extensions["cache_status"] == "hit"
    assert hit.content == b"the document"
    assert hit.headers["x-new"] == "head"
    assert hit.headers["cache-control"] == "max-age=600"
    assert hit.headers["age"] == "0"


@pytest.mark.parametrize(
    "head_headers",
    [{"ETag": '"v2"'}, {"Last-Modified": "Mon, 07 Nov 1994 08:49:37 GMT"}, {"Content-Length": "3"}],
    ids=["etag", "last-modified", "content-length"],
)
async def test_head_response_that_disagrees_invalidates_the_stored_get(
    head_headers: dict[str, str],
) -> None:
    def origin(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(200, headers={"Cache-Control": "max-age=600", **head_headers})
        return document(request)

    transport, upstream, _ = make(origin)
    await send(transport)
    await send(transport, method="HEAD")
    again = await send(transport)  # still fresh by age, but no longer trusted
    assert again.extensions["cache_status"] == "miss"
    assert upstream.calls == 3


# -- 4.2.4 / 5.2.2.2: must-revalidate and an unreachable origin -----------------------


@pytest.mark.parametrize(
    ("cache_control", "shared"),
    [
        ("max-age=1, must-revalidate", False),
        ("max-age=1, must-revalidate", True),
        ("max-age=1, proxy-revalidate", True),
        ("s-maxage=1", True),
    ],
)
async def test_must_revalidate_and_unreachable_origin_gives_504(
    cache_control: str, shared: bool
) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, headers={"Cache-Control": cache_control, "ETag": '"1"'}),
        httpx.ConnectError("down"),
    ]

    def origin(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport, _, clock = make(origin, shared=shared)
    await send(transport)
    clock.advance(5)
    response = await send(transport)
    assert response.status_code == 504
    assert response.extensions["from_cache"] is False


@pytest.mark.parametrize(
    ("cache_control", "shared"),
    [("max-age=1", False), ("max-age=1, proxy-revalidate", False), ("s-maxage=1", False)],
)
async def test_other_stale_responses_let_the_network_error_through(
    cache_control: str, shared: bool
) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, headers={"Cache-Control": cache_control, "ETag": '"1"'}),
        httpx.ConnectError("down"),
    ]

    def origin(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport, _, clock = make(origin, shared=shared)
    await send(transport)
    clock.advance(5)
    with pytest.raises(httpx.ConnectError):
        await send(transport)


async def test_a_closed_stack_is_not_turned_into_a_504() -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, headers={"Cache-Control": "max-age=1, must-revalidate"}),
        ClientClosedError("closed"),
    ]

    def origin(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport, _, clock = make(origin)
    await send(transport)
    clock.advance(5)
    with pytest.raises(ClientClosedError):
        await send(transport)


# -- Set-Cookie -------------------------------------------------------------------


async def test_a_304s_set_cookie_reaches_the_caller_but_is_not_stored() -> None:
    answers: list[Handler] = [
        document,
        lambda r: httpx.Response(
            304, headers=[("ETag", '"v1"'), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        ),
    ]
    transport, _, clock = make(lambda r: answers.pop(0)(r))
    await send(transport)
    clock.advance(120)
    revalidated = await send(transport)
    assert revalidated.extensions["revalidated"] is True
    assert revalidated.headers.get_list("set-cookie") == ["a=1", "b=2"]
    hit = await send(transport)
    assert hit.extensions["cache_status"] == "hit"
    assert "set-cookie" not in hit.headers


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_store_set_cookie_replays_set_cookie_exactly(kind: str, tmp_path: Path) -> None:
    cookies = [
        ("Set-Cookie", "session=abc; Path=/; HttpOnly"),
        ("Set-Cookie", "theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT"),
        ("Set-Cookie2", "legacy=1; Version=1"),
    ]

    def origin(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=[("Cache-Control", "max-age=60"), *cookies])

    storage = SQLiteStorage(tmp_path / "c.db") if kind == "sqlite" else None
    transport, _, _ = make(origin, store_set_cookie=True, storage=storage)
    await send(transport)
    hit = await send(transport)
    if storage is not None:
        await storage.aclose()
    assert hit.extensions["cache_status"] == "hit"
    replayed = [
        (name.decode(), value.decode())
        for name, value in hit.headers.raw
        if name.lower().startswith(b"set-cookie")
    ]
    assert replayed == cookies


async def test_store_set_cookie_304_replaces_the_stored_cookies() -> None:
    answers: list[Handler] = [
        lambda r: httpx.Response(
            200,
            headers=[("Cache-Control", "max-age=1"), ("ETag", '"1"'), ("Set-Cookie", "old=1")],
        ),
        lambda r: httpx.Response(304, headers=[("ETag", '"1"'), ("Set-Cookie", "new=2")]),
    ]
    transport, _, clock = make(lambda r: answers.pop(0)(r), store_set_cookie=True)
    await send(transport)
    clock.advance(5)
    revalidated = await send(transport)
    assert revalidated.headers.get_list("set-cookie") == ["new=2"]


class NetworkStream(httpx.AsyncByteStream):
    """A body that arrives in pieces, like one from the network (not held in memory)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def test_background_refresh_of_a_streamed_body_stores_it() -> None:
    streams: list[NetworkStream] = []
    cache_control = "max-age=10, stale-while-revalidate=60"

    def origin(request: httpx.Request) -> httpx.Response:
        stream = NetworkStream(b"version ", str(len(streams)).encode())
        streams.append(stream)
        return httpx.Response(200, headers={"Cache-Control": cache_control}, stream=stream)

    transport, upstream, clock = make(origin)
    assert (await send(transport)).content == b"version 0"
    clock.advance(20)
    stale = await send(transport)
    assert (stale.extensions["cache_status"], stale.content) == ("stale", b"version 0")
    await anyio.wait_all_tasks_blocked()
    assert streams[1].closed
    fresh = await send(transport)
    assert (fresh.extensions["cache_status"], fresh.content) == ("hit", b"version 1")
    assert upstream.calls == 2


async def test_background_refresh_stops_reading_a_body_over_the_bound() -> None:
    streams: list[NetworkStream] = []
    cache_control = "max-age=10, stale-while-revalidate=60"

    def origin(request: httpx.Request) -> httpx.Response:
        chunks = [b"small"] if not streams else [b"x" * 100] * 50
        stream = NetworkStream(*chunks)
        streams.append(stream)
        return httpx.Response(200, headers={"Cache-Control": cache_control}, stream=stream)

    transport, upstream, clock = make(origin, max_entry_bytes=250)
    assert (await send(transport)).content == b"small"
    clock.advance(20)
    assert (await send(transport)).extensions["cache_status"] == "stale"
    await anyio.wait_all_tasks_blocked()
    refresh = streams[1]
    assert refresh.closed
    assert refresh.pulled == 3  # stopped once past 250 bytes, not all 50 chunks
    again = await send(transport)  # the replaced entry was dropped, nothing new stored
    assert again.extensions["cache_status"] == "miss"
    assert upstream.calls == 3
