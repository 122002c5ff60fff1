"""RetryTransport against scripted inner transports, in virtual time, asyncio and trio."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx
import pytest
import tenacity

from httpx_resilient._core.body import ReplayStream
from httpx_resilient._core.deadline import DEADLINE
from httpx_resilient._core.errors import (
    CircuitOpenError,
    QueueFullError,
    RateLimitExceeded,
    ResilienceError,
    TimeoutBudgetExceeded,
)
from httpx_resilient._core.snapshots import RetryStatistics
from httpx_resilient._retry.config import RetryBudget, RetryConfig
from httpx_resilient._retry.transport import RetryTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

Step = int | httpx.Response | BaseException | Callable[[httpx.Request], httpx.Response]


class TrackedStream(httpx.AsyncByteStream):
    """A network-like body: yields ``chunks`` then optionally raises ``error``."""

    def __init__(self, *chunks: bytes, error: BaseException | None = None) -> None:
        self.chunks = chunks
        self.error = error
        self.started = False
        self.closed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        self.closed += 1


class Script:
    """An inner handler that plays ``steps`` in order and records every request."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.seen: list[httpx.Request] = []
        self.timeouts: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.timeouts.append(dict(request.extensions.get("timeout", {})))
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, content=f"status {step}".encode())
        if isinstance(step, httpx.Response):
            return step
        return step(request)

    @property
    def calls(self) -> int:
        return len(self.seen)


def layer(
    script: Script, clock: FakeClock | None = None, **kw: Any
) -> tuple[RetryTransport, FakeClock]:
    clock = clock if clock is not None else FakeClock(autojump=True)
    kw.setdefault("jitter", "none")
    kw.setdefault("budget", None)
    transport = RetryTransport(httpx.MockTransport(script), RetryConfig(**kw), clock=clock)
    return transport, clock


def client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def tracked(
    status: int, *chunks: bytes, declared: bool = True, **kw: Any
) -> tuple[httpx.Response, TrackedStream]:
    """A response over a ``TrackedStream``; ``declared``: with a ``Content-Length``."""
    stream = TrackedStream(*chunks, **kw)
    headers = {"Content-Length": str(sum(map(len, chunks)))} if declared else {}
    return httpx.Response(status, headers=headers, stream=stream), stream


# --- the basic loop -------------------------------------------------------------------


async def test_503_503_200_returns_200_after_the_expected_delays() -> None:
    script = Script(503, 503, 200)
    transport, clock = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert response.text == "status 200"
    assert response.extensions["attempts"] == 3
    assert clock.now() == pytest.approx(0.5 + 1.0)
    assert transport.statistics() == RetryStatistics(attempts=3, retries=2, in_backoff=0)


async def test_success_at_once_reports_one_attempt_and_never_sleeps() -> None:
    script = Script(200)
    transport, clock = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.extensions["attempts"] == 1
    assert clock.now() == 0.0
    assert transport.statistics() == RetryStatistics(attempts=1)


async def test_connect_error_then_200() -> None:
    script = Script(httpx.ConnectError("refused"), 200)
    transport, clock = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert response.extensions["attempts"] == 2
    assert clock.now() == pytest.approx(0.5)


async def test_seeded_full_jitter_sleeps_the_drawn_delays() -> None:
    script = Script(503, 502, 504, 200)
    clock = FakeClock(autojump=True)
    transport = RetryTransport(
        httpx.MockTransport(script),
        RetryConfig(jitter="full", budget=None, base_delay=1.0),
        clock=clock,
        rng=random.Random(11),
    )
    async with client(transport) as c:
        response = await c.get("/x")
    ref = random.Random(11)
    expected = sum(ref.uniform(0.0, 1.0 * 2.0**n) for n in range(3))
    assert response.status_code == 200
    assert clock.now() == pytest.approx(expected)


@pytest.mark.parametrize("status", [400, 401, 404, 409, 422, 500, 501])
async def test_other_statuses_are_not_retried(status: int) -> None:
    script = Script(status, 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == status
    assert response.extensions["attempts"] == 1
    assert script.calls == 1


async def test_retries_run_out_last_response_returned() -> None:
    script = Script(503)
    transport, clock = layer(script, max_retries=2)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 503
    assert response.text == "status 503"
    assert response.extensions["attempts"] == 3
    assert script.calls == 3
    assert clock.now() == pytest.approx(1.5)


async def test_retries_run_out_last_httpx_exception_reraised_never_tenacity() -> None:
    errors = [httpx.ConnectError("one"), httpx.ReadTimeout("two"), httpx.ConnectError("three")]
    script = Script(*errors)
    transport, _ = layer(script, max_retries=2)
    async with client(transport) as c:
        with pytest.raises(httpx.HTTPError) as info:
            await c.get("/x")
    assert info.value is errors[-1]
    assert not isinstance(info.value, tenacity.RetryError)
    assert script.calls == 3


async def test_non_retryable_exception_propagates_at_once() -> None:
    script = Script(httpx.UnsupportedProtocol("nope"), 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        with pytest.raises(httpx.UnsupportedProtocol):
            await c.get("/x")
    assert script.calls == 1


async def test_bug_in_inner_is_not_retried() -> None:
    script = Script(ZeroDivisionError("bug"), 200)
    transport, _ = layer(script)
    with pytest.raises(ZeroDivisionError):
        await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert script.calls == 1


async def test_max_retries_zero_is_a_pass_through() -> None:
    script = Script(503, 200)
    transport, _ = layer(script, max_retries=0)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 503
    assert response.extensions["attempts"] == 1


# --- methods and opt-ins --------------------------------------------------------------


async def test_post_not_retried() -> None:
    script = Script(503, 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.post("/x", content=b"payload")
    assert response.status_code == 503
    assert script.calls == 1


async def test_post_with_idempotency_key_is_retried_with_the_same_body() -> None:
    script = Script(503, httpx.ConnectError("x"), 201)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.post("/x", content=b"payload", headers={"Idempotency-Key": "abc"})
    assert response.status_code == 201
    assert response.extensions["attempts"] == 3
    assert [r.content for r in script.seen] == [b"payload"] * 3


async def test_post_with_retry_extension_is_retried() -> None:
    script = Script(503, 201)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.post("/x", json={"a": 1}, extensions={"retry": True})
    assert response.status_code == 201
    assert script.calls == 2


async def test_retry_false_disables_retry() -> None:
    script = Script(httpx.ConnectError("x"), 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/x", extensions={"retry": False})
    assert script.calls == 1


async def test_one_shot_stream_body_is_sent_once() -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        sent.append(1)
        yield b"chunk"

    script = Script(503, 200)
    transport, _ = layer(script)
    request = httpx.Request("PUT", "http://api.test/x", content=body(), extensions={"retry": True})
    response = await transport.handle_async_request(request)
    assert response.status_code == 503
    assert script.calls == 1


# --- bodies ---------------------------------------------------------------------------


async def test_discarded_responses_are_closed_before_the_next_attempt() -> None:
    first, first_stream = tracked(503, b"busy")
    second, second_stream = tracked(503, b"x" * (70 * 1024))  # too large to keep
    closed_before: list[tuple[int, int]] = []

    def third(request: httpx.Request) -> httpx.Response:
        closed_before.append((first_stream.closed, second_stream.closed))
        return httpx.Response(200, content=b"ok")

    script = Script(first, second, third)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert closed_before == [(1, 1)]
    assert second.is_closed


async def test_body_read_error_is_retried() -> None:
    broken, broken_stream = tracked(200, b"partial", error=httpx.ReadTimeout("stalled"))
    dropped, dropped_stream = tracked(
        200, b"more", error=httpx.RemoteProtocolError("peer closed connection")
    )
    good, _ = tracked(200, b"hello ", b"world")
    script = Script(broken, dropped, good)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.content == b"hello world"
    assert response.extensions["attempts"] == 3
    assert broken.is_closed
    assert broken_stream.closed
    assert dropped_stream.closed


async def test_body_read_error_on_every_attempt_reraises_the_last() -> None:
    responses = [tracked(200, b"p", error=httpx.ReadTimeout(f"t{i}"))[0] for i in range(3)]
    script = Script(*responses)
    transport, _ = layer(script, max_retries=2)
    # The last attempt is not buffered (no retry could follow): the caller sees its error.
    async with client(transport) as c:
        with pytest.raises(httpx.ReadTimeout, match="t2"):
            await c.get("/x")
    assert script.calls == 3


async def test_buffered_body_is_replayed_in_chunks() -> None:
    body = bytes(range(256)) * 1024  # 256 KiB
    response, stream = tracked(200, body[:1000], body[1000:])
    script = Script(response)
    transport, _ = layer(script)
    result = await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert stream.closed
    assert isinstance(result.stream, ReplayStream)
    chunks = [chunk async for chunk in result.aiter_raw()]
    assert b"".join(chunks) == body
    assert max(len(c) for c in chunks) == 16 * 1024


async def test_body_over_max_buffer_bytes_is_streamed_intact_and_not_retried() -> None:
    chunks = [bytes([i]) * 7 for i in range(20)]
    big, stream = tracked(200, *chunks, error=httpx.ReadTimeout("late"))
    script = Script(big, 200)
    transport, _ = layer(script, max_buffer_bytes=50)
    async with client(transport) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/x")
    assert script.calls == 1  # the error came after the bound: not retried

    big, stream = tracked(200, *chunks)
    script = Script(big, 200)
    transport, _ = layer(script, max_buffer_bytes=50)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.content == b"".join(chunks)
    assert response.extensions["attempts"] == 1
    assert stream.closed


async def test_body_of_unknown_length_is_handed_on_unread_and_not_retried() -> None:
    chunked, stream = tracked(200, b"a", b"b", declared=False, error=httpx.ReadTimeout("late"))
    script = Script(chunked, 200)
    transport, _ = layer(script)
    result = await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert not stream.started
    assert result.stream is stream
    with pytest.raises(httpx.ReadTimeout):
        await result.aread()
    assert script.calls == 1


async def test_event_stream_is_handed_on_unread_even_with_a_length() -> None:
    events = b"data: 1\n\n"
    response = httpx.Response(
        200,
        headers={"Content-Type": "text/event-stream", "Content-Length": str(len(events))},
        stream=(stream := TrackedStream(events)),
    )
    transport, _ = layer(Script(response))
    result = await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert not stream.started
    assert await result.aread() == events


async def test_head_with_a_large_declared_length_is_read_at_once() -> None:
    response = httpx.Response(
        200, headers={"Content-Length": str(10**12)}, stream=(stream := TrackedStream())
    )
    transport, _ = layer(Script(response))
    result = await transport.handle_async_request(httpx.Request("HEAD", "http://api.test/"))
    assert stream.closed
    assert isinstance(result.stream, ReplayStream)


@pytest.mark.parametrize("value", ["no", 0, 1, None])
async def test_retry_extension_must_be_a_bool(value: object) -> None:
    from httpx_resilient import ConfigError

    transport, _ = layer(Script(200))
    request = httpx.Request("GET", "http://api.test/", extensions={"retry": value})
    if value is None:
        assert (await transport.handle_async_request(request)).status_code == 200
        return
    with pytest.raises(ConfigError, match="extensions.retry"):
        await transport.handle_async_request(request)


async def test_stream_extension_skips_buffering() -> None:
    response, stream = tracked(200, b"a", b"b")
    script = Script(response)
    transport, _ = layer(script)
    request = httpx.Request("GET", "http://api.test/", extensions={"stream": True})
    result = await transport.handle_async_request(request)
    assert not stream.started
    assert result.stream is stream
    assert await result.aread() == b"ab"


async def test_stream_extension_still_retries_a_503() -> None:
    busy, busy_stream = tracked(503, b"busy")
    ok, ok_stream = tracked(200, b"payload")
    script = Script(busy, ok)
    transport, _ = layer(script)
    async with client(transport) as c:
        request = c.build_request("GET", "/x", extensions={"stream": True})
        response = await c.send(request, stream=True)
        assert not ok_stream.started
        assert await response.aread() == b"payload"
        await response.aclose()
    assert response.extensions["attempts"] == 2
    assert busy_stream.closed


async def test_stream_extension_does_not_retry_body_errors() -> None:
    broken, _ = tracked(200, b"part", error=httpx.ReadTimeout("stalled"))
    script = Script(broken, 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/x", extensions={"stream": True})
    assert script.calls == 1


async def test_final_retryable_status_is_returned_unread() -> None:
    last, stream = tracked(503, b"still busy")
    script = Script(503, last)
    transport, _ = layer(script, max_retries=1)
    result = await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert result.status_code == 503
    assert result.stream is stream
    assert not stream.started
    assert await result.aread() == b"still busy"


# --- Retry-After ----------------------------------------------------------------------


async def test_retry_after_seconds_replaces_backoff() -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "7"}), 200)
    transport, clock = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert clock.now() == pytest.approx(7.0)


async def test_retry_after_date_uses_the_clock_wall_time() -> None:
    import email.utils

    clock = FakeClock(autojump=True)
    date = email.utils.formatdate(clock.wall() + 12, usegmt=True)
    script = Script(httpx.Response(429, headers={"Retry-After": date}), 200)
    transport, _ = layer(script, clock)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert clock.now() == pytest.approx(12.0, abs=1.0)  # HTTP dates have 1 s resolution


async def test_retry_after_too_long_returns_the_response_at_once() -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "3600"}, content=b"later"), 200)
    transport, clock = layer(script, max_retry_after=120.0)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 503
    assert response.text == "later"
    assert response.extensions["attempts"] == 1
    assert clock.now() == 0.0
    assert script.calls == 1


async def test_garbage_retry_after_uses_backoff() -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "whenever"}), 200)
    transport, clock = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 200
    assert clock.now() == pytest.approx(0.5)


# --- budget ---------------------------------------------------------------------------


async def test_retry_budget_exhaustion_returns_the_outcome_and_counts() -> None:
    script = Script(503)
    budget = RetryBudget(ratio=0.0, min_per_second=0.1, window=10.0)  # one retry per 10 s
    transport, _ = layer(script, budget=budget)
    async with client(transport) as c:
        first = await c.get("/x")
        second = await c.get("/x")
    assert first.status_code == second.status_code == 503
    assert first.extensions["attempts"] == 2
    assert second.extensions["attempts"] == 1
    stats = transport.statistics()
    assert stats.retries == 1
    assert stats.budget_exhausted == 2


async def test_retry_budget_exhaustion_reraises_the_exception() -> None:
    script = Script(httpx.ConnectError("down"))
    budget = RetryBudget(ratio=0.0, min_per_second=0.0, window=10.0)
    transport, _ = layer(script, budget=budget)
    async with client(transport) as c:
        with pytest.raises(httpx.ConnectError, match="down"):
            await c.get("/x")
    assert script.calls == 1
    assert transport.statistics().budget_exhausted == 1


async def test_retry_budget_grows_with_traffic() -> None:
    budget = RetryBudget(ratio=0.5, min_per_second=0.0, window=10.0)
    script = Script(200)
    transport, _ = layer(script, budget=budget)
    async with client(transport) as c:
        for _ in range(4):
            await c.get("/ok")
        script.steps = [503]
        response = await c.get("/x")  # 5 requests seen: 2.5 retries allowed
    assert response.extensions["attempts"] == 3
    assert transport.statistics().budget_exhausted == 1


# --- timeout_budget -------------------------------------------------------------------


async def test_timeout_budget_stops_early_and_returns_the_last_response() -> None:
    script = Script(503)
    transport, clock = layer(script, base_delay=1.0, timeout_budget=2.5)
    async with client(transport) as c:
        response = await c.get("/x", timeout=10.0)
    # Retry 0 waits 1 s (t=1); retry 1 would wait 2 s, past the deadline at 2.5.
    assert response.status_code == 503
    assert response.extensions["attempts"] == 2
    assert clock.now() == pytest.approx(1.0)
    assert script.timeouts[0] == script.timeouts[1] == httpx.Timeout(10.0).as_dict()


async def test_timeout_budget_leaves_httpx_timeouts_as_given() -> None:
    script = Script(httpx.ConnectError("x"), 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        timeout = httpx.Timeout(5.0, connect=0.25)
        response = await c.get("/x", timeout=timeout, extensions={"timeout_budget": 3.0})
    assert response.status_code == 200
    # The budget is enforced by a cancel scope, not by shortening httpx's timeouts.
    assert script.timeouts[0] == script.timeouts[1] == timeout.as_dict()


async def test_timeout_budget_spent_before_the_first_attempt() -> None:
    script = Script(200)
    clock = FakeClock(start=100.0, autojump=True)
    transport, _ = layer(script, clock)
    # An outer layer fixed the deadline and then waited it away (queue, token, ...).
    request = httpx.Request("GET", "http://api.test/", extensions={DEADLINE: 99.0})
    with pytest.raises(TimeoutBudgetExceeded) as info:
        await transport.handle_async_request(request)
    assert isinstance(info.value, httpx.TimeoutException)
    assert script.calls == 0


async def test_timeout_budget_refusal_below_on_a_later_attempt_returns_what_we_had() -> None:
    script = Script(httpx.ReadTimeout("slow"), TimeoutBudgetExceeded("no token in time"))
    transport, _ = layer(script, timeout_budget=5.0)
    async with client(transport) as c:
        with pytest.raises(httpx.ReadTimeout, match="slow"):
            await c.get("/x")
    assert script.calls == 2


class OvershootingClock(FakeClock):
    """A clock whose sleeps end late, as a loaded event loop's may."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 2.0)


async def test_deadline_passed_during_backoff_returns_the_kept_response() -> None:
    busy, _ = tracked(503, b"busy")
    script = Script(busy, 200)
    transport, clock = layer(script, OvershootingClock(autojump=True), timeout_budget=2.0)
    response = await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert clock.now() == pytest.approx(2.5)
    assert response.status_code == 503
    assert await response.aread() == b"busy"
    assert response.extensions["attempts"] == 1
    assert script.calls == 1


async def test_deadline_passed_during_backoff_with_nothing_kept_raises() -> None:
    huge, stream = tracked(503, b"x" * (65 * 1024))
    script = Script(huge, 200)
    transport, _ = layer(script, OvershootingClock(autojump=True), timeout_budget=2.0)
    with pytest.raises(TimeoutBudgetExceeded):
        await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert stream.closed
    assert script.calls == 1


# --- refusals from below --------------------------------------------------------------


@pytest.mark.parametrize(
    "refusal",
    [
        CircuitOpenError("open", retry_after=30.0),
        RateLimitExceeded("limited", retry_after=2.0),
        QueueFullError("full"),
        TimeoutBudgetExceeded("spent"),
    ],
)
async def test_refusal_on_first_attempt_propagates_unchanged(refusal: ResilienceError) -> None:
    script = Script(refusal, 200)
    transport, clock = layer(script)
    async with client(transport) as c:
        with pytest.raises(ResilienceError) as info:
            await c.get("/x")
    assert info.value is refusal
    assert script.calls == 1
    assert clock.now() == 0.0
    assert transport.statistics().retries == 0


async def test_refusal_on_a_later_attempt_returns_the_previous_response() -> None:
    busy, busy_stream = tracked(503, b"busy, ", b"come back")
    script = Script(busy, CircuitOpenError("open", retry_after=30.0), 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        response = await c.get("/x")
    assert response.status_code == 503
    assert response.text == "busy, come back"
    assert response.extensions["attempts"] == 1
    assert busy_stream.closed  # its connection was released before the retry
    assert script.calls == 2


async def test_refusal_on_a_later_attempt_reraises_the_previous_exception() -> None:
    first = httpx.ConnectError("refused")
    script = Script(first, RateLimitExceeded("limited", retry_after=1.0), 200)
    transport, _ = layer(script)
    async with client(transport) as c:
        with pytest.raises(httpx.ConnectError) as info:
            await c.get("/x")
    assert info.value is first


async def test_refusal_after_a_response_too_large_to_keep_propagates() -> None:
    huge, stream = tracked(503, b"x" * (65 * 1024))
    refusal = CircuitOpenError("open", retry_after=30.0)
    script = Script(huge, refusal)
    transport, _ = layer(script)
    with pytest.raises(CircuitOpenError) as info:
        await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert info.value is refusal
    assert stream.closed


# --- cancellation ---------------------------------------------------------------------


async def test_cancellation_during_backoff_propagates_and_leaves_nothing() -> None:
    busy, busy_stream = tracked(503, b"busy")
    script = Script(busy, 200)
    clock = FakeClock()  # no autojump: the backoff sleeps until cancelled
    transport, _ = layer(script, clock, base_delay=10.0)
    reached_end = False

    async def call() -> None:
        nonlocal reached_end
        await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
        reached_end = True

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await anyio.wait_all_tasks_blocked()
        assert transport.statistics().in_backoff == 1
        assert clock.sleepers == 1
        tg.cancel_scope.cancel()
    assert not reached_end
    assert transport.statistics() == RetryStatistics(attempts=1, retries=0, in_backoff=0)
    assert clock.sleepers == 0
    assert busy_stream.closed
    assert script.calls == 1


async def test_cancellation_during_an_attempt_is_not_retried() -> None:
    inner = ScriptedTransport()
    transport = RetryTransport(inner, RetryConfig(budget=None), clock=FakeClock(autojump=True))
    with anyio.CancelScope() as scope:

        async def cancel_when_sent() -> None:
            await inner.next_request()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_when_sent)
            await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert scope.cancelled_caught
    assert inner.calls == 1
    assert transport.statistics().retries == 0


async def test_cancellation_while_buffering_closes_the_response() -> None:
    gate = anyio.Event()

    class SlowStream(TrackedStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"first"
            await gate.wait()
            yield b"never"

    stream = SlowStream()
    script = Script(httpx.Response(200, headers={"Content-Length": "10"}, stream=stream))
    transport, _ = layer(script)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_soon() -> None:
                await anyio.wait_all_tasks_blocked()
                scope.cancel()

            tg.start_soon(cancel_soon)
            await transport.handle_async_request(httpx.Request("GET", "http://api.test/"))
    assert scope.cancelled_caught
    assert stream.closed
    assert script.calls == 1


# --- reporting ------------------------------------------------------------------------


async def test_each_retry_is_logged_with_structured_fields_and_no_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script(503, httpx.ConnectError("refused"), 200)
    transport, _ = layer(script)
    caplog.set_level(logging.INFO, logger="httpx_resilient")
    async with client(transport) as c:
        await c.get(
            "/users?token=s3cret-query",
            headers={"Authorization": "Bearer s3cret-header", "Cookie": "sid=s3cret-cookie"},
        )
    records = [r for r in caplog.records if r.name == "httpx_resilient"]
    assert [(r.levelno, r.attempt, r.delay, r.reason) for r in records] == [  # type: ignore[attr-defined]
        (logging.INFO, 2, 0.5, "status 503"),
        (logging.INFO, 3, 1.0, "ConnectError"),
    ]
    assert all(r.method == "GET" and r.host == "api.test" for r in records)  # type: ignore[attr-defined]
    text = " ".join(r.getMessage() + repr(vars(r)) for r in records)
    assert "s3cret" not in text
    assert "token" not in text


async def test_nothing_is_logged_when_the_logger_is_disabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script(503, 200)
    transport, _ = layer(script)
    caplog.set_level(logging.WARNING, logger="httpx_resilient")
    async with client(transport) as c:
        await c.get("/x")
    assert not [r for r in caplog.records if r.name == "httpx_resilient"]


async def test_give_up_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    script = Script(httpx.Response(503, headers={"Retry-After": "999"}))
    transport, _ = layer(script)
    caplog.set_level(logging.DEBUG, logger="httpx_resilient")
    async with client(transport) as c:
        await c.get("/x")
    [record] = [r for r in caplog.records if r.name == "httpx_resilient"]
    assert record.levelno == logging.DEBUG
    assert record.stopped == "Retry-After beyond max_retry_after"  # type: ignore[attr-defined]


async def test_lifecycle_is_forwarded_once() -> None:
    inner = ScriptedTransport(lambda request: httpx.Response(200))
    transport = RetryTransport(inner, RetryConfig())
    async with transport:
        pass
    assert (inner.entered, inner.exited, inner.closed) == (1, 1, 1)


def test_config_type_is_checked() -> None:
    with pytest.raises(TypeError, match="RetryConfig"):
        RetryTransport(httpx.MockTransport(Script(200)), object())  # type: ignore[arg-type]
