"""CircuitBreakerTransport with a FakeClock and a scripted inner transport."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.transport import CircuitBreakerTransport, default_is_failure
from httpx_resilient._core.errors import (
    CircuitOpenError,
    ConfigError,
    RateLimitExceeded,
    TimeoutBudgetExceeded,
)
from httpx_resilient._core.snapshots import CircuitState
from httpx_resilient.testing import FakeClock, ScriptedTransport

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup

pytestmark = pytest.mark.anyio

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
URL = "http://example.com/thing"
KEY = "example.com"


class Outcomes:
    """A handler that answers each request with the next scripted status or exception."""

    def __init__(self, *items: int | BaseException) -> None:
        self.items = list(items)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        item = self.items.pop(0) if len(self.items) > 1 else self.items[0]
        if isinstance(item, BaseException):
            raise item
        return httpx.Response(item, request=request)


def build(
    *outcomes: int | BaseException, clock: FakeClock | None = None, **config: Any
) -> tuple[CircuitBreakerTransport, ScriptedTransport, FakeClock]:
    clock = clock or FakeClock()
    inner = ScriptedTransport(Outcomes(*outcomes) if outcomes else None)
    breaker = CircuitBreakerTransport(inner, CircuitBreakerConfig(**config), clock=clock)
    return breaker, inner, clock


async def send(breaker: CircuitBreakerTransport, url: str = URL) -> httpx.Response:
    return await breaker.handle_async_request(httpx.Request("GET", url))


async def outcome(breaker: CircuitBreakerTransport, url: str = URL) -> int | str:
    """Status code, or the exception's class name."""
    try:
        return (await send(breaker, url)).status_code
    except Exception as exc:
        return type(exc).__name__


async def test_open_fails_fast_with_decreasing_retry_after() -> None:
    breaker, inner, clock = build(500, failure_threshold=2, recovery_timeout=10.0)
    assert [await outcome(breaker) for _ in range(2)] == [500, 500]
    request = httpx.Request("GET", "http://user:s3cret@example.com/x?token=t0ps3cret")
    with pytest.raises(CircuitOpenError) as first:
        await breaker.handle_async_request(request)
    assert first.value.retry_after == 10.0
    assert first.value.request is request
    message = str(first.value)
    assert "'example.com'" in message
    assert "s3cret" not in message
    assert "t0ps3cret" not in message
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as later:
        await send(breaker)
    assert later.value.retry_after == 6.0
    assert inner.calls == 2  # refusals never reach the inner transport
    stats = breaker.statistics()
    assert (stats.opens, stats.rejected, stats.calls_in_flight) == (1, 2, 0)
    assert stats.states == {KEY: OPEN}


@pytest.mark.parametrize("status", [400, 404, 429, 499])
async def test_4xx_are_not_failures(status: int) -> None:
    breaker, _, _ = build(status, failure_threshold=1)
    for _ in range(5):
        assert await outcome(breaker) == status
    assert breaker.state(KEY) is CLOSED


async def test_a_4xx_ends_a_run_of_failures() -> None:
    breaker, _, _ = build(500, 429, 500, 200, failure_threshold=2)
    assert [await outcome(breaker) for _ in range(3)] == [500, 429, 500]
    assert breaker.state(KEY) is CLOSED


@pytest.mark.parametrize(
    "failure",
    [
        500,
        503,
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        ConnectionResetError("reset"),
    ],
    ids=repr,
)
async def test_5xx_network_errors_and_timeouts_are_failures(
    failure: int | BaseException,
) -> None:
    breaker, inner, _ = build(failure, failure_threshold=3)
    expected = failure if isinstance(failure, int) else type(failure).__name__
    for _ in range(3):
        assert await outcome(breaker) == expected  # passed on unchanged
    assert breaker.state(KEY) is OPEN
    assert await outcome(breaker) == "CircuitOpenError"
    assert inner.calls == 3


@pytest.mark.parametrize(
    "local",
    [
        RateLimitExceeded("no token", retry_after=1.0),
        TimeoutBudgetExceeded("budget"),
        httpx.UnsupportedProtocol("ftp"),
        httpx.PoolTimeout("our own pool is full"),
        RuntimeError("a bug below"),
    ],
    ids=repr,
)
async def test_local_errors_are_neither_and_free_the_probe_slot(local: Exception) -> None:
    breaker, inner, clock = build(local, failure_threshold=1, recovery_timeout=1.0)
    for _ in range(3):
        assert await outcome(breaker) == type(local).__name__
    assert breaker.state(KEY) is CLOSED
    breaker.force_open(KEY)
    clock.advance(1.0)
    for _ in range(3):  # each probe is admitted in turn: the slot comes back every time
        assert await outcome(breaker) == type(local).__name__
    assert breaker.state(KEY) is HALF_OPEN
    assert breaker.statistics().probes_in_flight == 0
    assert inner.calls == 6


async def test_is_failure_replaces_the_default_rule() -> None:
    def only_404(outcome: httpx.Response | BaseException) -> bool:
        return isinstance(outcome, httpx.Response) and outcome.status_code == 404

    breaker, _, _ = build(
        500, 500, httpx.ConnectError("x"), 404, failure_threshold=1, is_failure=only_404
    )
    assert [await outcome(breaker) for _ in range(3)] == [500, 500, "ConnectError"]
    assert breaker.state(KEY) is CLOSED
    assert await outcome(breaker) == 404
    assert breaker.state(KEY) is OPEN


async def test_is_failure_error_closes_the_response_and_frees_the_probe() -> None:
    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"x"

        async def aclose(self) -> None:
            closed.append(True)

    def broken(outcome: httpx.Response | BaseException) -> bool:
        raise ValueError("bad predicate")

    inner = ScriptedTransport(lambda request: httpx.Response(200, stream=Body()))
    clock = FakeClock()
    config = CircuitBreakerConfig(is_failure=broken, recovery_timeout=1.0)
    breaker = CircuitBreakerTransport(inner, config, clock=clock)
    breaker.force_open(KEY)
    clock.advance(1.0)
    with pytest.raises(ValueError, match="bad predicate"):
        await send(breaker)
    assert closed == [True]
    stats = breaker.statistics()
    assert (stats.probes_in_flight, stats.calls_in_flight) == (0, 0)


async def test_per_host_isolation() -> None:
    breaker, inner, _ = build(500, failure_threshold=1)
    assert await outcome(breaker, "http://a.example/") == 500
    assert await outcome(breaker, "http://a.example/other") == "CircuitOpenError"
    assert await outcome(breaker, "http://b.example/") == 500  # b has its own breaker
    assert await outcome(breaker, "http://a.example:8080/") == 500  # and so has a port
    assert breaker.state("a.example") is OPEN
    assert breaker.state("a.example:8080") is OPEN
    assert breaker.state("never.example") is CLOSED
    assert inner.calls == 3


@pytest.mark.parametrize(
    ("per", "b_outcome"),
    [("global", "CircuitOpenError"), (lambda r: r.url.path.split("/")[1], 500)],
    ids=["global", "callable"],
)
async def test_per_global_and_callable(per: Any, b_outcome: int | str) -> None:
    breaker, _, _ = build(500, failure_threshold=1, per=per)
    assert await outcome(breaker, "http://a.example/one/x") == 500
    assert await outcome(breaker, "http://b.example/two/x") == b_outcome


async def test_exactly_max_calls_probes_reach_inner_among_20_concurrent() -> None:
    breaker, inner, clock = build(
        failure_threshold=1, recovery_timeout=5.0, half_open_max_calls=3, success_threshold=3
    )
    breaker.force_open(KEY)
    clock.advance(5.0)
    results: list[int | str] = []

    async def one() -> None:
        results.append(await outcome(breaker))

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        assert inner.in_flight == 3
        assert results == ["CircuitOpenError"] * 17
        stats = breaker.statistics()
        assert (stats.probes_in_flight, stats.calls_in_flight, stats.rejected) == (3, 3, 17)
        assert stats.states == {KEY: HALF_OPEN}
        for _ in range(3):
            (await inner.next_request()).respond(200)
    assert sorted(results, key=str) == [200] * 3 + ["CircuitOpenError"] * 17
    assert inner.calls == 3
    assert breaker.state(KEY) is CLOSED


async def test_busy_probe_slot_refusal_has_no_retry_after() -> None:
    breaker, inner, clock = build(recovery_timeout=1.0)
    breaker.force_open(KEY)
    clock.advance(1.0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome, breaker)
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(CircuitOpenError, match="probe slot") as busy:
            await send(breaker)
        assert busy.value.retry_after is None
        (await inner.next_request()).fail(httpx.ConnectError("down"))
    assert breaker.state(KEY) is OPEN  # the probe failed: open again, fresh timeout
    with pytest.raises(CircuitOpenError) as again:
        await send(breaker)
    assert again.value.retry_after == 1.0


async def test_cancelled_probe_frees_its_slot() -> None:
    breaker, inner, clock = build(recovery_timeout=1.0)
    breaker.force_open(KEY)
    clock.advance(1.0)
    scope = anyio.CancelScope()

    async def probe() -> None:
        with scope:
            await send(breaker)

    async with anyio.create_task_group() as tg:
        tg.start_soon(probe)
        await anyio.wait_all_tasks_blocked()
        assert breaker.statistics().probes_in_flight == 1
        assert await outcome(breaker) == "CircuitOpenError"  # the one slot is taken
        scope.cancel()
    assert scope.cancelled_caught
    stats = breaker.statistics()
    assert (stats.probes_in_flight, stats.calls_in_flight) == (0, 0)
    assert breaker.state(KEY) is HALF_OPEN  # cancelled: neither success nor failure
    await inner.next_request()  # the cancelled probe's, never answered
    async with anyio.create_task_group() as tg:
        tg.start_soon(send, breaker)
        await anyio.wait_all_tasks_blocked()
        assert inner.in_flight == 1  # a new probe was admitted
        (await inner.next_request()).respond(200)
    assert breaker.state(KEY) is CLOSED


async def test_probe_cancelled_before_it_reaches_inner_frees_its_slot() -> None:
    breaker, inner, clock = build(recovery_timeout=1.0)
    breaker.force_open(KEY)
    clock.advance(1.0)
    with anyio.CancelScope() as scope:
        scope.cancel()  # admitted synchronously, cancelled at the first checkpoint
        await send(breaker)
    assert scope.cancelled_caught
    assert breaker.statistics().probes_in_flight == 0
    await inner.next_request()  # the cancelled probe's, never answered
    async with anyio.create_task_group() as tg:
        tg.start_soon(send, breaker)
        await anyio.wait_all_tasks_blocked()
        assert breaker.statistics().probes_in_flight == 1
        (await inner.next_request()).respond(204)
    assert breaker.state(KEY) is CLOSED


class Interrupt(BaseException):
    """A BaseException that is not an Exception, like KeyboardInterrupt."""


async def test_base_exceptions_are_neither() -> None:
    breaker, _, clock = build(Interrupt(), failure_threshold=1, recovery_timeout=1.0)
    with pytest.raises(Interrupt):
        await send(breaker)
    assert breaker.state(KEY) is CLOSED
    breaker.force_open(KEY)
    clock.advance(1.0)
    with pytest.raises(Interrupt):
        await send(breaker)
    assert breaker.statistics().probes_in_flight == 0


def test_default_rule_looks_inside_exception_groups() -> None:
    assert default_is_failure(ExceptionGroup("g", [httpx.ConnectError("x")])) is True
    assert default_is_failure(ExceptionGroup("g", [ValueError("x")])) is None
    nested = ExceptionGroup("g", [ExceptionGroup("h", [httpx.ReadTimeout("t")])])
    assert default_is_failure(nested) is True
    assert default_is_failure(BaseExceptionGroup("g", [Interrupt()])) is None
    assert default_is_failure(RateLimitExceeded("no")) is None
    assert default_is_failure(httpx.Response(502)) is True
    assert default_is_failure(httpx.Response(429)) is False


async def test_hook_and_log_on_every_transition(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[str, CircuitState, CircuitState]] = []
    clock = FakeClock()
    inner = ScriptedTransport(Outcomes(500, 200))
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=2.0)
    breaker = CircuitBreakerTransport(
        inner, config, clock=clock, on_state_change=lambda *t: seen.append(t)
    )
    with caplog.at_level(logging.INFO, logger="httpx_resilient"):
        assert await outcome(breaker) == 500
        clock.advance(2.0)
        assert await outcome(breaker) == 200
    assert seen == [(KEY, CLOSED, OPEN), (KEY, OPEN, HALF_OPEN), (KEY, HALF_OPEN, CLOSED)]
    records = [r for r in caplog.records if r.name == "httpx_resilient"]
    assert [(r.key, r.old, r.new) for r in records] == [  # type: ignore[attr-defined]
        (KEY, "closed", "open"),
        (KEY, "open", "half_open"),
        (KEY, "half_open", "closed"),
    ]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO, logging.INFO]


async def test_failing_hook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    def hook(key: str, old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("hook bug")

    inner = ScriptedTransport(Outcomes(500))
    config = CircuitBreakerConfig(failure_threshold=1)
    breaker = CircuitBreakerTransport(inner, config, clock=FakeClock(), on_state_change=hook)
    with caplog.at_level(logging.ERROR, logger="httpx_resilient"):
        assert await outcome(breaker) == 500
    assert breaker.state(KEY) is OPEN
    assert any("hook failed" in r.getMessage() for r in caplog.records)


async def test_force_open_isolate_and_reset() -> None:
    breaker, inner, clock = build(200, recovery_timeout=3.0)
    breaker.force_open(KEY)
    assert await outcome(breaker) == "CircuitOpenError"
    clock.advance(3.0)
    assert await outcome(breaker) == 200  # normal recovery after force_open
    assert breaker.state(KEY) is CLOSED
    breaker.isolate(KEY)
    clock.advance(1000.0)
    with pytest.raises(CircuitOpenError, match="isolated") as isolated:
        await send(breaker)
    assert isolated.value.retry_after is None
    breaker.force_open("other.example")
    breaker.reset()
    assert breaker.statistics().states == {KEY: CLOSED, "other.example": CLOSED}
    assert await outcome(breaker) == 200
    assert inner.calls == 2


async def test_slow_calls_open_it_in_rate_mode() -> None:
    clock = FakeClock(autojump=True)

    async def slow(request: httpx.Request) -> httpx.Response:
        await clock.sleep(2.0)
        return httpx.Response(200)

    config = CircuitBreakerConfig(
        failure_rate_threshold=50.0, minimum_calls=3, slow_call_duration=1.5
    )
    breaker = CircuitBreakerTransport(ScriptedTransport(slow), config, clock=clock)
    for _ in range(3):
        assert await outcome(breaker) == 200
    assert breaker.state(KEY) is OPEN


async def test_failure_rate_mode_through_the_transport() -> None:
    breaker, _, clock = build(
        500, 200, 500, 200, failure_threshold=100, failure_rate_threshold=50.0, minimum_calls=4
    )
    for _ in range(3):
        await outcome(breaker)
        clock.advance(1.0)
    assert breaker.state(KEY) is CLOSED
    await outcome(breaker)
    assert breaker.state(KEY) is OPEN


async def test_lifecycle_is_forwarded_once() -> None:
    inner = ScriptedTransport(Outcomes(200))
    async with httpx.AsyncClient(
        transport=CircuitBreakerTransport(inner, CircuitBreakerConfig(), clock=FakeClock())
    ) as client:
        assert (await client.get(URL)).status_code == 200
    assert (inner.entered, inner.exited, inner.closed) == (1, 1, 1)


def test_bad_config() -> None:
    with pytest.raises(TypeError, match="CircuitBreakerConfig"):
        CircuitBreakerTransport(ScriptedTransport(), {"failure_threshold": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as bad:
        CircuitBreakerConfig(half_open_max_calls=0)
    assert bad.value.field == "CircuitBreakerConfig.half_open_max_calls"
