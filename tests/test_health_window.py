"""Health over a sliding window: rates and p95 of recent requests, with ``min_requests``."""

from __future__ import annotations

import threading

import httpx
import pytest

from httpx_resilient._core.errors import ConfigError
from httpx_resilient._metrics.config import AlertThresholds
from httpx_resilient._metrics.health import HealthState, HealthStatus
from httpx_resilient._metrics.histogram import LatencyHistogram, quantiles
from httpx_resilient._metrics.transport import MetricsTransport
from httpx_resilient._metrics.window import (
    FAILED,
    REJECTED,
    SLOTS,
    SUCCEEDED,
    SlidingWindow,
    WindowStats,
)
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio


class Service:
    """A MetricsTransport over a scripted upstream whose answers and latency we set."""

    def __init__(self, thresholds: AlertThresholds | None = None) -> None:
        self.clock = FakeClock()
        self.status = 200
        self.latency = 0.0
        self.alerts: list[HealthStatus] = []

        async def answer(request: httpx.Request) -> httpx.Response:
            if self.latency:
                self.clock.advance(self.latency)
            return httpx.Response(self.status)

        self.metrics = MetricsTransport(
            ScriptedTransport(answer),
            clock=self.clock,
            thresholds=thresholds,
            on_alert=self.alerts.append,
            alert_interval=0.0,
        )

    async def send(self, count: int, status: int = 200) -> None:
        self.status = status
        for _ in range(count):
            await self.metrics.handle_async_request(httpx.Request("GET", "http://svc.test/"))

    def health(self) -> HealthStatus:
        return self.metrics.assess_health()


async def test_health_recovers_once_the_failures_leave_the_window() -> None:
    svc = Service()
    await svc.send(15, status=503)
    assert svc.health().status is HealthState.HEALTHY  # 15 < min_requests: not judged yet
    svc.clock.advance(1.0)
    await svc.send(5)
    degraded = svc.health()
    assert degraded.status is HealthState.DEGRADED
    assert degraded.checks == {"success_rate", "error_rate"}
    assert degraded.success_rate == 25.0  # the window's figure, 5 of 20
    svc.clock.advance(30.0)
    await svc.send(100)  # 105 of 120 in the window: 87.5 %, still degraded
    assert svc.health().status is HealthState.DEGRADED
    svc.clock.advance(29.0)  # t = 60: the failures of t = 0 have left the window
    await svc.send(1)
    recovered = svc.health()
    assert recovered.status is HealthState.HEALTHY
    assert recovered.success_rate == 100.0
    assert [a.status for a in svc.alerts] == [HealthState.DEGRADED, HealthState.HEALTHY]
    lifetime = svc.metrics.get_metrics()  # lifetime totals stay
    assert (lifetime.failed_requests, lifetime.successful_requests) == (15, 106)
    assert lifetime.success_rate == pytest.approx(100 * 106 / 121)
    window = svc.metrics.window_stats()
    assert (window.succeeded, window.failed) == (106, 0)  # t = 1 on is still in


async def test_lifetime_judgement_would_need_285_successes() -> None:
    svc = Service()
    await svc.send(15, status=503)
    await svc.send(285)
    lifetime = svc.metrics.get_metrics()
    assert lifetime.success_rate == 95.0  # what the old, lifetime rule had to wait for
    svc.clock.advance(60.0)
    await svc.send(20)
    assert svc.health().status is HealthState.HEALTHY


@pytest.mark.parametrize("status", [500, 429])
async def test_fewer_than_min_requests_never_degrade_on_rate(status: int) -> None:
    svc = Service()
    await svc.send(19, status=status)
    health = svc.health()
    assert health.status is HealthState.HEALTHY
    assert health.reasons == ()
    assert svc.alerts == []
    await svc.send(1, status=status)  # the 20th: now judged
    assert svc.health().checks == {"success_rate", "error_rate"}


async def test_min_requests_counts_only_the_window() -> None:
    svc = Service(AlertThresholds(min_requests=10, window_seconds=10.0))
    await svc.send(9, status=500)
    svc.clock.advance(10.0)
    await svc.send(9, status=500)  # 18 failures in all, never 10 in one window
    assert svc.health().status is HealthState.HEALTHY


async def test_p95_is_judged_over_the_window() -> None:
    svc = Service(AlertThresholds(window_seconds=600.0))  # 20 calls of 6 s fit in it
    svc.latency = 6.0
    await svc.send(19)
    assert svc.health().status is HealthState.HEALTHY  # 19 slow calls: too few to judge
    await svc.send(1)
    slow = svc.health()
    assert slow.checks == {"p95_response_time"}
    assert slow.response_time == pytest.approx(6.0, rel=0.02)
    svc.latency = 0.0
    svc.clock.advance(600.0)
    await svc.send(20)
    fast = svc.health()
    assert fast.status is HealthState.HEALTHY
    assert fast.response_time == 0.0
    assert svc.metrics.get_metrics().p95_response_time == pytest.approx(6.0, rel=0.02)


async def test_rejections_count_in_the_window() -> None:
    window = SlidingWindow(60.0)
    for _ in range(10):
        window.record(0.0, REJECTED)
    window.record(0.0, SUCCEEDED, 100)
    stats = window.stats(0.5)
    assert (stats.rejected, stats.succeeded, stats.completed) == (10, 1, 11)
    assert stats.success_rate == pytest.approx(100 / 11)
    assert stats.error_rate == 0.0


def test_window_slides_slot_by_slot() -> None:
    window = SlidingWindow(7.5)  # slots of 0.125 s (exact in binary)
    for step in range(120):  # one failure per slot for 15 s
        window.record(step * 0.125, FAILED)
    assert window.stats(14.9).failed == SLOTS  # exactly the last 60 slots
    assert window.stats(18.75).failed == 29  # read later: slots up to 11.25 s have left
    assert window.stats(22.5).failed == 0
    assert window.stats(14.9).failed == SLOTS  # reading changed nothing


def test_window_memory_is_bounded_however_long_it_runs() -> None:
    window = SlidingWindow(60.0)
    histogram = LatencyHistogram()
    for second in range(5_000):
        for latency in (0.001, 0.01, 0.1, 1.0, 10.0):
            window.record(second + 0.5, SUCCEEDED, histogram.record(latency * (1 + second % 7)))
    assert len(window._ring) == SLOTS
    assert max(len(slot.latencies) for slot in window._ring) <= 5
    stats = window.stats(4_999.9)
    assert stats.succeeded == 5 * SLOTS


def test_a_gap_longer_than_the_window_empties_it() -> None:
    window = SlidingWindow(60.0)
    window.record(0.0, FAILED)
    window.record(1_000.0, SUCCEEDED)
    assert window.stats(1_000.0) == WindowStats(succeeded=1)


def test_window_reads_from_another_thread_while_it_records() -> None:
    window = SlidingWindow(1.0)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                window.stats(1e9)
        except BaseException as exc:  # pragma: no cover - the failure being tested for
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200_000):
            window.record(i * 1e-4, SUCCEEDED, i % 997)
    finally:
        stop.set()
        reader.join()
    assert errors == []


def test_window_quantiles_match_the_lifetime_histogram() -> None:
    histogram = LatencyHistogram()
    sparse: dict[int, int] = {}
    for ms in range(1, 1_001):
        index = histogram.record(ms / 1000)
        sparse[index] = sparse.get(index, 0) + 1
    want = histogram.percentiles((0.5, 0.95, 0.99))
    got = quantiles(sparse, (0.5, 0.95, 0.99))
    assert got[:2] == pytest.approx(want[:2])
    assert got[2] == pytest.approx(0.99, rel=0.02)
    assert quantiles({}, (0.95,)) == [0.0]


@pytest.mark.parametrize(
    ("field", "value"),
    [("window_seconds", 0), ("window_seconds", float("inf")), ("min_requests", 0)],
)
def test_bad_window_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        AlertThresholds(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == f"AlertThresholds.{field}"


def test_window_defaults() -> None:
    thresholds = AlertThresholds()
    assert (thresholds.window_seconds, thresholds.min_requests) == (60.0, 20)
