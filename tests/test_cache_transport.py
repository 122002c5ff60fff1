"""CacheTransport against a scripted upstream, in virtual time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import formatdate
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.storage import CacheEntry
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient._core.errors import ConfigError
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

URL = "http://api.test/items/1"
Handler = Callable[[httpx.Request], httpx.Response]


def reply(
    body: bytes = b"body", status: int = 200, **headers: str
) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering every request alike; header names use '_' for '-'."""
    pairs = {name.replace("_", "-"): value for name, value in headers.items()}
    return lambda request: httpx.Response(status, headers=pairs, content=body)


def make(
    handler: Handler | None = None, *, clock: FakeClock | None = None, **config: Any
) -> tuple[CacheTransport, ScriptedTransport, FakeClock]:
    upstream = ScriptedTransport(handler)
    clock = clock or FakeClock()
    return CacheTransport(upstream, CacheConfig(**config), clock=clock), upstream, clock


async def get(
    transport: httpx.AsyncBaseTransport,
    url: str = URL,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> httpx.Response:
    request = httpx.Request(method, url, headers=headers, extensions=extensions)
    response = await transport.handle_async_request(request)
    await response.aread()
    return response


def status(response: httpx.Response) -> tuple[bool, bool, str]:
    ext = response.extensions
    return ext["from_cache"], ext["revalidated"], ext["cache_status"]


async def test_miss_then_hit_with_age_and_independent_responses() -> None:
    transport, upstream, clock = make(reply(b"hello", Cache_Control="max-age=60"))
    first = await get(transport)
    assert status(first) == (False, False, "miss")
    clock.advance(12.5)
    second = await get(transport)
    third = await get(transport)
    assert status(second) == (True, False, "hit")
    assert second.content == third.content == b"hello"
    assert second.headers["age"] == "12"
    assert second is not third
    second.headers["x-mutated"] = "1"
    assert "x-mutated" not in third.headers
    assert upstream.calls == 1
    stats = transport.statistics()
    assert (stats.hits, stats.misses, stats.stores) == (2, 1, 1)


async def test_hit_body_replays_in_chunks() -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: several 16 KiB chunks
    transport, upstream, _ = make(reply(body, Cache_Control="max-age=60"))
    await get(transport)
    hit = await transport.handle_async_request(httpx.Request("GET", URL))
    chunks = [chunk async for chunk in hit.aiter_raw()]
    assert b"".join(chunks) == body
    assert max(len(c) for c in chunks) == 16 * 1024
    assert upstream.calls == 1


async def test_stale_entry_is_revalidated_with_etag_and_304_merges() -> None:
    answers = iter(
        [
            httpx.Response(
                200,
                headers={"Cache-Control": "max-age=10", "ETag": '"v1"', "X-Old": "1"},
                content=b"payload",
            ),
            httpx.Response(
                304, headers={"Cache-Control": "max-age=100", "ETag": '"v1"', "X-New": "2"}
            ),
        ]
    )
    transport, upstream, clock = make(lambda request: next(answers))
    await get(transport)
    clock.advance(11)
    revalidated = await get(transport)
    assert upstream.requests[1].headers["if-none-match"] == '"v1"'
    assert status(revalidated) == (True, True, "revalidated")
    assert revalidated.status_code == 200
    assert revalidated.content == b"payload"
    assert revalidated.headers["x-old"] == "1"
    assert revalidated.headers["x-new"] == "2"
    clock.advance(50)  # fresh again for 100 s from the 304
    hit = await get(transport)
    assert status(hit) == (True, False, "hit")
    assert upstream.calls == 2
    stats = transport.statistics()
    assert (stats.revalidations, stats.hits, stats.misses) == (1, 2, 1)


async def test_last_modified_validator_and_200_replaces_entry() -> None:
    clock = FakeClock()
    modified = formatdate(clock.wall() - 3600, usegmt=True)
    answers = iter(
        [
            httpx.Response(
                200,
                headers={"Cache-Control": "max-age=5", "Last-Modified": modified},
                content=b"v1",
            ),
            httpx.Response(200, headers={"Cache-Control": "max-age=60"}, content=b"v2"),
        ]
    )
    transport, upstream, _ = make(lambda request: next(answers), clock=clock)
    await get(transport)
    clock.advance(6)
    fetched = await get(transport)
    assert upstream.requests[1].headers["if-modified-since"] == modified
    assert status(fetched) == (False, False, "miss")
    assert fetched.content == b"v2"
    assert (await get(transport)).content == b"v2"
    assert upstream.calls == 2


async def test_304_for_another_version_refetches_unconditionally() -> None:
    answers = iter(
        [
            httpx.Response(
                200, headers={"Cache-Control": "max-age=1", "ETag": '"a"'}, content=b"a"
            ),
            httpx.Response(304, headers={"ETag": '"b"'}),
            httpx.Response(
                200, headers={"Cache-Control": "max-age=60", "ETag": '"b"'}, content=b"b"
            ),
        ]
    )
    transport, upstream, clock = make(lambda request: next(answers))
    await get(transport)
    clock.advance(2)
    response = await get(transport)
    assert response.content == b"b"
    assert "if-none-match" not in upstream.requests[2].headers


async def test_heuristic_freshness_from_last_modified() -> None:
    clock = FakeClock()
    headers = {
        "Date": formatdate(clock.wall(), usegmt=True),
        "Last-Modified": formatdate(clock.wall() - 1000, usegmt=True),
    }
    transport, upstream, _ = make(lambda r: httpx.Response(200, headers=headers), clock=clock)
    await get(transport)
    clock.advance(99)
    assert status(await get(transport))[0] is True  # 10 % (default) of 1000 s = 100 s
    clock.advance(2)
    await get(transport)
    assert upstream.calls == 2
    transport2, upstream2, _ = make(
        lambda r: httpx.Response(200, headers=headers), clock=clock, heuristic_fraction=0.0
    )
    await get(transport2)
    await get(transport2)
    assert upstream2.calls == 2


async def test_expires_and_invalid_expires() -> None:
    clock = FakeClock()
    expires = formatdate(clock.wall() + 30, usegmt=True)
    transport, upstream, _ = make(reply(Expires=expires, ETag='"e"'), clock=clock)
    await get(transport)
    clock.advance(29)
    await get(transport)
    assert upstream.calls == 1
    bad, bad_upstream, _ = make(reply(Expires="0", ETag='"e"'), clock=clock)
    await get(bad)
    await get(bad)
    assert bad_upstream.calls == 2


async def test_no_store_responses_and_request_modes() -> None:
    transport, upstream, _ = make(reply(Cache_Control="no-store"))
    await get(transport)
    await get(transport)
    assert upstream.calls == 2
    assert transport.statistics().stores == 0

    transport, upstream, _ = make(reply(Cache_Control="max-age=60"))
    await get(transport, cache="no-store")  # bypass: not stored
    assert transport.statistics().stores == 0
    await get(transport)
    bypass = await get(transport, cache="no-store")  # bypass: not read from the cache
    assert status(bypass)[0] is False
    forced = await get(transport, cache="no-cache")  # always revalidate
    assert status(forced)[0] is False
    assert upstream.calls == 4
    with pytest.raises(ConfigError, match=r"extensions\.cache"):
        await get(transport, cache="sometimes")


async def test_request_cache_control_directives() -> None:
    transport, upstream, clock = make(reply(Cache_Control="max-age=60"))
    await get(transport)
    clock.advance(30)
    await get(transport, headers={"Cache-Control": "max-age=10"})
    assert upstream.calls == 2
    await get(transport, headers={"Pragma": "no-cache"})
    assert upstream.calls == 3
    clock.advance(70)
    stale = await get(transport, headers={"Cache-Control": "max-stale=20"})
    assert status(stale) == (True, False, "stale")
    assert transport.statistics().stale_served == 1
    await get(transport, headers={"Cache-Control": "no-store"})  # fetched, not stored
    assert transport.statistics().stores == 3


async def test_only_if_cached() -> None:
    transport, upstream, clock = make(reply(Cache_Control="max-age=60"))
    missing = await get(transport, cache="only-if-cached")
    assert missing.status_code == 504
    assert upstream.calls == 0
    await get(transport)
    assert status(await get(transport, headers={"Cache-Control": "only-if-cached"}))[0] is True
    clock.advance(61)
    assert (await get(transport, cache="only-if-cached")).status_code == 504
    assert upstream.calls == 1


async def test_vary_keeps_variants_apart_and_vary_star_is_not_stored() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        lang = request.headers.get("accept-language", "none")
        return httpx.Response(
            200, headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"}, content=lang
        )

    transport, upstream, _ = make(handler)
    for lang in ("en", "fr", "en", "fr", "en"):
        response = await get(transport, headers={"Accept-Language": lang})
        assert response.text == lang
    assert (await get(transport)).text == "none"
    assert (await get(transport)).text == "none"
    assert upstream.calls == 3

    star, star_upstream, _ = make(reply(Cache_Control="max-age=60", Vary="*"))
    await get(star)
    await get(star)
    assert star_upstream.calls == 2


async def test_unsafe_methods_invalidate() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, headers={"Cache-Control": "max-age=600"}, content=b"g")
        status = int(request.headers.get("x-status", "200"))
        location = request.headers.get("x-location")
        return httpx.Response(status, headers={"Location": location} if location else {})

    transport, upstream, _ = make(handler)
    other = "http://api.test/items"
    for url in (URL, other, "http://other.test/items"):
        await get(transport, url)
    await get(transport, URL, method="POST", headers={"x-status": "500"})  # error: no effect
    await get(transport, URL, method="OPTIONS")  # safe: no effect
    assert upstream.calls == 5
    assert status(await get(transport, URL))[0] is True
    deleted = await get(
        transport,
        URL,
        method="DELETE",
        headers={"x-location": "/items", "Authorization": "Bearer x"},
    )
    assert status(deleted)[0] is False
    assert status(await get(transport, URL))[0] is False  # target invalidated
    assert status(await get(transport, other))[0] is False  # same-origin Location too
    await get(transport, URL, method="PUT", headers={"x-location": "http://other.test/items"})
    assert status(await get(transport, "http://other.test/items"))[0] is True  # other origin


async def test_head_and_get_are_stored_apart() -> None:
    transport, upstream, _ = make(reply(b"full", Cache_Control="max-age=60"))
    await get(transport, method="HEAD")
    assert (await get(transport)).content == b"full"
    assert upstream.calls == 2
    assert status(await get(transport, method="HEAD"))[0] is True


async def test_range_and_origin_only_preconditions_bypass() -> None:
    transport, upstream, _ = make(reply(Cache_Control="max-age=60", ETag='"e"'))
    await get(transport)
    await get(transport, headers={"Range": "bytes=0-1"})
    await get(transport, headers={"If-Match": '"e"'})
    await get(transport, headers={"If-Unmodified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert upstream.calls == 4
    assert transport.statistics().stores == 1


async def test_stream_extension_is_not_buffered_or_stored() -> None:
    transport, upstream, _ = make(reply(Cache_Control="max-age=60"))
    await get(transport, stream=True)
    await get(transport)
    assert upstream.calls == 2
    assert status(await get(transport, stream=True))[0] is True  # hits are still served


async def test_body_over_max_entry_bytes_is_delivered_not_stored() -> None:
    body = b"b" * 5000

    def handler(request: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        return httpx.Response(
            200, headers={"Cache-Control": "max-age=60"}, stream=_Stream(chunks())
        )

    transport, upstream, _ = make(handler, max_entry_bytes=1500)
    assert (await get(transport)).content == body
    assert (await get(transport)).content == body
    assert upstream.calls == 2
    assert transport.statistics().stores == 0


class _Stream(httpx.AsyncByteStream):
    def __init__(self, iterator: AsyncIterator[bytes]) -> None:
        self.iterator = iterator
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.iterator:
            yield chunk

    async def aclose(self) -> None:
        self.closed = True


async def test_cancelled_while_reading_the_body_stores_nothing() -> None:
    release = anyio.Event()
    streams: list[_Stream] = []

    async def slow() -> AsyncIterator[bytes]:
        yield b"first part "
        await release.wait()
        yield b"second part"

    def handler(request: httpx.Request) -> httpx.Response:
        stream = _Stream(slow())
        streams.append(stream)
        return httpx.Response(200, headers={"Cache-Control": "max-age=60"}, stream=stream)

    transport, upstream, _ = make(handler)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.get, URL)
                await anyio.wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
    assert isinstance(transport.storage, MemoryStorage)
    assert len(transport.storage) == 0
    assert transport.statistics().stores == 0
    assert all(stream.closed for stream in streams)
    release.set()


async def test_cancelled_revalidation_keeps_the_entry_and_leaks_nothing() -> None:
    upstream = ScriptedTransport()
    clock = FakeClock()
    transport = CacheTransport(upstream, CacheConfig(), clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(get, transport)
        headers = {"Cache-Control": "max-age=5", "ETag": '"1"'}
        (await upstream.next_request()).respond(200, headers=headers, content=b"kept")
    clock.advance(10)
    for _ in range(3):
        async with anyio.create_task_group() as tg:
            tg.start_soon(get, transport)
            await upstream.next_request()  # the conditional request, never answered
            tg.cancel_scope.cancel()
    assert upstream.in_flight == 0
    assert isinstance(transport.storage, MemoryStorage)
    [entry] = transport.storage.entries()
    assert entry.body == b"kept"
    stats = transport.statistics()
    assert (stats.stores, stats.revalidations, stats.hits) == (1, 3, 0)


async def test_stale_while_revalidate_refreshes_once_in_background() -> None:
    upstream = ScriptedTransport()
    clock = FakeClock()
    transport = CacheTransport(upstream, CacheConfig(), clock=clock)
    headers = {"Cache-Control": "max-age=10, stale-while-revalidate=60", "ETag": '"1"'}
    async with transport, anyio.create_task_group() as tg:
        tg.start_soon(get, transport)
        (await upstream.next_request()).respond(200, headers=headers, content=b"old")
        await anyio.wait_all_tasks_blocked()
        clock.advance(20)
        served = [await get(transport) for _ in range(5)]
        assert {r.content for r in served} == {b"old"}
        assert {status(r) for r in served} == {(True, False, "stale")}
        assert transport.refreshes_in_flight == 1
        refresh = await upstream.next_request()  # exactly one background request
        assert refresh.request.headers["if-none-match"] == '"1"'
        refresh.respond(200, headers={**headers, "ETag": '"2"'}, content=b"new")
        await anyio.wait_all_tasks_blocked()
        assert transport.refreshes_in_flight == 0
        fresh = await get(transport)
        assert status(fresh) == (True, False, "hit")
        assert fresh.content == b"new"
    assert upstream.calls == 2
    stats = transport.statistics()
    assert (stats.background_refreshes, stats.stale_served) == (1, 5)


async def test_stale_while_revalidate_refreshes_in_background_without_entering() -> None:
    """No task group is needed: the refresh is a detached task of the running loop."""
    headers = {"Cache-Control": "max-age=10, stale-while-revalidate=60"}
    transport, upstream, clock = make(reply(b"x", Cache_Control=headers["Cache-Control"]))
    await get(transport)
    clock.advance(20)
    response = await get(transport)
    assert status(response) == (True, False, "stale")
    await anyio.wait_all_tasks_blocked()
    assert upstream.calls == 2
    assert transport.statistics().background_refreshes == 1
    assert transport.refreshes_in_flight == 0


async def test_background_tasks_are_bounded_and_refused_beyond() -> None:
    from httpx_resilient._cache.background import Background

    gate = anyio.Event()
    ran: list[int] = []

    async def job() -> None:
        await gate.wait()
        ran.append(1)

    background = Background(limit=2)
    assert background.spawn(job)
    assert background.spawn(job)
    assert not background.spawn(job)
    assert background.running == 2
    gate.set()
    await anyio.wait_all_tasks_blocked()
    assert (ran, background.running) == ([1, 1], 0)


async def test_a_failing_background_task_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under trio an exception escaping a system task would crash the whole run."""
    from httpx_resilient._cache.background import Background

    async def job() -> None:
        raise RuntimeError("boom")

    background = Background()
    with caplog.at_level(logging.INFO, logger="httpx_resilient.cache"):
        assert background.spawn(job)
        await anyio.wait_all_tasks_blocked()
    assert background.running == 0
    assert "RuntimeError" in caplog.text


async def test_exiting_cancels_a_pending_background_refresh() -> None:
    upstream = ScriptedTransport()
    clock = FakeClock()
    transport = CacheTransport(upstream, CacheConfig(), clock=clock)
    async with transport, anyio.create_task_group() as tg:
        tg.start_soon(get, transport)
        headers = {"Cache-Control": "max-age=1, stale-while-revalidate=60"}
        (await upstream.next_request()).respond(200, headers=headers, content=b"old")
        await anyio.wait_all_tasks_blocked()
        clock.advance(5)
        await get(transport)
        await upstream.next_request()  # the refresh: never answered
        assert transport.refreshes_in_flight == 1
    assert transport.refreshes_in_flight == 0
    assert upstream.in_flight == 0
    assert (upstream.entered, upstream.exited) == (1, 1)
    reopened = await get(transport, cache="only-if-cached")  # usable again, as httpx's is
    assert status(reopened) == (True, False, "stale")


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(503), httpx.Response(500), httpx.ConnectError("down")],
    ids=["503", "500", "network error"],
)
async def test_stale_if_error(failure: httpx.Response | Exception) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(
            200, headers={"Cache-Control": "max-age=10, stale-if-error=60"}, content=b"s"
        ),
        failure,
        failure,
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport, _, clock = make(handler)
    await get(transport)
    clock.advance(30)
    stale = await get(transport)
    assert status(stale) == (True, False, "stale")
    assert stale.content == b"s"
    clock.advance(60)  # 80 s stale: beyond the window
    if isinstance(failure, Exception):
        with pytest.raises(httpx.ConnectError):
            await get(transport)
    else:
        assert (await get(transport)).status_code == failure.status_code


async def test_must_revalidate_is_never_served_stale_on_error() -> None:
    answers = [
        httpx.Response(
            200, headers={"Cache-Control": "max-age=1, must-revalidate, stale-if-error=99"}
        ),
        httpx.Response(503),
    ]
    transport, _, clock = make(lambda r: answers.pop(0))
    await get(transport)
    clock.advance(5)
    assert (await get(transport)).status_code == 503


async def test_set_cookie_and_hop_by_hop_are_not_replayed() -> None:
    headers = [
        ("Cache-Control", "max-age=60"),
        ("Set-Cookie", "session=abc"),
        ("Connection", "X-Hop"),
        ("X-Hop", "1"),
        ("Keep-Alive", "timeout=5"),
    ]
    transport, _, _ = make(lambda r: httpx.Response(200, headers=headers))
    first = await get(transport)
    assert first.headers["set-cookie"] == "session=abc"  # the live response is untouched
    hit = await get(transport)
    assert status(hit)[0] is True
    for name in ("set-cookie", "x-hop", "keep-alive", "connection"):
        assert name not in hit.headers
    opted, _, _ = make(lambda r: httpx.Response(200, headers=headers), store_set_cookie=True)
    await get(opted)
    assert (await get(opted)).headers["set-cookie"] == "session=abc"


async def test_shared_mode_uses_s_maxage() -> None:
    handler = reply(Cache_Control="max-age=1, s-maxage=100")
    private, _, clock = make(handler)
    shared, _, _ = make(handler, clock=clock, shared=True)
    for transport in (private, shared):
        await get(transport)
    clock.advance(50)
    assert status(await get(private))[0] is False
    assert status(await get(shared))[0] is True


class BrokenStorage(MemoryStorage):
    async def get(self, key: str) -> Sequence[CacheEntry]:
        raise OSError("disk on fire")

    async def put(self, entry: CacheEntry) -> None:
        raise OSError("disk on fire")

    async def invalidate(self, url_key: str) -> None:
        raise OSError("disk on fire")


class NoSecretStorage(MemoryStorage):
    async def secret(self) -> bytes:
        raise OSError("cannot open")


@pytest.mark.parametrize("storage_type", [BrokenStorage, NoSecretStorage])
async def test_storage_failures_never_fail_requests(
    storage_type: type[MemoryStorage], caplog: pytest.LogCaptureFixture
) -> None:
    transport, upstream, _ = make(reply(Cache_Control="max-age=60"), storage=storage_type())
    with caplog.at_level(logging.WARNING, logger="httpx_resilient"):
        for method in ("GET", "GET", "POST"):
            assert (await get(transport, method=method)).status_code == 200
    assert upstream.calls == 3
    assert "disk on fire" not in caplog.text  # messages name the error type only
    assert caplog.records


async def test_storage_must_implement_the_protocol() -> None:
    with pytest.raises(ConfigError, match=r"CacheConfig\.storage"):
        CacheTransport(ScriptedTransport(), CacheConfig(storage=object()))
    with pytest.raises(TypeError):
        CacheTransport(ScriptedTransport(), object())  # type: ignore[arg-type]


async def test_lifecycle_is_forwarded_once_and_a_closed_cache_reopens() -> None:
    transport, upstream, _ = make(reply())
    async with transport:
        pass
    assert (upstream.entered, upstream.exited) == (1, 1)
    other, other_upstream, _ = make(reply())
    await other.aclose()
    assert other_upstream.closed == 1
    assert (await get(other)).status_code == 200  # reopens lazily (DESIGN)


async def test_sqlite_storage_through_the_transport(tmp_path: Any) -> None:
    storage = SQLiteStorage(tmp_path / "t.db")
    transport, upstream, clock = make(reply(b"disk", Cache_Control="max-age=60"), storage=storage)
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get(URL)).content == b"disk"
        hit = await client.get(URL)
        assert hit.content == b"disk"
        assert hit.extensions["from_cache"] is True
    await storage.aclose()
    assert upstream.calls == 1
