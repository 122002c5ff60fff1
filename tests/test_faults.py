"""FaultInjectionTransport: seeded, repeatable faults; rates honoured; latency on the clock."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from httpx_resilient import ConfigError, ResilientTransport, RetryConfig
from httpx_resilient.testing import FakeClock
from httpx_resilient.testing._faults import FaultBurst, FaultInjectionTransport, FaultStatistics

pytestmark = pytest.mark.anyio


class CountingInner(httpx.AsyncBaseTransport):
    """Answers 200 and counts calls; records whether each response body was closed."""

    def __init__(self) -> None:
        self.calls = 0
        self.closed: list[bool] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        closed = self.closed
        index = len(closed)
        closed.append(False)

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                yield b"real"

            async def aclose(self) -> None:
                closed[index] = True

        return httpx.Response(200, stream=Body())


async def outcomes(transport: FaultInjectionTransport, n: int) -> list[str]:
    """What each of ``n`` sequential requests ended in: a status or an exception name."""
    seen = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for _ in range(n):
            try:
                seen.append(str((await client.get("/")).status_code))
            except httpx.TransportError as exc:
                seen.append(type(exc).__name__)
    return seen


def noisy(seed: int | None, clock: FakeClock | None = None) -> FaultInjectionTransport:
    return FaultInjectionTransport(
        seed=seed, error_rate=0.1, status_rate=0.2, reset_rate=0.1, latency=(0.0, 1.0), clock=clock
    )


async def test_same_seed_same_faults_other_seed_other_faults() -> None:
    first = await outcomes(noisy(7, FakeClock(autojump=True)), 100)
    again = await outcomes(noisy(7, FakeClock(autojump=True)), 100)
    other = await outcomes(noisy(8, FakeClock(autojump=True)), 100)
    assert first == again
    assert first != other
    assert {"200", "ConnectError", "ReadTimeout", "RemoteProtocolError"} <= set(first)


async def test_rates_are_roughly_honoured() -> None:
    transport = FaultInjectionTransport(seed=1, error_rate=0.1, status_rate=0.2, reset_rate=0.05)
    n = 1000
    seen = await outcomes(transport, n)
    stats = transport.statistics()
    assert stats.requests == n
    assert stats.errors == seen.count("ConnectError") + seen.count("ReadTimeout")
    assert stats.resets == seen.count("RemoteProtocolError")
    assert stats.passed == seen.count("200")
    assert stats.passed + stats.errors + stats.statuses + stats.resets == n
    assert abs(stats.errors / n - 0.1) < 0.03
    assert abs(stats.statuses / n - 0.2) < 0.04
    assert abs(stats.resets / n - 0.05) < 0.02
    assert set(seen) - {"200", "ConnectError", "ReadTimeout", "RemoteProtocolError"} <= {
        "500",
        "502",
        "503",
    }


async def test_latency_is_slept_on_the_clock() -> None:
    clock = FakeClock(autojump=True)
    fixed = FaultInjectionTransport(latency=2.5, clock=clock)
    with anyio.fail_after(1):  # virtual time: 25 s of latency passes at once
        await outcomes(fixed, 10)
    assert clock.now() == pytest.approx(25.0)
    assert fixed.statistics().delayed == 10
    assert fixed.statistics().total_latency == pytest.approx(25.0)

    clock = FakeClock(autojump=True)
    ranged = FaultInjectionTransport(latency=(1.0, 2.0), clock=clock, seed=3)
    await outcomes(ranged, 20)
    total = ranged.statistics().total_latency
    assert 20.0 < total < 40.0
    assert clock.now() == pytest.approx(total)


async def test_latency_waits_until_the_clock_moves() -> None:
    clock = FakeClock()
    transport = FaultInjectionTransport(latency=1.0, clock=clock)
    done: list[int] = []

    async def get() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            done.append((await client.get("http://test/")).status_code)

    async with anyio.create_task_group() as tg:
        tg.start_soon(get)
        await anyio.wait_all_tasks_blocked()
        assert done == []
        assert clock.sleepers == 1
        clock.advance(1.0)
    assert done == [200]


async def test_burst_answers_without_calling_inner() -> None:
    inner = CountingInner()
    burst = FaultBurst(length=2, every=5, start=1, status=429, retry_after=1.5)
    transport = FaultInjectionTransport(inner, burst=burst)
    statuses = []
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(11):
            response = await client.get("http://test/")
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["retry-after"] == "2"  # whole seconds, rounded up
                assert response.headers["x-fault-injected"] == "burst"
    assert statuses == [200, 429, 429, 200, 200, 200, 429, 429, 200, 200, 200]
    assert inner.calls == 7
    assert transport.statistics().burst == 4


def test_burst_once_and_its_coverage() -> None:
    once = FaultBurst(length=3)
    assert [once.covers(n) for n in range(5)] == [True, True, True, False, False]
    assert FaultBurst(length=1, every=1).covers(1000)


async def test_errors_skip_inner_and_resets_close_the_real_response() -> None:
    inner = CountingInner()
    erring = FaultInjectionTransport(inner, error_rate=1.0, errors=[httpx.ConnectTimeout])
    assert await outcomes(erring, 3) == ["ConnectTimeout"] * 3
    assert inner.calls == 0

    resetting = FaultInjectionTransport(inner, reset_rate=1.0)
    async with httpx.AsyncClient(transport=resetting) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="connection reset"):
            await client.get("http://test/")
    assert inner.calls == 1  # the server acted, then the connection dropped
    assert inner.closed == [True]


async def test_synthetic_statuses_come_from_the_list() -> None:
    transport = FaultInjectionTransport(status_rate=1.0, statuses=[418], seed=0)
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://test/")
    assert response.status_code == 418
    assert response.headers["x-fault-injected"] == "status"
    assert "retry-after" not in response.headers


async def test_default_inner_answers_ok_and_lifecycle_forwards() -> None:
    transport = FaultInjectionTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("http://test/")
    assert (response.status_code, response.text) == (200, "ok")
    assert transport.statistics() == FaultStatistics(requests=1, passed=1)


async def test_the_retry_layer_recovers_from_injected_faults() -> None:
    clock = FakeClock(autojump=True)
    faults = FaultInjectionTransport(
        seed=5, error_rate=0.2, status_rate=0.2, statuses=[503], latency=0.01, clock=clock
    )
    stack = ResilientTransport(
        retry=RetryConfig(max_retries=6, base_delay=0.1, budget=None), inner=faults, clock=clock
    )
    async with httpx.AsyncClient(transport=stack) as client:
        statuses = [(await client.get("http://test/")).status_code for _ in range(30)]
    assert statuses == [200] * 30
    assert faults.statistics().errors + faults.statistics().statuses > 0
    assert stack.get_metrics().retry_count == faults.statistics().requests - 30


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"status_rate": math.nan}, "status_rate"),
        ({"reset_rate": "0.1"}, "reset_rate"),
        ({"error_rate": 0.5, "status_rate": 0.4, "reset_rate": 0.2}, "reset_rate"),
        ({"latency": -1.0}, "latency"),
        ({"latency": (2.0, 1.0)}, "latency"),
        ({"latency": (0.0, math.inf)}, "latency"),
        ({"statuses": ()}, "statuses"),
        ({"statuses": (99,)}, "statuses"),
        ({"statuses": "500"}, "statuses"),
        ({"errors": (ValueError,)}, "errors"),
        ({"errors": ()}, "errors"),
        ({"burst": 3}, "burst"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_config_error_naming_the_field(
    kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError) as info:
        FaultInjectionTransport(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == f"FaultInjectionTransport.{field}"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"length": 0}, "FaultBurst.length"),
        ({"length": 5, "every": 3}, "FaultBurst.every"),
        ({"length": 1, "start": -1}, "FaultBurst.start"),
        ({"length": 1, "status": 600}, "FaultBurst.status"),
        ({"length": 1, "retry_after": -1}, "FaultBurst.retry_after"),
    ],
)
def test_bad_burst_raises_config_error(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        FaultBurst(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
