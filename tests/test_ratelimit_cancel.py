"""Cancelled and timed-out waiters: no token lost or leaked, the next waiter is served."""

from __future__ import annotations

from functools import partial

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import ClientClosedError, RateLimitExceeded, TimeoutBudgetExceeded
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests._ratelimit_support import BACKENDS, backend_for, bucket, send, settle

pytestmark = pytest.mark.anyio


class Recorder:
    """Inner handler recording which named request reached the network, and when."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.served: list[tuple[str, float]] = []
        self.on_request: dict[str, anyio.CancelScope] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        name = str(request.extensions.get("name", "?"))
        self.served.append((name, self.clock.now()))
        scope = self.on_request.pop(name, None)
        if scope is not None:  # cancel another waiter right as this one is granted
            scope.cancel()
        return httpx.Response(200)


def setup(kind: str, **config: object) -> tuple[RateLimitTransport, FakeClock, Recorder]:
    clock = FakeClock()
    recorder = Recorder(clock)
    config.setdefault("max_requests", 1)
    cfg = RateLimitConfig(backend=backend_for(kind), **config)  # type: ignore[arg-type]
    return RateLimitTransport(httpx.MockTransport(recorder), cfg, clock=clock), clock, recorder


async def cancellable(
    group: anyio.abc.TaskGroup, transport: RateLimitTransport, name: str, **extensions: object
) -> anyio.CancelScope:
    """Start a request in its own cancel scope; return the scope once it waits."""
    scope = anyio.CancelScope()

    async def run() -> None:
        with scope:
            await send(transport, name=name, **extensions)

    group.start_soon(run)
    await settle()
    return scope


def assert_no_leak(transport: RateLimitTransport) -> None:
    stats = transport.statistics()
    assert stats.waiters == 0
    assert transport._queues == {}


@pytest.mark.parametrize("kind", BACKENDS)
async def test_cancelled_head_leaves_its_token_to_the_next(kind: str) -> None:
    transport, clock, recorder = setup(kind)
    await send(transport, name="first")
    async with anyio.create_task_group() as group:
        head = await cancellable(group, transport, "head")
        await cancellable(group, transport, "next")
        clock.advance(0.5)
        await settle()
        head.cancel()
        await settle()
        assert transport.statistics().waiters == 1
        assert bucket(transport, "a.test").tokens == pytest.approx(0.5)
        clock.advance(0.5)
    assert recorder.served == [("first", 0.0), ("next", 1.0)]
    assert bucket(transport, "a.test").tokens == pytest.approx(0.0)
    assert transport.statistics().waits == 1
    assert_no_leak(transport)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_cancelled_in_the_same_iteration_as_its_wake_up(kind: str) -> None:
    transport, clock, recorder = setup(kind)
    await send(transport, name="first")
    async with anyio.create_task_group() as group:
        head = await cancellable(group, transport, "head")
        await cancellable(group, transport, "next")
        clock.advance(1.0)  # the head's token is due now ...
        head.cancel()  # ... and it is cancelled before it could run
        await settle()
    assert recorder.served == [("first", 0.0), ("next", 1.0)]
    assert bucket(transport, "a.test").tokens == pytest.approx(0.0)
    assert_no_leak(transport)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_wake_up_landing_on_a_cancelled_waiter_passes_on(kind: str) -> None:
    transport, clock, recorder = setup(kind)
    await send(transport, name="first")
    async with anyio.create_task_group() as group:
        await cancellable(group, transport, "head")
        second = await cancellable(group, transport, "second")
        await cancellable(group, transport, "third")
        recorder.on_request["head"] = second  # the head's grant wakes "second": cancel it then
        clock.advance(1.0)
        await settle()
        assert transport.statistics().waiters == 1
        assert bucket(transport, "a.test").tokens == pytest.approx(0.0)
        clock.advance(1.0)
    assert recorder.served == [("first", 0.0), ("head", 1.0), ("third", 2.0)]
    assert transport.statistics().waits == 2
    assert_no_leak(transport)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_cancelling_every_waiter_leaves_a_clean_limiter(kind: str) -> None:
    transport, clock, recorder = setup(kind, max_requests=2)
    await send(transport, name="a")
    await send(transport, name="b")
    async with anyio.create_task_group() as group:
        scopes = [await cancellable(group, transport, f"w{i}", priority=i % 3) for i in range(10)]
        assert transport.statistics().waiters == 10
        for scope in scopes[::2] + scopes[1::2]:
            scope.cancel()
            await settle()
    assert_no_leak(transport)
    assert clock.sleepers == 0
    clock.advance(1.0)
    assert bucket(transport, "a.test").tokens == pytest.approx(2.0)
    assert (await send(transport, name="after")).extensions["rate_limit_wait"] == 0.0
    assert [name for name, _ in recorder.served] == ["a", "b", "after"]


@pytest.mark.parametrize("kind", BACKENDS)
async def test_cancelled_waiter_of_several_limits_takes_nothing_anywhere(kind: str) -> None:
    clock = FakeClock()
    backend = backend_for(kind)
    transport = RateLimitTransport(
        httpx.MockTransport(Recorder(clock)),
        [
            RateLimitConfig(max_requests=1, backend=backend),
            RateLimitConfig(max_requests=1, burst=5, key="global", backend=backend),
        ],
        clock=clock,
    )
    await send(transport)
    async with anyio.create_task_group() as group:
        scope = await cancellable(group, transport, "w")
        clock.advance(0.5)
        await settle()
        scope.cancel()
    assert bucket(transport, "global", 1).tokens == pytest.approx(4.5)
    assert bucket(transport, "a.test", 0).tokens == pytest.approx(0.5)
    assert_no_leak(transport)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_cancelled_waiter_with_a_deadline_leaves_no_alarm(kind: str) -> None:
    transport, clock, _ = setup(kind)
    await send(transport)
    async with anyio.create_task_group() as group:
        await cancellable(group, transport, "head")
        waiter = await cancellable(group, transport, "budgeted", timeout_budget=50.0)
        assert clock.sleepers == 2  # the head, and the budgeted waiter's deadline
        waiter.cancel()
        await settle()
        assert clock.sleepers == 1
        clock.advance(1.0)
    assert_no_leak(transport)
    assert clock.sleepers == 0


# -- waits of unknown length end at the deadline ----------------------------------------------


async def paused_queue(
    kind: str, *, max_wait: float | None = None, **extensions: object
) -> tuple[RateLimitTransport, list[object]]:
    """While two requests wait, one in flight gets a 429 pausing the key for 30 s.

    The head waits without a budget; the second waiter carries ``extensions``. Time then
    moves to 3 s, and whoever still waits is cancelled.
    """
    clock = FakeClock()
    inner = ScriptedTransport()
    cfg = RateLimitConfig(max_requests=1, backend=backend_for(kind), max_wait=max_wait)
    transport = RateLimitTransport(inner, cfg, clock=clock)
    outcomes: list[object] = []

    async def one(name: str, **ext: object) -> None:
        try:
            response = await transport.handle_async_request(
                httpx.Request("GET", "http://a.test/", extensions=ext)
            )
            outcomes.append((name, response.status_code, clock.now()))
        except (RateLimitExceeded, TimeoutBudgetExceeded) as exc:
            outcomes.append((name, type(exc).__name__, clock.now(), exc.retry_after))

    async with anyio.create_task_group() as group:
        group.start_soon(one, "first")
        pending = await inner.next_request()
        group.start_soon(one, "head")
        await settle()
        group.start_soon(lambda: one("limited", **extensions))
        await settle()
        assert transport.statistics().waiters == 2
        pending.respond(429, headers={"Retry-After": "30"})
        await settle()
        clock.advance(1.0)  # the head wakes and finds the pause
        await settle()
        clock.advance(2.0)
        await settle()
        group.cancel_scope.cancel()
    assert_no_leak(transport)
    return transport, outcomes


@pytest.mark.parametrize("kind", BACKENDS)
async def test_queued_waiter_fails_when_its_budget_ends(kind: str) -> None:
    transport, outcomes = await paused_queue(kind, timeout_budget=3.0)
    assert outcomes == [
        ("first", 429, 0.0),
        # refused as the pause lands: 30 s of it alone outlast the 3 s budget
        ("limited", "TimeoutBudgetExceeded", 0.0, pytest.approx(30.0)),
    ]
    assert transport.statistics().rejected == 0


@pytest.mark.parametrize("kind", BACKENDS)
async def test_waiters_fail_as_soon_as_a_pause_breaks_max_wait(kind: str) -> None:
    transport, outcomes = await paused_queue(kind, max_wait=3.0)
    assert outcomes == [  # both refused as the pause lands, not when they wake
        ("first", 429, 0.0),
        ("head", "RateLimitExceeded", 0.0, pytest.approx(30.0)),
        ("limited", "RateLimitExceeded", 0.0, pytest.approx(30.0)),
    ]
    assert transport.statistics().rejected == 2


async def test_head_with_a_budget_fails_at_once_when_a_pause_makes_it_too_long() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    transport = RateLimitTransport(inner, RateLimitConfig(max_requests=1), clock=clock)
    errors: list[BaseException] = []

    async def budgeted() -> None:
        try:
            await send(transport, timeout_budget=5.0)
        except TimeoutBudgetExceeded as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(send, transport)
        pending = await inner.next_request()
        group.start_soon(budgeted)
        await settle()
        pending.respond(429, headers={"Retry-After": "30"})
        await settle()  # refused as the pause lands, while it slept for its token
        assert len(errors) == 1
    assert clock.now() == 0.0
    assert errors[0].retry_after == pytest.approx(30.0)  # type: ignore[attr-defined]
    assert_no_leak(transport)


# -- closing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("how", ["aclose", "aexit"])
async def test_closing_fails_every_waiter_at_once(kind: str, how: str) -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200))
    clock = FakeClock()
    cfg = RateLimitConfig(max_requests=1, backend=backend_for(kind))
    transport = RateLimitTransport(inner, cfg, clock=clock)
    await send(transport)
    errors: list[str] = []

    async def waiting(**extensions: object) -> None:
        try:
            await send(transport, **extensions)
        except ClientClosedError:
            errors.append("closed")

    async with anyio.create_task_group() as group:
        group.start_soon(waiting)  # the head, asleep on the clock
        await settle()
        group.start_soon(partial(waiting, priority=-1))  # behind it, on its event
        await settle()
        group.start_soon(partial(waiting, priority=-2, timeout_budget=60.0))  # with an alarm
        await settle()
        assert transport.statistics().waiters == 3
        if how == "aclose":
            await transport.aclose()
        else:
            await transport.__aexit__(None, None, None)
        await settle()
    assert errors == ["closed"] * 3
    assert clock.now() == 0.0
    assert_no_leak(transport)
    assert clock.sleepers == 0
    assert (inner.closed, inner.exited) == ((1, 0) if how == "aclose" else (1, 1))
    with pytest.raises(ClientClosedError):
        await send(transport)
    assert inner.calls == 1
