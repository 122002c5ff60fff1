"""The chaos server: its seeded behaviour (pure ``ChaosApp``) and real HTTP/1.1 over
loopback sockets, in the test's event loop (asyncio and trio) and in a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from httpx_resilient import ConfigError
from httpx_resilient.testing._chaos import (
    ChaosApp,
    ChaosServer,
    chaos_server_thread,
    run_chaos_server,
)

pytestmark = pytest.mark.integration


def statuses(app: ChaosApp, target: str, n: int, *, now: float = 0.0) -> list[int]:
    return [app.handle("GET", target, {}, now).status for _ in range(n)]


# --- ChaosApp: behaviour without sockets -------------------------------------------------


def test_flaky_is_seeded_and_honours_the_probability() -> None:
    first = statuses(ChaosApp(seed=4), "/flaky?fail=0.3", 400)
    assert first == statuses(ChaosApp(seed=4), "/flaky?fail=0.3", 400)
    assert first != statuses(ChaosApp(seed=5), "/flaky?fail=0.3", 400)
    failures = [s for s in first if s != 200]
    assert set(failures) <= {502, 503, 504}
    assert 0.22 < len(failures) / 400 < 0.38
    assert set(statuses(ChaosApp(), "/flaky?fail=0", 20)) == {200}
    assert set(statuses(ChaosApp(), "/flaky?fail=1", 20)) <= {502, 503, 504}


def test_an_endpoints_draws_do_not_depend_on_other_traffic() -> None:
    alone = ChaosApp(seed=9)
    mixed = ChaosApp(seed=9)
    expected = statuses(alone, "/flaky", 50)
    got = []
    for _ in range(50):
        mixed.handle("GET", "/reset?p=0.5", {}, 0.0)
        mixed.handle("GET", "/items/3", {}, 0.0)
        got.append(mixed.handle("GET", "/flaky", {}, 0.0).status)
    assert got == expected


def test_burst_fails_the_last_requests_of_every_period() -> None:
    app = ChaosApp()
    assert statuses(app, "/burst?every=4&length=2", 8) == [200, 200, 503, 503] * 2


def test_ratelimited_is_a_token_bucket_with_hints() -> None:
    app = ChaosApp(rate=2.0, rate_burst=2)
    first, second, third = (app.handle("GET", "/ratelimited", {}, 10.0) for _ in range(3))
    assert (first.status, second.status, third.status) == (200, 200, 429)
    refused = dict(third.headers)
    assert refused["retry-after"] == "1"
    assert refused["x-ratelimit-remaining"] == "0"
    assert refused["ratelimit"] == '"ratelimited";r=0;t=1'
    assert refused["ratelimit-policy"] == '"ratelimited";q=2;w=1'
    assert dict(second.headers)["x-ratelimit-remaining"] == "0"
    assert app.handle("GET", "/ratelimited", {}, 10.5).status == 200  # one token refilled
    assert app.handle("GET", "/ratelimited", {}, 10.5).status == 429
    assert app.rate_limited == 2


def test_quota_refuses_every_endpoint_beyond_it() -> None:
    app = ChaosApp(quota=1.0, quota_burst=2)
    assert statuses(app, "/ok", 3, now=5.0) == [200, 200, 429]
    refused = app.handle("GET", "/items/1", {}, 5.0)
    assert refused.status == 429
    assert dict(refused.headers)["retry-after"] == "1"
    assert app.handle("GET", "/ok", {}, 6.0).status == 200
    assert app.handle("GET", "/stats", {}, 6.0).status == 200  # never refused, not counted
    assert app.stats()["rate_limited"] == 2


def test_items_are_fixed_by_seed_and_id() -> None:
    one, two = ChaosApp(seed=1), ChaosApp(seed=1)
    reply = one.handle("GET", "/items/42", {}, 0.0)
    assert reply.status == 200
    assert 0.005 <= reply.delay <= 0.030
    assert reply.body == two.handle("GET", "/items/42", {}, 0.0).body
    assert reply.body != ChaosApp(seed=2).handle("GET", "/items/42", {}, 0.0).body
    assert one.handle("GET", "/items/" + "x" * 65, {}, 0.0).status == 404


@pytest.mark.parametrize(
    "target", ["/latency?ms=abc", "/latency?ms=-1", "/flaky?fail=2", "/latency?ms=nan"]
)
def test_bad_parameters_get_400(target: str) -> None:
    assert ChaosApp().handle("GET", target, {}, 0.0).status == 400


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"seed": "1"}, "ChaosApp.seed"),
        ({"rate": 0}, "ChaosApp.rate"),
        ({"rate_burst": 0}, "ChaosApp.rate_burst"),
        ({"quota": -1.0}, "ChaosApp.quota"),
        ({"quota": 5.0, "quota_burst": 0}, "ChaosApp.quota_burst"),
    ],
)
def test_bad_app_arguments_raise_config_error(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ChaosApp(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"io_timeout": 0}, "ChaosServer.io_timeout"),
        ({"max_header_bytes": 10}, "ChaosServer.max_header_bytes"),
        ({"max_body_bytes": -1}, "ChaosServer.max_body_bytes"),
        ({"max_connections": 0}, "ChaosServer.max_connections"),
    ],
)
def test_bad_server_arguments_raise_config_error(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ChaosServer(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# --- over real sockets ------------------------------------------------------------------


@pytest.fixture
async def chaos() -> AsyncIterator[tuple[httpx.AsyncClient, ChaosApp]]:
    app = ChaosApp(seed=3)
    async with run_chaos_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client, app


@pytest.mark.anyio
async def test_ok_latency_and_keep_alive(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, app = chaos
    assert (await client.get("/ok")).json() == {"status": "ok"}
    began = anyio.current_time()
    response = await client.get("/latency?ms=30")
    assert response.json() == {"latency_ms": 30}
    assert anyio.current_time() - began >= 0.03
    head = await client.head("/items/5")
    assert head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert head.headers["server"] == "httpx-resilient-chaos"
    assert "date" in head.headers
    assert app.connections == 1  # every request reused one kept-alive connection


@pytest.mark.anyio
async def test_failing_endpoints(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, _ = chaos
    assert (await client.get("/flaky?fail=1")).status_code in (502, 503, 504)
    bursts = [(await client.get("/burst?every=3&length=1")).status_code for _ in range(6)]
    assert bursts == [200, 200, 503] * 2
    limited = [(await client.get("/ratelimited")).status_code for _ in range(7)]
    assert limited[:5] == [200] * 5  # the default bucket holds 5
    assert 429 in limited[5:]
    assert (await client.get("/nowhere")).status_code == 404


@pytest.mark.anyio
async def test_reset_drops_the_connection(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, app = chaos
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await client.get("/reset")
    assert (await client.get("/reset?p=0")).status_code == 200  # the server serves on
    assert app.resets == 1


@pytest.mark.anyio
async def test_cacheable_counts_hits(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, _ = chaos
    first = await client.get("/cacheable?max_age=30")
    assert first.headers["cache-control"] == "max-age=30"
    assert first.json() == {"hits": 1}
    assert (await client.get("/cacheable")).json() == {"hits": 2}
    stats = (await client.get("/stats")).json()
    assert stats["endpoints"]["/cacheable"] == 2


@pytest.mark.anyio
async def test_etag_answers_304_when_it_matches(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, app = chaos
    first = await client.get("/etag?key=a")
    etag = first.headers["etag"]
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    for header in (etag, f'"other", W/{etag}', "*"):
        again = await client.get("/etag?key=a", headers={"If-None-Match": header})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
    other = await client.get("/etag?key=b", headers={"If-None-Match": etag})
    assert other.status_code == 200
    assert app.not_modified == 3


@pytest.mark.anyio
async def test_slow_body_dribbles_in_chunks(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, _ = chaos
    async with client.stream("GET", "/slow-body?chunks=4&delay_ms=5&size=100") as response:
        assert response.headers["transfer-encoding"] == "chunked"
        pieces = [chunk async for chunk in response.aiter_raw()]
    assert b"".join(pieces) == b"x" * 100
    assert len(pieces) >= 2


@pytest.mark.anyio
async def test_items_and_stats(chaos: tuple[httpx.AsyncClient, ChaosApp]) -> None:
    client, app = chaos
    item = (await client.get("/items/42")).json()
    assert item["id"] == "42"
    assert (await client.get("/items/42")).json() == item
    stats = (await client.get("/stats")).json()
    assert stats == app.stats()
    assert stats["endpoints"] == {"/items": 2}
    assert stats["statuses"] == {"200": 2}
    assert stats["requests"] == 2
    assert (await client.get("/")).json()["endpoints"][0] == "/ok"


@pytest.mark.anyio
async def test_bounds_on_headers_and_bodies() -> None:
    server = ChaosServer(max_header_bytes=1024, max_body_bytes=100)
    async with anyio.create_task_group() as tg:
        url = await tg.start(server.serve)
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/ok", headers={"x-big": "y" * 2000})).status_code == 431
            assert (await client.post("/ok", content=b"z" * 50)).status_code == 200
            assert (await client.post("/ok", content=b"z" * 500)).status_code == 413
        tg.cancel_scope.cancel()


async def _raw_exchange(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    async with await anyio.connect_tcp(host, int(port)) as stream:
        if payload:
            await stream.send(payload)
        received = b""
        with anyio.fail_after(5):
            while True:
                try:
                    received += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return received


@pytest.mark.anyio
async def test_garbage_gets_400_and_idle_connections_are_closed() -> None:
    server = ChaosServer(io_timeout=0.02, max_header_bytes=1024)
    async with anyio.create_task_group() as tg:
        url = await tg.start(server.serve)
        assert (await _raw_exchange(url, b"NONSENSE\r\n\r\n")).startswith(b"HTTP/1.1 400")
        endless = b"GET / HTTP/1.1\r\nx-long: " + b"a" * 4000  # no end of headers in sight
        assert (await _raw_exchange(url, endless)).startswith(b"HTTP/1.1 431")
        assert await _raw_exchange(url, b"") == b""  # said nothing: closed after io_timeout
        half = await _raw_exchange(url, b"GET /ok HTTP/1.1\r\nHost: x\r\n")  # never finished
        assert half == b""
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_error_in_the_block_comes_out_unwrapped() -> None:
    with pytest.raises(KeyError):
        async with run_chaos_server() as url:
            raise KeyError(url)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_server_in_a_thread(backend: str) -> None:
    with chaos_server_thread(seed=2, backend=backend) as url:  # type: ignore[arg-type]
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url) as client:
            flaky = [client.get("/flaky?fail=0.5").status_code for _ in range(20)]
            assert client.get("/stats").json()["requests"] == 20
    assert flaky == statuses(ChaosApp(seed=2), "/flaky?fail=0.5", 20)  # same seed, same faults
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        client.get(url + "/ok")  # stopped with the block
