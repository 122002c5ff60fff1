"""RateLimitTransport adapting to servers: pauses from hints, AIMD rate, garbage ignored."""

from __future__ import annotations

import logging
from email.utils import formatdate

import anyio
import httpx
import pytest

from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.transport import RateLimitTransport
from httpx_resilient.testing import FakeClock
from tests._ratelimit_support import BACKENDS, AsyncBackend, backend_for, bucket, send, settle

pytestmark = pytest.mark.anyio

Reply = tuple[int, list[tuple[str, str]]]


def replying(request: httpx.Request) -> httpx.Response:
    """Answer with the status and headers the test put in ``extensions["reply"]``."""
    status, headers = request.extensions.get("reply", (200, []))
    return httpx.Response(status, headers=headers)


def limiter(kind: str, clock: FakeClock, **config: object) -> RateLimitTransport:
    config.setdefault("max_requests", 10)
    cfg = RateLimitConfig(backend=backend_for(kind), **config)  # type: ignore[arg-type]
    return RateLimitTransport(httpx.MockTransport(replying), cfg, clock=clock)


async def pause_after(reply: Reply, kind: str = "in-process", **config: object) -> float:
    """Send ``reply`` once, then return how long the next request to that host waits."""
    clock = FakeClock(autojump=True)
    transport = limiter(kind, clock, **config)
    first = await send(transport, reply=reply)
    assert first.extensions["rate_limit_wait"] == 0.0
    return float((await send(transport)).extensions["rate_limit_wait"])


# -- pauses --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_429_with_retry_after_pauses_that_key_only(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock)
    await send(transport, reply=(429, [("Retry-After", "5")]))
    state = bucket(transport, "a.test")
    assert state.paused_until == 5.0
    assert state.rate == pytest.approx(7.0)
    assert (await send(transport, "http://b.test/")).extensions["rate_limit_wait"] == 0.0
    async with anyio.create_task_group() as group:
        group.start_soon(send, transport)
        await settle()
        assert transport.statistics().waiters == 1
        clock.advance(4.9)
        await settle()
        assert transport.statistics().waiters == 1
        clock.advance(0.1)
    assert transport.statistics().waits == 1
    assert transport.statistics().total_wait == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("reply", "pause"),
    [
        ((429, [("Retry-After", "5")]), 5.0),
        ((429, [("Retry-After", formatdate(1_700_000_007, usegmt=True))]), 7.0),
        ((429, [("Retry-After", formatdate(1_600_000_000, usegmt=True))]), 0.0),
        ((503, [("Retry-After", "3")]), 3.0),
        ((503, []), 0.0),
        ((500, [("Retry-After", "3")]), 0.0),
        ((200, [("RateLimit", '"default";r=0;t=4')]), 4.0),
        ((200, [("RateLimit", '"default";r=1;t=4')]), 0.0),
        ((200, [("RateLimit", '"d";r=0'), ("RateLimit-Policy", '"d";q=10;w=6')]), 6.0),
        ((200, [("RateLimit", "limit=10, remaining=0, reset=2")]), 2.0),
        ((200, [("RateLimit-Remaining", "0"), ("RateLimit-Reset", "9")]), 9.0),
        ((200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "8")]), 8.0),
        ((200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1700000012")]), 12.0),
        ((200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "1700000012500")]), 12.5),
        ((200, [("X-RateLimit-Remaining", "5"), ("X-RateLimit-Reset", "8")]), 0.0),
        ((404, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "8")]), 8.0),
    ],
)
async def test_server_hints_pause_the_next_request(reply: Reply, pause: float) -> None:
    assert await pause_after(reply) == pytest.approx(pause)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_hinted_pauses_are_capped_at_max_pause(kind: str) -> None:
    huge = (429, [("Retry-After", "99999999999999999999")])
    assert await pause_after(huge, kind, max_pause=10.0) == pytest.approx(10.0)
    epoch = (200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "99999999999999999999")])
    assert await pause_after(epoch, kind) == pytest.approx(120.0)


GARBAGE: list[Reply] = [
    (429, [("Retry-After", "soon")]),
    (429, [("Retry-After", "-5")]),
    (429, [("Retry-After", "Mon, 99 Foo 2024 99:99:99 GMT")]),
    (429, [("Retry-After", "1e3")]),
    (503, [("Retry-After", "")]),
    (200, [("RateLimit", "garbage;;;==,,,")]),
    (200, [("RateLimit", '"d";r=0;t=-1')]),
    (200, [("X-RateLimit-Remaining", "none"), ("X-RateLimit-Reset", "10")]),
    (200, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "tomorrow")]),
]


@pytest.mark.parametrize("reply", GARBAGE)
async def test_garbage_hints_are_ignored(reply: Reply) -> None:
    assert await pause_after(reply) == 0.0


async def test_not_adaptive_ignores_every_hint() -> None:
    clock = FakeClock(autojump=True)
    transport = limiter("in-process", clock, adaptive=False)
    await send(transport, reply=(429, [("Retry-After", "5")]))
    assert (await send(transport)).extensions["rate_limit_wait"] == 0.0
    state = bucket(transport, "a.test")
    assert (state.rate, state.paused_until) == (10.0, None)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_only_adaptive_limits_are_paused(kind: str) -> None:
    backend = backend_for(kind)
    transport = RateLimitTransport(
        httpx.MockTransport(replying),
        [
            RateLimitConfig(max_requests=10, backend=backend),
            RateLimitConfig(max_requests=100, key="global", adaptive=False, backend=backend),
        ],
        clock=FakeClock(),
    )
    await send(transport, reply=(429, [("Retry-After", "5")]))
    assert bucket(transport, "a.test", 0).paused_until == 5.0
    assert bucket(transport, "global", 1).paused_until is None
    assert bucket(transport, "global", 1).rate == 100.0
    assert (await send(transport, "http://b.test/")).extensions["rate_limit_wait"] == 0.0


async def test_a_pause_is_logged_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    transport = limiter("in-process", FakeClock(), key=lambda r: "secret-tenant-key")
    with caplog.at_level(logging.INFO, logger="httpx_resilient"):
        await send(transport, reply=(429, [("Retry-After", "5")]))
    (record,) = [r for r in caplog.records if "slow down" in r.getMessage()]
    assert record.pause == 5.0  # type: ignore[attr-defined]
    assert "secret" not in record.getMessage()


# -- AIMD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_429s_cut_the_rate_and_successes_bring_it_back(kind: str) -> None:
    clock = FakeClock()
    transport = limiter(kind, clock, max_requests=10, burst=100, recovery_seconds=10.0)
    for _ in range(3):
        await send(transport, reply=(429, []))
    assert bucket(transport, "a.test").rate == pytest.approx(3.43)
    assert transport.backend.recovering
    rates = []
    for _ in range(8):
        clock.advance(1.0)
        await send(transport)
        rates.append(bucket(transport, "a.test").rate)
    assert rates == pytest.approx([4.43, 5.43, 6.43, 7.43, 8.43, 9.43, 10.0, 10.0])
    assert not transport.backend.recovering


async def test_rate_floor_is_one_percent_and_it_slows_the_refill() -> None:
    clock = FakeClock(autojump=True)
    transport = limiter("in-process", clock, max_requests=10, burst=20)
    for _ in range(20):
        await send(transport, reply=(429, []))
    assert bucket(transport, "a.test").rate == pytest.approx(0.1)
    assert (await send(transport)).extensions["rate_limit_wait"] == pytest.approx(10.0)


async def test_5xx_does_not_count_as_a_success() -> None:
    clock = FakeClock()
    transport = limiter("in-process", clock, recovery_seconds=1.0)
    await send(transport, reply=(429, []))
    clock.advance(5.0)
    await send(transport, reply=(500, []))
    assert bucket(transport, "a.test").rate == pytest.approx(7.0)
    await send(transport, reply=(404, []))
    assert bucket(transport, "a.test").rate == pytest.approx(10.0)


# -- backend failures ------------------------------------------------------------------------


async def test_a_failing_hint_update_is_counted_and_the_response_returned() -> None:
    backend = AsyncBackend()
    backend.fail.add("throttle")
    transport = RateLimitTransport(
        httpx.MockTransport(replying),
        RateLimitConfig(max_requests=10, backend=backend),
        clock=FakeClock(),
    )
    response = await send(transport, reply=(429, [("Retry-After", "5")]))
    assert response.status_code == 429
    assert transport.statistics().backend_errors == 1


async def test_a_failing_acquire_is_counted_and_raised() -> None:
    backend = AsyncBackend()
    backend.fail.add("try_acquire")
    transport = RateLimitTransport(
        httpx.MockTransport(replying),
        RateLimitConfig(max_requests=10, backend=backend),
        clock=FakeClock(),
    )
    with pytest.raises(ConnectionError):
        await send(transport)
    assert transport.statistics().backend_errors == 1
    assert transport.statistics().waiters == 0


async def test_cancelled_while_reporting_a_hint_closes_the_response() -> None:
    closed = anyio.Event()

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            yield b"x"

        async def aclose(self) -> None:
            closed.set()

    class Stuck(AsyncBackend):
        async def throttle(self, *args: object, **kwargs: object) -> None:
            await anyio.sleep_forever()

    transport = RateLimitTransport(
        httpx.MockTransport(lambda r: httpx.Response(429, stream=Body())),
        RateLimitConfig(max_requests=10, backend=Stuck()),
        clock=FakeClock(),
    )
    async with anyio.create_task_group() as group:
        group.start_soon(transport.handle_async_request, httpx.Request("GET", "http://a.test/"))
        await settle()
        group.cancel_scope.cancel()
    assert closed.is_set()
