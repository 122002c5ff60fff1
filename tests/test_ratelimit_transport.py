"""RateLimitTransport: token accounting, keys, priority order, max_wait, deadlines, limits."""

from __future__ import annotations

from functools import partial

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import ConfigError, RateLimitExceeded, TimeoutBudgetExceeded
from httpx_resilient._ratelimit.backend import InProcessBackend
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests._ratelimit_support import (
    BACKENDS,
    AsyncBackend,
    backend_for,
    bucket,
    ok,
    send,
    settle,
)

pytestmark = pytest.mark.anyio


def limiter(
    kind: str = "in-process",
    clock: FakeClock | None = None,
    handler: object = ok,
    **config: object,
) -> RateLimitTransport:
    config.setdefault("max_requests", 1)
    cfg = RateLimitConfig(backend=backend_for(kind), **config)  # type: ignore[arg-type]
    return RateLimitTransport(httpx.MockTransport(handler), cfg, clock=clock or FakeClock())  # type: ignore[arg-type]


# -- token accounting -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_full_bucket_passes_then_requests_wait_for_refill(kind: str) -> None:
    clock = FakeClock(autojump=True)
    transport = limiter(kind, clock, max_requests=2, burst=3)
    waits = [(await send(transport)).extensions["rate_limit_wait"] for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.5), pytest.approx(0.5)]
    assert clock.now() == pytest.approx(1.0)
    stats = transport.statistics()
    assert stats.waits == 2
    assert stats.total_wait == pytest.approx(1.0)
    assert stats.waiters == 0
    assert stats.rejected == 0
    assert bucket(transport, "a.test").tokens == pytest.approx(0.0)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_refill_is_lazy_and_capped(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock, max_requests=1, burst=2)
    await send(transport)
    await send(transport)
    clock.advance(100.0)
    assert bucket(transport, "a.test").tokens == 2.0
    assert clock.sleepers == 0  # nothing runs in the background
    for _ in range(2):
        assert (await send(transport)).extensions["rate_limit_wait"] == 0.0


async def test_statistics_describe_each_bucket() -> None:
    clock = FakeClock()
    transport = limiter(clock=clock, max_requests=10, window_seconds=2.0, burst=4)
    await send(transport, "http://a.test:8080/x")
    (state,) = transport.statistics().buckets
    assert (state.limit_index, state.key, state.capacity) == (0, "a.test:8080", 4.0)
    assert (state.tokens, state.rate, state.paused_until) == (3.0, 5.0, None)
    assert transport.limits[0].rate == 5.0
    assert isinstance(transport.backend, InProcessBackend)


# -- keys -------------------------------------------------------------------------------------


async def test_host_key_gives_each_host_its_own_bucket() -> None:
    transport = limiter(max_requests=1, max_wait=0.0)
    for url in ("http://a.test/", "http://b.test/", "http://a.test:81/", "https://c.test/x"):
        await send(transport, url)
    with pytest.raises(RateLimitExceeded):
        await send(transport, "http://a.test/other")
    keys = {b.key for b in transport.statistics().buckets}
    assert keys == {"a.test", "b.test", "a.test:81", "c.test"}


async def test_global_key_shares_one_bucket() -> None:
    transport = limiter(max_requests=1, max_wait=0.0, key="global")
    await send(transport, "http://a.test/")
    with pytest.raises(RateLimitExceeded):
        await send(transport, "http://b.test/")
    assert [b.key for b in transport.statistics().buckets] == ["global"]


async def test_callable_key_and_per_request_override() -> None:
    def tenant(request: httpx.Request) -> str:
        return request.url.params.get("tenant", "none")

    transport = limiter(max_requests=1, max_wait=0.0, key=tenant)
    await send(transport, "http://a.test/?tenant=x")
    await send(transport, "http://a.test/?tenant=y")
    with pytest.raises(RateLimitExceeded):
        await send(transport, "http://b.test/?tenant=x")
    await send(transport, "http://a.test/?tenant=x", rate_limit_key="special")
    keys = {b.key for b in transport.statistics().buckets}
    assert keys == {"x", "y", "special"}


async def test_bad_key_override_is_a_config_error() -> None:
    transport = limiter()
    with pytest.raises(ConfigError) as info:
        await send(transport, rate_limit_key=42)
    assert info.value.field == "extensions.rate_limit_key"


# -- priority ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_waiters_go_by_priority_then_arrival(kind: str) -> None:
    clock = FakeClock()
    served: list[tuple[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append((str(request.extensions["name"]), clock.now()))
        return httpx.Response(200)

    transport = limiter(kind, clock, handler, max_requests=1)
    await send(transport, name="first")
    async with anyio.create_task_group() as group:
        for name, priority in [("a0", 0), ("b5", 5), ("c0", 0), ("d10", 10), ("e5", 5)]:
            group.start_soon(partial(send, transport, name=name, priority=priority))
            await settle()
        assert transport.statistics().waiters == 5
        assert clock.sleepers <= 3  # heads only (a newcomer that jumps the queue sleeps too)
        for _ in range(5):
            clock.advance(1.0)
            await settle()
    assert served == [
        ("first", 0.0),
        ("d10", 1.0),
        ("b5", 2.0),
        ("e5", 3.0),
        ("a0", 4.0),
        ("c0", 5.0),
    ]
    stats = transport.statistics()
    assert (stats.waiters, stats.waits) == (0, 5)
    assert stats.total_wait == pytest.approx(1 + 2 + 3 + 4 + 5)


async def test_many_waiters_one_sleeper() -> None:
    clock = FakeClock()
    transport = limiter(clock=clock, max_requests=128, burst=1)  # 1/128 s: exact in binary
    await send(transport)
    done: list[float] = []

    async def one() -> None:
        response = await send(transport)
        done.append(response.extensions["rate_limit_wait"])

    async with anyio.create_task_group() as group:
        for _ in range(200):
            group.start_soon(one)
        await settle()
        for step in range(200):
            assert clock.sleepers == 1  # only the head of the queue is on the clock
            assert len(done) == step
            clock.advance(1 / 128)
            await settle()
    assert len(done) == 200
    assert max(done) == pytest.approx(200 / 128)
    assert transport.statistics().waiters == 0


async def test_bad_priority_is_a_config_error_when_waiting() -> None:
    transport = limiter()
    await send(transport)
    with pytest.raises(ConfigError) as info:
        await send(transport, priority="high")
    assert info.value.field == "extensions.priority"
    assert transport.statistics().waiters == 0


# -- max_wait and the timeout budget ----------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_max_wait_refuses_at_once_with_the_needed_wait(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock, max_requests=1, max_wait=0.5)
    await send(transport)
    clock.advance(0.25)
    with pytest.raises(RateLimitExceeded) as info:
        await send(transport)
    assert info.value.retry_after == pytest.approx(0.75)
    assert info.value.request.url == "http://a.test/"
    assert clock.now() == 0.25
    stats = transport.statistics()
    assert (stats.rejected, stats.waiters, stats.waits) == (1, 0, 0)
    assert stats.buckets[0].tokens == pytest.approx(0.25)  # nothing taken
    clock.advance(0.75)
    assert (await send(transport)).extensions["rate_limit_wait"] == 0.0


@pytest.mark.parametrize("kind", BACKENDS)
async def test_max_wait_counts_the_waiters_ahead(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock, max_requests=1, max_wait=1.5)
    await send(transport)
    outcomes: list[object] = []

    async def one(name: str, priority: int) -> None:
        try:
            response = await send(transport, priority=priority)
            outcomes.append((name, response.extensions["rate_limit_wait"]))
        except RateLimitExceeded as exc:
            outcomes.append((name, "refused", exc.retry_after))

    async with anyio.create_task_group() as group:
        group.start_soon(one, "first", 0)
        await settle()
        group.start_soon(one, "second", 0)  # two tokens away: 2 s > 1.5 s
        await settle()
        group.start_soon(one, "urgent", 1)  # ahead of the queue: 1 s is fine
        await settle()
        for _ in range(2):
            clock.advance(1.0)
            await settle()
    assert outcomes == [
        ("second", "refused", pytest.approx(2.0)),
        ("urgent", pytest.approx(1.0)),
        # overtaken: its total wait would now be 2 s, so it is refused once that is known
        ("first", "refused", pytest.approx(1.0)),
    ]
    assert transport.statistics().rejected == 2


async def test_max_wait_zero_never_waits() -> None:
    transport = limiter(max_requests=5, max_wait=0)
    for _ in range(5):
        await send(transport)
    with pytest.raises(RateLimitExceeded) as info:
        await send(transport)
    assert info.value.retry_after == pytest.approx(0.2)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_timeout_budget_shorter_than_the_wait_fails_at_once(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock, max_requests=1)
    await send(transport)
    with pytest.raises(TimeoutBudgetExceeded) as info:
        await send(transport, timeout_budget=0.5)
    assert isinstance(info.value, httpx.TimeoutException)
    assert info.value.retry_after == pytest.approx(1.0)
    assert clock.now() == 0.0
    assert transport.statistics().rejected == 0
    assert transport.statistics().waiters == 0


async def test_timeout_budget_long_enough_waits() -> None:
    clock = FakeClock(autojump=True)
    transport = limiter(clock=clock, max_requests=1)
    await send(transport)
    response = await send(transport, timeout_budget=1.0)
    assert response.extensions["rate_limit_wait"] == pytest.approx(1.0)


async def test_bad_timeout_budget_is_a_config_error_when_waiting() -> None:
    transport = limiter()
    await send(transport)
    with pytest.raises(ConfigError):
        await send(transport, timeout_budget=-1)
    assert transport.statistics().waiters == 0


# -- several limits -----------------------------------------------------------------------------


def two_limits(kind: str) -> list[RateLimitConfig]:
    backend = backend_for(kind)
    return [
        # per host: 1/s; global: 4 at once, then one per 100 s
        RateLimitConfig(max_requests=1, backend=backend),
        RateLimitConfig(max_requests=0.01, burst=4, key="global", backend=backend),
    ]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_waiting_on_one_limit_burns_no_token_of_another(kind: str) -> None:
    clock = FakeClock()
    transport = RateLimitTransport(httpx.MockTransport(ok), two_limits(kind), clock=clock)
    await send(transport, "http://a.test/")
    async with anyio.create_task_group() as group:
        group.start_soon(send, transport, "http://a.test/")
        await settle()
        assert transport.statistics().waiters == 1
        assert bucket(transport, "global", 1).tokens == pytest.approx(3.0)
        await send(transport, "http://b.test/")  # other host: goes at once
        assert bucket(transport, "global", 1).tokens == pytest.approx(2.0)
        clock.advance(1.0)
    assert bucket(transport, "global", 1).tokens == pytest.approx(1.01)
    assert bucket(transport, "a.test", 0).tokens == pytest.approx(0.0)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_request_waits_for_the_slowest_limit(kind: str) -> None:
    clock = FakeClock(autojump=True)
    transport = RateLimitTransport(httpx.MockTransport(ok), two_limits(kind), clock=clock)
    for host in "abcd":
        await send(transport, f"http://{host}.test/")
    response = await send(transport, "http://e.test/")
    assert response.extensions["rate_limit_wait"] == pytest.approx(100.0)
    assert bucket(transport, "e.test", 0).tokens == pytest.approx(0.0)


async def test_max_wait_of_several_limits_is_the_smallest() -> None:
    transport = RateLimitTransport(
        httpx.MockTransport(ok),
        [
            RateLimitConfig(max_requests=1, max_wait=5),
            RateLimitConfig(max_requests=1, max_wait=0.5),
        ],
        clock=FakeClock(),
    )
    await send(transport)
    with pytest.raises(RateLimitExceeded):
        await send(transport)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_requests": 0}, "RateLimitConfig.max_requests"),
        ({"max_requests": 10, "window_seconds": -1}, "RateLimitConfig.window_seconds"),
        ({"max_requests": 10, "burst": 0}, "RateLimitConfig.burst"),
        ({"max_requests": 10, "key": "path"}, "RateLimitConfig.key"),
        ({"max_requests": 10, "max_wait": -1}, "RateLimitConfig.max_wait"),
        ({"max_requests": 10, "adaptive": "yes"}, "RateLimitConfig.adaptive"),
        ({"max_requests": 10, "max_pause": 0}, "RateLimitConfig.max_pause"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitTransport(httpx.MockTransport(ok), RateLimitConfig(**kwargs))  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([], "RateLimitTransport.config"),
        ("10/s", "RateLimitTransport.config"),
        ([RateLimitConfig(max_requests=1), "x"], "RateLimitTransport.config"),
        (RateLimitConfig(max_requests=1, backend=object()), "RateLimitConfig.backend"),
        (
            [
                RateLimitConfig(max_requests=1, backend=InProcessBackend()),
                RateLimitConfig(max_requests=1, backend=InProcessBackend()),
            ],
            "RateLimitConfig.backend",
        ),
    ],
)
def test_bad_transport_config_names_the_field(config: object, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RateLimitTransport(httpx.MockTransport(ok), config)  # type: ignore[arg-type]
    assert info.value.field == field


def test_inner_must_be_a_transport() -> None:
    with pytest.raises(TypeError):
        RateLimitTransport(object(), RateLimitConfig(max_requests=1))  # type: ignore[arg-type]


async def test_a_shared_backend_shares_the_quota_between_transports() -> None:
    shared = InProcessBackend()
    config = RateLimitConfig(max_requests=1, max_wait=0, backend=shared)
    one = RateLimitTransport(httpx.MockTransport(ok), config, clock=FakeClock())
    two = RateLimitTransport(httpx.MockTransport(ok), config, clock=FakeClock())
    await send(one)
    with pytest.raises(RateLimitExceeded):
        await send(two)


async def test_an_object_may_hand_over_its_rate_limit_backend() -> None:
    store = AsyncBackend()

    class Shared:
        def rate_limit_backend(self) -> AsyncBackend:
            return store

    transport = RateLimitTransport(
        httpx.MockTransport(ok),
        RateLimitConfig(max_requests=1, backend=Shared()),
        clock=FakeClock(),
    )
    await send(transport)
    assert transport.backend is store
    assert store.calls["try_acquire"] == 1


# -- lifecycle and pass-through ---------------------------------------------------------------


async def test_lifecycle_is_forwarded_once() -> None:
    inner = ScriptedTransport(ok)
    transport = RateLimitTransport(inner, RateLimitConfig(max_requests=5))
    async with transport:
        pass
    assert (inner.entered, inner.exited, inner.closed) == (1, 1, 1)
    await transport.aclose()
    assert inner.closed == 2


async def test_through_a_client_and_errors_pass_through() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201)

    transport = RateLimitTransport(
        httpx.MockTransport(handler), RateLimitConfig(max_requests=10), clock=FakeClock()
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://a.test") as client:
        response = await client.get("/x", extensions={"priority": 3})
        assert response.status_code == 201
        assert response.extensions["rate_limit_wait"] == 0.0
        with pytest.raises(httpx.ConnectError):
            await client.get("/x")
    assert bucket(transport, "a.test").tokens == pytest.approx(8.0)  # a failed attempt paid too
