"""CacheTransport over a real HTTP/1.1 connection to the loopback server."""

from __future__ import annotations

import gzip
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.memory import MemoryStorage
from httpx_resilient._cache.sqlite import SQLiteStorage
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient.testing import FakeClock
from tests.loopback import LoopbackServer, Reply, Seen

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


def behind() -> FakeClock:
    """Virtual time an hour behind the server's real ``Date``, so advancing it never makes
    the server's clock look late (which would age its responses: RFC 9111 4.2.3)."""
    return FakeClock(wall_start=time.time() - 3600)


def cache(clock: FakeClock | None = None, **config: object) -> CacheTransport:
    return CacheTransport(
        httpx.AsyncHTTPTransport(),
        CacheConfig(**config),  # type: ignore[arg-type]
        clock=clock or behind(),
    )


async def test_fresh_response_is_served_without_the_network(server: LoopbackServer) -> None:
    server.route("/fresh", lambda seen: Reply(200, {"Cache-Control": "max-age=60"}, b"fresh"))
    async with httpx.AsyncClient(transport=cache(), base_url=server.url) as client:
        first = await client.get("/fresh")
        second = await client.get("/fresh")
    assert first.text == second.text == "fresh"
    assert second.extensions["from_cache"] is True
    assert server.hits("/fresh") == 1


async def test_etag_revalidation_over_the_wire(server: LoopbackServer) -> None:
    def route(seen: Seen) -> Reply:
        headers = {"Cache-Control": "max-age=5", "ETag": '"v7"'}
        if seen.headers.get("If-None-Match") == '"v7"':
            return Reply(304, headers)
        return Reply(200, headers, b"the document")

    server.route("/doc", route)
    clock = behind()
    async with httpx.AsyncClient(transport=cache(clock), base_url=server.url) as client:
        await client.get("/doc")
        clock.advance(10)
        revalidated = await client.get("/doc")
        hit = await client.get("/doc")
    assert revalidated.status_code == 200
    assert revalidated.text == "the document"
    assert revalidated.extensions["revalidated"] is True
    assert hit.extensions["cache_status"] == "hit"
    assert server.hits("/doc") == 2
    assert server.log[1].headers.get("If-None-Match") == '"v7"'


async def test_compressed_body_is_stored_raw_and_decoded_on_reply(server: LoopbackServer) -> None:
    text = b"compress me " * 500
    packed = gzip.compress(text)
    server.route(
        "/gz",
        lambda seen: Reply(
            200, {"Cache-Control": "max-age=60", "Content-Encoding": "gzip"}, packed
        ),
    )
    storage = MemoryStorage()
    transport = cache(storage=storage)
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
        first = await client.get("/gz")
        async with client.stream("GET", "/gz") as streamed:
            raw = b"".join([chunk async for chunk in streamed.aiter_raw()])
        decoded = await client.get("/gz")
    assert first.content == decoded.content == text
    assert raw == packed  # a streaming caller gets the encoded bytes, decoded by httpx
    [entry] = storage.entries()
    assert entry.body == packed
    assert server.hits("/gz") == 1


async def test_unsafe_request_invalidates_over_the_wire(server: LoopbackServer) -> None:
    server.route(
        "/item", lambda seen: Reply(200, {"Cache-Control": "max-age=60"}, seen.method.encode())
    )
    async with httpx.AsyncClient(transport=cache(), base_url=server.url) as client:
        await client.get("/item")
        await client.get("/item")
        await client.put("/item", content=b"new")
        after = await client.get("/item")
    assert after.extensions["from_cache"] is False
    assert [s.method for s in server.log] == ["GET", "PUT", "GET"]


async def test_large_body_streams_intact_and_is_not_stored(server: LoopbackServer) -> None:
    server.route(
        "/big", lambda seen: Reply(200, {"Cache-Control": "max-age=60"}, bytes(range(256)) * 400)
    )
    transport = cache(max_entry_bytes=10_000)
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
        first = await client.get("/big")
        second = await client.get("/big")
    assert first.content == second.content == bytes(range(256)) * 400
    assert transport.statistics().stores == 0
    assert server.hits("/big") == 2


async def test_credentials_are_kept_apart_over_the_wire(server: LoopbackServer) -> None:
    def whoami(seen: Seen) -> Reply:
        who = seen.headers.get("Authorization", "nobody").encode()
        return Reply(200, {"Cache-Control": "public, max-age=60"}, b"user:" + who[-1:])

    server.route("/me", whoami)
    async with httpx.AsyncClient(transport=cache(), base_url=server.url) as client:
        a1 = await client.get("/me", headers={"Authorization": "Bearer a"})
        b1 = await client.get("/me", headers={"Authorization": "Bearer b"})
        anon = await client.get("/me")
        a2 = await client.get("/me", headers={"Authorization": "Bearer a"})
    assert (a1.text, b1.text, anon.text, a2.text) == ("user:a", "user:b", "user:y", "user:a")
    assert a2.extensions["from_cache"] is True
    assert server.hits("/me") == 3


async def test_expires_from_the_server_and_sqlite(server: LoopbackServer, tmp_path: Path) -> None:
    clock = FakeClock(wall_start=time.time())  # Expires - Date counts; Date is the server's

    def route(seen: Seen) -> Reply:  # the server adds its own (real) Date
        return Reply(200, {"Expires": formatdate(clock.wall() + 30, usegmt=True)}, b"expiring")

    server.route("/exp", route)
    storage = SQLiteStorage(tmp_path / "it.db")
    transport = cache(clock, storage=storage)
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
        await client.get("/exp")
        clock.advance(20)
        hit = await client.get("/exp")
        clock.advance(20)
        miss = await client.get("/exp")
    await storage.aclose()
    assert hit.extensions["from_cache"] is True
    assert int(hit.headers["age"]) >= 20
    assert miss.extensions["from_cache"] is False
    assert server.hits("/exp") == 2


async def test_stale_if_error_when_the_server_fails(server: LoopbackServer) -> None:
    state = {"down": False}

    def route(seen: Seen) -> Reply:
        if state["down"]:
            return Reply(503, {}, b"down")
        return Reply(200, {"Cache-Control": "max-age=1, stale-if-error=300"}, b"last good")

    server.route("/flaky", route)
    clock = behind()
    async with httpx.AsyncClient(transport=cache(clock), base_url=server.url) as client:
        await client.get("/flaky")
        state["down"] = True
        clock.advance(10)
        response = await client.get("/flaky")
    assert response.status_code == 200
    assert response.text == "last good"
    assert response.extensions["cache_status"] == "stale"
    assert server.hits("/flaky") == 2


async def test_with_dedup_100_stale_callers_send_one_conditional_request(
    server: LoopbackServer,
) -> None:
    import threading

    import anyio

    from httpx_resilient._dedup.config import DedupConfig
    from httpx_resilient._dedup.transport import DedupTransport

    release = threading.Event()

    def route(seen: Seen) -> Reply:
        headers = {"Cache-Control": "max-age=5", "ETag": '"v1"'}
        if seen.headers.get("If-None-Match") == '"v1"':
            release.wait(10)  # answer once every caller is waiting
            return Reply(304, headers)
        return Reply(200, headers, b"shared body")

    server.route("/hot", route)
    clock = behind()
    dedup = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig(), clock=clock)
    transport = CacheTransport(dedup, CacheConfig(), clock=clock)
    bodies: list[bytes] = []
    async with httpx.AsyncClient(transport=transport, base_url=server.url) as client:
        await client.get("/hot")
        clock.advance(10)

        async def caller() -> None:
            response = await client.get("/hot")
            assert response.extensions["revalidated"] is True
            bodies.append(response.content)

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(caller)
                await anyio.wait_all_tasks_blocked()
                assert dedup.statistics().followers_waiting == 99
                release.set()
        finally:
            release.set()
    assert bodies == [b"shared body"] * 100
    assert server.hits("/hot") == 2  # the first fetch, then one conditional request
    assert transport.statistics().revalidations == 100  # each asked; dedup shared the call
