"""Token waits that would outlast ``max_wait`` or the budget fail at once, never wait.

A huge ``Retry-After`` (10,000 s, capped at ``max_pause``) must not stall requests that
have a bound: they fail with ``RateLimitExceeded`` / ``TimeoutBudgetExceeded`` carrying
``retry_after`` at once, queued or not, while the clock stands still. The pool timeout
bounds queue waits, not token waits.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import RateLimitExceeded, TimeoutBudgetExceeded
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient._stack import ResilientTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests._ratelimit_support import BACKENDS, backend_for, send, settle

pytestmark = pytest.mark.anyio

HUGE = {"Retry-After": "10000"}


async def paused(kind: str, **config: object) -> tuple[RateLimitTransport, FakeClock]:
    """A limiter whose key a 429 with ``Retry-After: 10000`` has just paused."""
    clock = FakeClock()
    statuses = [429]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(statuses.pop(0) if statuses else 200, headers=HUGE)

    cfg = RateLimitConfig(max_requests=10, backend=backend_for(kind), **config)  # type: ignore[arg-type]
    transport = RateLimitTransport(ScriptedTransport(answer), cfg, clock=clock)
    assert (await send(transport)).status_code == 429
    return transport, clock


@pytest.mark.parametrize("kind", BACKENDS)
async def test_retry_after_10000_s_fails_a_bounded_request_at_once(kind: str) -> None:
    transport, clock = await paused(kind, max_wait=30.0)
    with anyio.fail_after(5.0), pytest.raises(RateLimitExceeded) as info:
        await send(transport)
    assert clock.now() == 0.0  # nothing waited
    assert info.value.retry_after == pytest.approx(120.0)  # the pause, capped at max_pause
    assert transport.statistics().rejected == 1
    assert transport.statistics().waiters == 0


@pytest.mark.parametrize("kind", BACKENDS)
async def test_retry_after_10000_s_fails_a_budgeted_request_at_once(kind: str) -> None:
    transport, clock = await paused(kind)
    with anyio.fail_after(5.0), pytest.raises(TimeoutBudgetExceeded) as info:
        await send(transport, timeout_budget=5.0)
    assert clock.now() == 0.0
    assert info.value.retry_after == pytest.approx(120.0)
    assert "rate-limit token" in str(info.value)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_without_a_bound_the_wait_is_the_capped_pause(kind: str) -> None:
    transport, clock = await paused(kind, max_pause=50.0)
    clock.autojump = True
    response = await send(transport)
    assert response.extensions["rate_limit_wait"] == pytest.approx(50.0)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_queued_waiters_fail_at_once_when_a_huge_pause_lands(kind: str) -> None:
    """A waiter behind an unbounded head fails when the pause lands, not at its bound."""
    clock = FakeClock()
    inner = ScriptedTransport()
    cfg = RateLimitConfig(max_requests=1, backend=backend_for(kind))
    transport = RateLimitTransport(inner, cfg, clock=clock)
    outcomes: list[tuple[str, str, float, float | None]] = []

    async def one(name: str, **extensions: object) -> None:
        try:
            response = await send(transport, **extensions)
            outcomes.append((name, str(response.status_code), clock.now(), None))
        except (RateLimitExceeded, TimeoutBudgetExceeded) as exc:
            outcomes.append((name, type(exc).__name__, clock.now(), exc.retry_after))

    async with anyio.create_task_group() as group:
        group.start_soon(one, "first")
        pending = await inner.next_request()
        group.start_soon(one, "head")  # no bound: sleeps on the clock for its token
        await settle()
        group.start_soon(lambda: one("budget", timeout_budget=60.0, priority=-1))
        group.start_soon(lambda: one("unbounded", priority=-2))  # waits on
        await settle()
        assert transport.statistics().waiters == 3
        pending.respond(429, headers=HUGE)
        await settle()
        assert [o[:3] for o in outcomes] == [
            ("first", "429", 0.0),
            ("budget", "TimeoutBudgetExceeded", 0.0),
        ]
        group.cancel_scope.cancel()
    assert outcomes[1][3] == pytest.approx(120.0)
    assert transport.statistics().waiters == 0


async def test_a_bounded_waiter_behind_others_is_refused_when_the_pause_lands() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    cfg = RateLimitConfig(max_requests=1, max_wait=30.0)
    transport = RateLimitTransport(inner, cfg, clock=clock)
    errors: list[float | None] = []

    async def bounded() -> None:
        try:
            await send(transport, priority=-1)
        except RateLimitExceeded as exc:
            errors.append(exc.retry_after)

    async with anyio.create_task_group() as group:
        group.start_soon(send, transport)
        pending = await inner.next_request()
        group.start_soon(bounded)  # the head: sleeps 1 s for its token
        group.start_soon(bounded)  # behind it, on its event
        await settle()
        pending.respond(429, headers=HUGE)
        await settle()
        assert clock.now() == 0.0
        assert len(errors) == 2  # both refused when the pause landed
    assert errors == [pytest.approx(120.0), pytest.approx(120.0)]
    assert transport.statistics().waiters == 0


async def test_the_pool_timeout_does_not_bound_token_waits() -> None:
    clock = FakeClock(autojump=True)
    stack = ResilientTransport(
        rate_limit=RateLimitConfig(max_requests=1, window_seconds=2.0),
        queue=QueueConfig(max_concurrency=1),
        retry=False,
        inner=httpx.MockTransport(lambda request: httpx.Response(200)),
        clock=clock,
    )
    timeout = httpx.Timeout(5.0, pool=0.01).as_dict()
    for _ in range(3):
        response = await send(stack, timeout=timeout)
        assert response.status_code == 200
    assert clock.now() == pytest.approx(4.0)  # two token waits of 2 s, far past pool=0.01
