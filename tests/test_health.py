"""Health: assess_health against thresholds, and transitions seen through MetricsTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from httpx_resilient._core.errors import ConfigError
from httpx_resilient._core.layer import Layer
from httpx_resilient._core.snapshots import BreakerStatistics, CircuitState, QueueStatistics
from httpx_resilient._metrics.config import AlertThresholds
from httpx_resilient._metrics.health import AlertTracker, HealthState, HealthStatus, assess_health
from httpx_resilient._metrics.transport import ClientMetrics, MetricsTransport
from httpx_resilient.testing import FakeClock, ScriptedTransport

pytestmark = pytest.mark.anyio

OPEN, HALF, CLOSED = CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED


def metrics(**fields: object) -> ClientMetrics:
    return ClientMetrics(**fields)  # type: ignore[arg-type]


def test_healthy_by_default() -> None:
    status = assess_health(ClientMetrics())
    assert status == HealthStatus(HealthState.HEALTHY)
    assert status.reasons == ()
    assert status.circuit_state is CLOSED
    assert status.checks == frozenset()


def test_each_threshold_gives_a_reason() -> None:
    m = metrics(
        successful_requests=80,
        failed_requests=20,
        success_rate=80.0,
        error_rate=20.0,
        p95_response_time=6.5,
        queue_size=1001,
    )
    status = assess_health(m)
    assert status.status is HealthState.DEGRADED
    assert status.reasons == (
        "success_rate: 80.0% < 95%",
        "error_rate: 20.0% > 5%",
        "p95_response_time: 6.500 s > 5 s",
        "queue_size: 1001 > 1000",
    )
    assert status.checks == {"success_rate", "error_rate", "p95_response_time", "queue_size"}
    assert (status.success_rate, status.queue_size, status.response_time) == (80.0, 1001, 6.5)


def test_limits_are_exclusive_and_configurable() -> None:
    at_limits = metrics(
        successful_requests=95,
        failed_requests=5,
        success_rate=95.0,
        error_rate=5.0,
        p95_response_time=5.0,
        queue_size=1000,
    )
    assert assess_health(at_limits).status is HealthState.HEALTHY
    strict = AlertThresholds(min_success_rate=99.0, max_queue_size=10)
    assert assess_health(at_limits, strict).checks == {"success_rate", "queue_size"}


def test_rates_are_not_judged_before_any_request_completed() -> None:
    m = metrics(cancelled_requests=3, success_rate=0.0, error_rate=100.0)
    assert assess_health(m).status is HealthState.HEALTHY


def test_any_open_breaker_is_unhealthy_and_half_open_degraded() -> None:
    status = assess_health(metrics(circuit_states={"a.example": OPEN, "b.example": HALF}))
    assert status.status is HealthState.UNHEALTHY
    assert status.circuit_state is OPEN
    assert status.reasons == (
        "circuit_open: 1 open (a.example)",
        "circuit_half_open: 1 probing (b.example)",
    )
    half = assess_health(metrics(circuit_states={"b.example": HALF, "c": CLOSED}))
    assert (half.status, half.circuit_state) == (HealthState.DEGRADED, HALF)


def test_max_breaker_opens_sets_how_many_make_it_unhealthy() -> None:
    two = AlertThresholds(max_breaker_opens=2)
    one_open = metrics(circuit_states={"a": OPEN, "b": CLOSED})
    assert assess_health(one_open, two).status is HealthState.DEGRADED
    hosts = {f"h{i}": OPEN for i in range(8)}
    status = assess_health(metrics(circuit_states=hosts), two)
    assert status.status is HealthState.UNHEALTHY
    assert status.reasons == ("circuit_open: 8 open (h0, h1, h2, h3, h4 and 3 more)",)


def test_status_as_dict_is_json_ready() -> None:
    status = assess_health(metrics(circuit_states={"a": OPEN}))
    data = json.loads(json.dumps(status.as_dict()))
    assert data["status"] == "unhealthy"
    assert data["circuit_state"] == "open"
    assert [s.value for s in HealthState] == ["healthy", "degraded", "unhealthy"]


def test_bad_thresholds_name_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        AlertThresholds(min_success_rate=120)
    assert info.value.field == "AlertThresholds.min_success_rate"


def test_alert_tracker_reports_changes_only() -> None:
    tracker = AlertTracker()
    degraded = HealthStatus(HealthState.DEGRADED, ("success_rate: 1% < 95%",))
    assert tracker.update(degraded) == ({"success_rate"}, frozenset())
    worse = HealthStatus(HealthState.DEGRADED, ("success_rate: 0.5% < 95%",))
    assert tracker.update(worse) == (frozenset(), frozenset())  # same check, new figures
    assert tracker.update(HealthStatus(HealthState.HEALTHY)) == (frozenset(), {"success_rate"})


class Breaker(Layer):
    """Stands in for the circuit breaker layer: the test sets its states."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        super().__init__(inner)
        self.states: dict[str, CircuitState] = {}

    def statistics(self) -> BreakerStatistics:
        opens = sum(1 for s in self.states.values() if s is OPEN)
        return BreakerStatistics(states=dict(self.states), opens=opens)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


class Queue(Breaker):
    def statistics(self) -> QueueStatistics:  # type: ignore[override]
        return QueueStatistics(waiting=self.waiting)

    waiting = 0


async def test_transitions_healthy_degraded_unhealthy_and_back() -> None:
    codes: list[int] = []
    breaker = Breaker(ScriptedTransport(lambda r: httpx.Response(codes.pop(0))))
    queue = Queue(breaker)
    seen: list[HealthStatus] = []
    transport = MetricsTransport(queue, clock=FakeClock(), on_alert=seen.append, alert_interval=0)

    async def send(*statuses: int) -> None:
        codes.extend(statuses)
        for _ in statuses:
            await transport.handle_async_request(httpx.Request("GET", "http://api.example/"))

    await send(*[200] * 20)
    assert transport.assess_health().status is HealthState.HEALTHY
    await send(503, 503)  # 20/22 = 90.9 %
    status = transport.assess_health()
    assert status.status is HealthState.DEGRADED
    assert status.checks == {"success_rate", "error_rate"}
    breaker.states["api.example"] = OPEN
    queue.waiting = 1500
    status = transport.assess_health()
    assert status.status is HealthState.UNHEALTHY
    assert status.circuit_state is OPEN
    assert status.queue_size == 1500
    assert "circuit_open: 1 open (api.example)" in status.reasons
    assert "queue_size: 1500 > 1000" in status.reasons
    breaker.states["api.example"] = HALF
    queue.waiting = 0
    await send(*[200] * 400)  # 420/422 = 99.5 %
    status = transport.assess_health()
    assert (status.status, status.checks) == (HealthState.DEGRADED, {"circuit_half_open"})
    breaker.states["api.example"] = CLOSED
    assert transport.assess_health().status is HealthState.HEALTHY
    # one alert per change of the crossed set, never one per request
    assert [(s.status.value, sorted(s.checks)) for s in seen] == [
        ("degraded", ["error_rate", "success_rate"]),
        ("unhealthy", ["circuit_open", "error_rate", "queue_size", "success_rate"]),
        ("degraded", ["circuit_half_open", "error_rate", "success_rate"]),
        ("degraded", ["circuit_half_open"]),  # both rates recover at 38/40
        ("healthy", []),
    ]
