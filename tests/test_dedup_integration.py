"""DedupTransport over a real HTTP/1.1 connection to the loopback server."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from httpx_resilient._dedup.config import DedupConfig
from httpx_resilient._dedup.transport import DedupTransport
from tests.loopback import LoopbackServer, Reply, Reset, Seen

pytestmark = pytest.mark.anyio

SLOW = 0.02  # keeps a request in flight while its twins arrive


def slow_echo(seen: Seen) -> Reply:
    who = seen.headers.get("Authorization", "anonymous")
    return Reply(200, {"Content-Type": "text/plain"}, f"{seen.path} for {who}".encode(), SLOW)


def client_for(transport: DedupTransport, server: LoopbackServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=server.url)


async def gather(client: httpx.AsyncClient, calls: list[dict[str, object]]) -> list[object]:
    """Send every call at once; return each response or exception, in call order."""
    results: list[object] = [None] * len(calls)

    async def one(i: int, call: dict[str, object]) -> None:
        try:
            results[i] = await client.request(**call)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            results[i] = exc

    async with anyio.create_task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return results


def clean(transport: DedupTransport) -> bool:
    stats = transport.statistics()
    return stats.in_flight_keys == 0 and stats.followers_waiting == 0


async def test_20_concurrent_identical_gets_reach_the_server_once(server: LoopbackServer) -> None:
    server.route("/slow", slow_echo)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig())
    async with client_for(transport, server) as client:
        results = await gather(client, [{"method": "GET", "url": "/slow"}] * 20)
    assert server.hits("/slow") == 1
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert len(responses) == 20
    assert {r.text for r in responses} == {"/slow for anonymous"}
    assert sum(r.extensions["deduplicated"] for r in responses) == 19
    assert clean(transport)
    assert transport.statistics().shared == 19


async def test_different_credentials_reach_the_server_separately(server: LoopbackServer) -> None:
    server.route("/slow", slow_echo)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig())
    calls: list[dict[str, object]] = [
        {"method": "GET", "url": "/slow", "headers": {"Authorization": f"Bearer {user}"}}
        for user in ("alice", "bob", "alice", "bob", "alice")
    ]
    async with client_for(transport, server) as client:
        results = await gather(client, calls)
    assert server.hits("/slow") == 2
    texts = [r.text for r in results if isinstance(r, httpx.Response)]
    assert texts == [
        f"/slow for Bearer {user}" for user in ("alice", "bob", "alice", "bob", "alice")
    ]
    assert clean(transport)


async def test_posts_and_opt_outs_are_never_shared(server: LoopbackServer) -> None:
    server.route("/slow", slow_echo)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig())
    calls: list[dict[str, object]] = [{"method": "POST", "url": "/slow", "content": b"x"}] * 3
    calls += [{"method": "GET", "url": "/slow", "extensions": {"dedup": False}}] * 3
    async with client_for(transport, server) as client:
        results = await gather(client, calls)
    assert server.hits("/slow") == 6
    assert all(isinstance(r, httpx.Response) and r.status_code == 200 for r in results)


async def test_body_over_the_cap_reaches_every_caller_whole(server: LoopbackServer) -> None:
    body = bytes(range(256)) * 40  # 10,240 bytes

    def big(seen: Seen) -> Reply:
        return Reply(200, {"Content-Type": "application/octet-stream"}, body, SLOW)

    server.route("/big", big)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig(max_body_bytes=4096))
    async with client_for(transport, server) as client:
        results = await gather(client, [{"method": "GET", "url": "/big"}] * 5)
    assert [r.content for r in results if isinstance(r, httpx.Response)] == [body] * 5
    assert server.hits("/big") == 5  # not shared: each follower fetched on its own
    assert clean(transport)


async def test_leader_connection_reset_reaches_followers(server: LoopbackServer) -> None:
    def reset(seen: Seen) -> Reply:
        time.sleep(SLOW)  # in the server's thread: keeps the leader in flight
        raise Reset

    server.route("/reset", reset)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig())
    async with client_for(transport, server) as client:
        results = await gather(client, [{"method": "GET", "url": "/reset"}] * 5)
    assert server.hits("/reset") == 1
    assert all(isinstance(r, httpx.TransportError) for r in results)
    assert len({type(r) for r in results}) == 1
    assert clean(transport)


async def test_cancelled_leader_does_not_strand_followers(server: LoopbackServer) -> None:
    server.route("/slow", slow_echo)
    transport = DedupTransport(httpx.AsyncHTTPTransport(), DedupConfig())
    results: list[httpx.Response] = []
    leader = anyio.CancelScope()
    async with client_for(transport, server) as client:

        async def lead() -> None:
            with leader:
                await client.get("/slow")

        async def follow() -> None:
            results.append(await client.get("/slow"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(lead)
            while transport.statistics().in_flight_keys == 0:
                await anyio.sleep(0)
            for _ in range(4):
                tg.start_soon(follow)
            while transport.statistics().followers_waiting < 4:
                await anyio.sleep(0)
            leader.cancel()
    assert leader.cancelled_caught
    assert [r.text for r in results] == ["/slow for anonymous"] * 4
    assert transport.statistics().leaders == 2  # the cancelled leader and one takeover
    assert 1 <= server.hits("/slow") <= 2
    assert clean(transport)
