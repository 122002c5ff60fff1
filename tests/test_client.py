"""RateLimitedAPIClient: the usage patterns of issue 4, priority=, health, lifecycle."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timezone
from functools import partial

import anyio
import httpx
import pytest

from httpx_resilient._auth import Token, TokenAuth
from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.transport import CircuitBreakerTransport
from httpx_resilient._client import RateLimitedAPIClient
from httpx_resilient._core.errors import ClientClosedError, ConfigError
from httpx_resilient._env import TimeoutConfig
from httpx_resilient._metrics.transport import MetricsTransport
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient._retry.config import RetryConfig
from httpx_resilient._retry.transport import RetryTransport
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests.loopback import LoopbackServer

pytestmark = pytest.mark.anyio


def recorder() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"path": request.url.path})

    return seen, httpx.MockTransport(handler)


# --- the usage patterns of issue 4, as written ------------------------------------------


@pytest.mark.integration
async def test_pattern_async_with_and_get(server: LoopbackServer) -> None:
    async with RateLimitedAPIClient(server.url) as client:
        response = await client.get("/users/123")
    assert response.status_code == 200
    assert response.text == "GET /users/123"
    assert client.is_closed


async def gather_1000(client: RateLimitedAPIClient, backend: str) -> list[httpx.Response]:
    """The fan-out of issue 4: ``asyncio.gather`` as written, a task group under trio."""
    if backend == "asyncio":
        return await asyncio.gather(*[client.get(f"/items/{i}") for i in range(1000)])
    results: list[httpx.Response] = []

    async def one(i: int) -> None:
        results.append(await client.get(f"/items/{i}"))

    async with anyio.create_task_group() as tg:
        for i in range(1000):
            tg.start_soon(one, i)
    return sorted(results, key=lambda r: int(r.url.path.rsplit("/", 1)[1]))


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text=f"{request.method} {request.url.path}")


async def test_pattern_configured_client_gathers_1000_requests(anyio_backend: str) -> None:
    client = RateLimitedAPIClient(
        base_url="https://api.example",
        rate_limit=RateLimitConfig(max_requests=1000, window_seconds=60),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
        retry_config=RetryConfig(max_retries=3, base_delay=1.0),
        transport=httpx.MockTransport(echo),
    )
    assert [type(layer) for layer in client.resilient_transport.layers] == [
        MetricsTransport,
        PriorityQueueTransport,  # on by default: the bulkhead
        RetryTransport,
        CircuitBreakerTransport,
        RateLimitTransport,
    ]
    with anyio.fail_after(10):
        results = await gather_1000(client, anyio_backend)
        response = await client.get("/critical-data", priority=10)
    await client.aclose()
    assert [r.text for r in results] == [f"GET /items/{i}" for i in range(1000)]
    assert response.text == "GET /critical-data"
    metrics = client.get_metrics()
    assert (metrics.total_requests, metrics.successful_requests) == (1001, 1001)
    assert metrics.active_requests == 0


@pytest.mark.integration
async def test_1000_gathered_requests_through_the_loopback_server(
    server: LoopbackServer, anyio_backend: str
) -> None:
    # A queue keeps the offered load off httpx's pool: without one, 1000 requests at
    # once end in PoolTimeout / ConnectTimeout on this server, with or without the stack.
    async with RateLimitedAPIClient(
        base_url=server.url,
        rate_limit=RateLimitConfig(max_requests=1000, window_seconds=60),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
        retry_config=RetryConfig(max_retries=3, base_delay=1.0),
        queue=QueueConfig(max_concurrency=16),
        timeout=httpx.Timeout(10.0, pool=None),  # the pool timeout now bounds queue waits
    ) as client:
        with anyio.fail_after(30):
            results = await gather_1000(client, anyio_backend)
            response = await client.get("/critical-data", priority=10)
        metrics = client.get_metrics()
    assert [r.text for r in results] == [f"GET /items/{i}" for i in range(1000)]
    assert response.text == "GET /critical-data"
    assert server.hits() == 1001
    assert (metrics.successful_requests, metrics.retry_count) == (1001, 0)


async def test_pattern_priority_reaches_the_request_extensions() -> None:
    seen, transport = recorder()
    async with RateLimitedAPIClient("https://api.example", transport=transport) as client:
        response = await client.get("/critical-data", priority=10)
        await client.get("/plain")
    assert response.json() == {"path": "/critical-data"}
    assert seen[0].extensions["priority"] == 10
    assert "priority" not in seen[1].extensions


# --- priority= ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "head", "options", "delete", "post", "put", "patch"])
async def test_every_verb_takes_priority_and_keeps_caller_extensions(method: str) -> None:
    seen, transport = recorder()
    mine = {"timeout_budget": 5.0, "custom": "kept"}
    async with RateLimitedAPIClient("https://api.example", transport=transport) as client:
        response = await getattr(client, method)("/x", priority=7, extensions=mine)
    assert response.request.method == method.upper()
    ext = seen[0].extensions
    assert (ext["priority"], ext["timeout_budget"], ext["custom"]) == (7, 5.0, "kept")
    assert "timeout" in ext  # httpx's own extension is still set
    assert mine == {"timeout_budget": 5.0, "custom": "kept"}  # the caller's dict untouched


async def test_request_and_stream_take_priority() -> None:
    seen, transport = recorder()
    async with RateLimitedAPIClient("https://api.example", transport=transport) as client:
        await client.request("POST", "/r", priority=3, json={"a": 1})
        async with client.stream("GET", "/s", priority=-2, extensions={"dedup": False}) as r:
            body = await r.aread()
    assert [r.extensions["priority"] for r in seen] == [3, -2]
    assert seen[0].content == b'{"a":1}'
    assert seen[1].extensions["dedup"] is False
    assert json.loads(body) == {"path": "/s"}


async def test_priority_argument_wins_over_the_extension() -> None:
    seen, transport = recorder()
    async with RateLimitedAPIClient("https://api.example", transport=transport) as client:
        await client.get("/", priority=9, extensions={"priority": 1})
        await client.get("/", extensions={"priority": 1})
    assert [r.extensions["priority"] for r in seen] == [9, 1]


@pytest.mark.parametrize("bad", ["10", 1.5, True])
async def test_priority_must_be_an_int(bad: object) -> None:
    _, transport = recorder()
    async with RateLimitedAPIClient("https://api.example", transport=transport) as client:
        with pytest.raises(ConfigError) as info:
            await client.get("/", priority=bad)  # type: ignore[arg-type]
    assert info.value.field == "priority"


async def test_priority_orders_the_queue() -> None:
    inner = ScriptedTransport()
    client = RateLimitedAPIClient(
        "https://api.example", queue=QueueConfig(max_concurrency=1), transport=inner
    )
    order: list[str] = []

    async def call(path: str, priority: int | None) -> None:
        await client.get(path, priority=priority)
        order.append(path)

    async with client, anyio.create_task_group() as tg:
        tg.start_soon(call, "/first", None)
        first = await inner.next_request()
        for path, priority in (("/low", -1), ("/default", None), ("/high", 10)):
            tg.start_soon(call, path, priority)
            await anyio.wait_all_tasks_blocked()
        first.respond(200)
        for _ in range(3):
            (await inner.next_request()).respond(200)
    assert order == ["/first", "/high", "/default", "/low"]


# --- metrics, health --------------------------------------------------------------------


async def test_health_check_shape() -> None:
    clock = FakeClock()
    _, transport = recorder()
    async with RateLimitedAPIClient(
        "https://api.example", transport=transport, clock=clock
    ) as client:
        for _ in range(3):
            await client.get("/")
        report = await client.health_check()
    assert set(report) == {"status", "reasons", "metrics", "timestamp"}
    assert report["status"] == "healthy"
    assert report["reasons"] == []
    assert report["metrics"]["total_requests"] == 3
    assert report["metrics"]["successful_requests"] == 3
    assert isinstance(report["metrics"]["circuit_states"], dict)
    assert json.loads(json.dumps(report)) == report  # plain data all the way down
    stamp = datetime.fromisoformat(report["timestamp"])
    assert stamp == datetime.fromtimestamp(clock.wall(), tz=timezone.utc)
    assert stamp.tzinfo is not None


async def test_health_reports_an_open_breaker() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    async with RateLimitedAPIClient(
        "https://api.example",
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
        transport=httpx.MockTransport(handler),
        clock=FakeClock(),
    ) as client:
        for _ in range(2):
            await client.get("/")
        health = client.assess_health()
        report = await client.health_check()
    assert health.status.value == "unhealthy"
    assert report["status"] == "unhealthy"
    assert report["reasons"] == list(health.reasons) != []
    assert report["metrics"]["circuit_states"] == {"api.example": "open"}


async def test_metrics_are_kept_with_no_layer_configured() -> None:
    _, transport = recorder()
    async with RateLimitedAPIClient(
        "https://api.example", transport=transport, queue=None
    ) as client:
        assert [type(x) for x in client.resilient_transport.layers] == [MetricsTransport]
        await client.get("/")
        assert client.get_metrics().total_requests == 1
        assert client.assess_health().status.value == "healthy"


# --- construction ---------------------------------------------------------------------


async def test_transport_becomes_the_inner_transport_and_is_closed_once() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(204))
    async with RateLimitedAPIClient(
        "https://api.example", transport=inner, retry_config=RetryConfig()
    ) as client:
        assert (await client.get("/")).status_code == 204
        assert client.resilient_transport.layers[-1].inner is inner
    assert (inner.entered, inner.exited, inner.closed) == (1, 1, 1)
    await client.aclose()
    assert inner.closed == 1  # closed once by __aexit__; aclose() after that does nothing


async def test_a_ready_resilient_transport_is_used_as_is() -> None:
    stack = ResilientTransport(inner=httpx.MockTransport(lambda r: httpx.Response(200)))
    async with RateLimitedAPIClient("https://api.example", transport=stack) as client:
        assert client.resilient_transport is stack
        await client.get("/")
    assert stack.get_metrics().total_requests == 1
    with pytest.raises(ConfigError) as info:
        RateLimitedAPIClient(transport=stack, retry_config=RetryConfig())
    assert info.value.field == "RateLimitedAPIClient.transport"


def test_proxy_with_a_custom_transport_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitedAPIClient(
            transport=httpx.MockTransport(lambda r: httpx.Response(200)), proxy="http://p:1"
        )
    assert info.value.field == "RateLimitedAPIClient.proxy"


def test_httpx_kwargs_pass_through() -> None:
    client = RateLimitedAPIClient(
        "https://api.example",
        headers={"X-App": "1"},
        timeout=3.0,
        follow_redirects=True,
        http2=False,
    )
    assert client.headers["X-App"] == "1"
    assert client.timeout == httpx.Timeout(3.0)
    assert client.follow_redirects is True
    assert client.base_url == httpx.URL("https://api.example")


async def test_timeout_config_sets_httpx_timeouts_and_the_budget() -> None:
    seen, transport = recorder()
    async with RateLimitedAPIClient(
        "https://api.example",
        transport=transport,
        timeout=TimeoutConfig(connect=1, read=2, write=3, pool=4, total=9),
    ) as client:
        assert client.timeout == httpx.Timeout(connect=1, read=2, write=3, pool=4)
        await client.get("/")
        await client.get("/", extensions={"timeout_budget": 2.0})
    assert [r.extensions["timeout_budget"] for r in seen] == [9, 2.0]


async def test_from_environment() -> None:
    seen, transport = recorder()
    environ = {"API_RATE_LIMIT": "5", "API_RATE_WINDOW": "1", "API_CB_FAILURE_THRESHOLD": "off"}
    async with RateLimitedAPIClient.from_environment(
        "https://api.example", environ=environ, transport=transport, clock=FakeClock()
    ) as client:
        kinds = [type(x) for x in client.resilient_transport.layers]
        assert kinds == [
            MetricsTransport,
            PriorityQueueTransport,
            RetryTransport,
            RateLimitTransport,
        ]
        assert client.timeout == httpx.Timeout(10)
        await client.get("/")
    with pytest.raises(ConfigError) as info:
        RateLimitedAPIClient.from_environment(environ={"API_QUEUE_MAX_SIZE": "lots"})
    assert info.value.field == "API_QUEUE_MAX_SIZE"


async def test_explicit_kwargs_win_over_the_environment() -> None:
    _, transport = recorder()
    async with RateLimitedAPIClient.from_environment(
        environ={"API_TIMEOUT": "10"}, timeout=2.0, transport=transport
    ) as client:
        assert client.timeout == httpx.Timeout(2.0)


async def test_token_auth_through_the_client() -> None:
    seen, transport = recorder()
    calls = 0

    async def provider() -> Token:
        nonlocal calls
        calls += 1
        return Token(f"t{calls}", 3600)

    async with RateLimitedAPIClient(
        "https://api.example",
        auth=TokenAuth(provider),
        transport=transport,
        retry_config=RetryConfig(),
    ) as client:
        await client.get("/a", priority=1)
        await client.get("/b")
    assert [r.headers["Authorization"] for r in seen] == ["Bearer t1", "Bearer t1"]


# --- closing --------------------------------------------------------------------------


async def test_aclose_refuses_later_requests_and_is_idempotent() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200))
    client = RateLimitedAPIClient("https://api.example", transport=inner)
    await client.get("/")
    await client.aclose()
    await client.aclose()
    assert inner.closed == 1
    with pytest.raises(ClientClosedError):
        await client.get("/")
    with pytest.raises(httpx.HTTPError):  # still an httpx error for existing code
        await client.get("/")


async def test_aclose_fails_queued_waiters_with_client_closed() -> None:
    inner = ScriptedTransport()
    client = RateLimitedAPIClient(
        "https://api.example", queue=QueueConfig(max_concurrency=1), transport=inner
    )
    outcomes: list[object] = []

    async def call(path: str) -> None:
        try:
            outcomes.append((await client.get(path)).status_code)
        except httpx.HTTPError as exc:
            outcomes.append(type(exc))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "/running")
            running = await inner.next_request()
            tg.start_soon(call, "/queued")
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(client.aclose)
            await anyio.wait_all_tasks_blocked()
            assert outcomes == [ClientClosedError]  # the waiter failed at once
            running.respond(200)  # the call in flight still gets its answer
    assert outcomes == [ClientClosedError, 200]
    assert client.is_closed
    assert client.get_metrics().active_requests == 0


async def test_aclose_with_grace_lets_in_flight_requests_finish() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    client = RateLimitedAPIClient("https://api.example", transport=inner, clock=clock)
    results: list[int] = []

    async def call() -> None:
        results.append((await client.get("/slow")).status_code)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            pending = await inner.next_request()
            tg.start_soon(partial(client.aclose, grace=30.0))
            await anyio.wait_all_tasks_blocked()
            assert not client.is_closed
            with pytest.raises(ClientClosedError):
                await client.get("/new")  # refused while draining
            pending.respond(200)
    assert results == [200]
    assert client.is_closed
    assert inner.closed == 1
    assert clock.now() == 0


async def test_aclose_grace_expires_on_the_clock() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    client = RateLimitedAPIClient("https://api.example", transport=inner, clock=clock)
    errors: list[type[BaseException]] = []

    async def call() -> None:
        try:
            await client.get("/hangs")
        except httpx.HTTPError as exc:
            errors.append(type(exc))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await inner.next_request()
            async with anyio.create_task_group() as closer:
                closer.start_soon(partial(client.aclose, grace=5.0))
                await anyio.wait_all_tasks_blocked()
                assert not client.is_closed
                clock.advance(4.9)
                await anyio.wait_all_tasks_blocked()
                assert errors == []  # still within the grace
                clock.advance(0.1)
            assert client.is_closed
            assert inner.closed == 1
    assert errors == [ClientClosedError]  # cancelled when the grace ran out


async def test_no_secret_in_our_logs_metrics_or_health(caplog: pytest.LogCaptureFixture) -> None:
    sentinel = "sentinel-4f1c9e"
    caplog.set_level(logging.DEBUG, logger="httpx_resilient")
    calls = 0

    async def provider() -> Token:
        return Token(f"tok-{sentinel}", 3600)

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(401 if calls == 1 else 503)

    async with RateLimitedAPIClient(
        "https://api.example",
        auth=TokenAuth(provider),
        cookies={"session": sentinel},
        retry_config=RetryConfig(max_retries=2, base_delay=0.1),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3),
        transport=httpx.MockTransport(handler),
        clock=FakeClock(autojump=True),
    ) as client:
        errors: list[str] = []
        for _ in range(3):
            try:
                await client.get("/data", params={"api_key": sentinel}, priority=1)
            except httpx.HTTPError as exc:
                errors.append(repr(exc) + str(exc))
        report = await client.health_check()
    assert errors  # the breaker opened
    assert not [e for e in errors if sentinel in e]
    assert report["status"] == "unhealthy"
    ours = [r for r in caplog.records if r.name.startswith("httpx_resilient")]
    assert ours, "the breaker and retries log events"
    for record in ours:
        assert sentinel not in record.getMessage()
        assert sentinel not in repr(record.__dict__)
    assert sentinel not in json.dumps(report)
