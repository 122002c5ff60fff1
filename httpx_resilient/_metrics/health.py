"""Health: judge a ``ClientMetrics`` snapshot against ``AlertThresholds``.

Pure functions of a snapshot, no I/O. Rules, each giving one reason ``"<check>: ..."``:

- ``circuit_open``: open breakers. ``max_breaker_opens`` of them (default 1, so any)
  make the client UNHEALTHY; fewer make it DEGRADED.
- ``circuit_half_open``: a breaker is probing: DEGRADED.
- ``success_rate`` below ``min_success_rate``, ``error_rate`` above ``max_error_rate``,
  ``p95_response_time`` above ``max_p95_response_time``: DEGRADED. These three are
  judged over the sliding window (``WindowStats``) when one is given, else over the
  snapshot's lifetime figures, and only once ``min_requests`` requests completed there.
- ``queue_size`` above ``max_queue_size``: DEGRADED.

``AlertTracker`` remembers which checks are crossed, so an alert (a log line and the
hook) fires once per crossing and once when it clears, never once per request.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .._core.snapshots import CircuitState
from .config import AlertThresholds
from .snapshot import SEVERITY, ClientMetrics
from .window import WindowStats

__all__ = ["DEFAULT_THRESHOLDS", "AlertTracker", "HealthState", "HealthStatus", "assess_health"]

DEFAULT_THRESHOLDS = AlertThresholds()
_HOSTS_SHOWN = 5


class HealthState(enum.Enum):
    """Overall health of a client."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """The verdict of ``assess_health``.

    Attributes:
        status: HEALTHY, DEGRADED or UNHEALTHY.
        reasons: one ``"<check>: <detail>"`` line per crossed threshold.
        success_rate: percent of completed requests that succeeded (over the window
            when health was judged on one).
        circuit_state: the worst state among the breakers (CLOSED when there are none).
        queue_size: requests waiting for a slot.
        response_time: p95 response time in seconds (the figure judged, likewise).
    """

    status: HealthState
    reasons: tuple[str, ...] = ()
    success_rate: float = 100.0
    circuit_state: CircuitState = CircuitState.CLOSED
    queue_size: int = 0
    response_time: float = 0.0

    @property
    def checks(self) -> frozenset[str]:
        """Names of the crossed checks (the part of each reason before the colon)."""
        return frozenset(reason.partition(":")[0] for reason in self.reasons)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (enum members as their values)."""
        return {
            "status": self.status.value,
            "reasons": list(self.reasons),
            "success_rate": self.success_rate,
            "circuit_state": self.circuit_state.value,
            "queue_size": self.queue_size,
            "response_time": self.response_time,
        }


def _hosts(hosts: list[str]) -> str:
    shown = ", ".join(sorted(hosts)[:_HOSTS_SHOWN])
    extra = len(hosts) - _HOSTS_SHOWN
    return f"{shown} and {extra} more" if extra > 0 else shown


def assess_health(
    metrics: ClientMetrics,
    thresholds: AlertThresholds | None = None,
    window: WindowStats | None = None,
) -> HealthStatus:
    """Judge ``metrics`` against ``thresholds`` (``AlertThresholds()`` by default).

    Args:
        metrics: the snapshot (breaker states, queue size, and the lifetime figures).
        thresholds: the limits.
        window: recent requests; when given, rates and p95 are judged on it instead of
            the lifetime figures of ``metrics``.
    """
    t = thresholds if thresholds is not None else DEFAULT_THRESHOLDS
    reasons: list[str] = []
    unhealthy = False
    states = metrics.circuit_states
    open_hosts = [h for h, s in states.items() if s is CircuitState.OPEN]
    half_open = [h for h, s in states.items() if s is CircuitState.HALF_OPEN]
    if open_hosts:
        unhealthy = len(open_hosts) >= t.max_breaker_opens
        reasons.append(f"circuit_open: {len(open_hosts)} open ({_hosts(open_hosts)})")
    if half_open:
        reasons.append(f"circuit_half_open: {len(half_open)} probing ({_hosts(half_open)})")
    if window is not None:
        completed, success, error = window.completed, window.success_rate, window.error_rate
        p95, where = window.p95_response_time, f" over {window.window_seconds:g} s"
    else:
        completed = (
            metrics.successful_requests + metrics.failed_requests + metrics.rejected_requests
        )
        success, error, p95, where = (
            metrics.success_rate,
            metrics.error_rate,
            metrics.p95_response_time,
            "",
        )
    if completed >= t.min_requests:
        if success < t.min_success_rate:
            reasons.append(f"success_rate: {success:.1f}% < {t.min_success_rate:g}%{where}")
        if error > t.max_error_rate:
            reasons.append(f"error_rate: {error:.1f}% > {t.max_error_rate:g}%{where}")
        if p95 > t.max_p95_response_time:
            reasons.append(f"p95_response_time: {p95:.3f} s > {t.max_p95_response_time:g} s{where}")
    if metrics.queue_size > t.max_queue_size:
        reasons.append(f"queue_size: {metrics.queue_size} > {t.max_queue_size}")
    worst = max(states.values(), key=SEVERITY.__getitem__, default=CircuitState.CLOSED)
    if unhealthy:
        status = HealthState.UNHEALTHY
    elif reasons:
        status = HealthState.DEGRADED
    else:
        status = HealthState.HEALTHY
    return HealthStatus(
        status=status,
        reasons=tuple(reasons),
        success_rate=success,
        circuit_state=worst,
        queue_size=metrics.queue_size,
        response_time=p95,
    )


class AlertTracker:
    """Remembers which checks are crossed; logs and calls the hook when that changes.

    Args:
        on_alert: called with the new status when a check is crossed or cleared.
        logger: where the one line per change goes (WARNING when something is crossed,
            INFO when checks only cleared), with structured ``extra`` fields.
    """

    __slots__ = ("crossed", "logger", "on_alert")

    def __init__(
        self,
        on_alert: Callable[[HealthStatus], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.crossed: frozenset[str] = frozenset()
        self.on_alert = on_alert
        self.logger = logger

    def update(self, status: HealthStatus) -> tuple[frozenset[str], frozenset[str]]:
        """Record ``status``; report and return the checks newly crossed and cleared."""
        now = status.checks
        crossed, cleared = now - self.crossed, self.crossed - now
        self.crossed = now
        if crossed or cleared:
            self._report(status, crossed, cleared)
        return crossed, cleared

    def _report(
        self, status: HealthStatus, crossed: frozenset[str], cleared: frozenset[str]
    ) -> None:
        log = self.logger
        if log is not None:
            extra = {
                "event": "health_alert" if crossed else "health_recovered",
                "health_status": status.status.value,
                "reasons": list(status.reasons),
                "crossed": sorted(crossed),
                "cleared": sorted(cleared),
                "success_rate": status.success_rate,
                "p95_response_time": status.response_time,
                "queue_size": status.queue_size,
            }
            if crossed:
                log.warning(
                    "health %s: %s", status.status.value, "; ".join(status.reasons), extra=extra
                )
            else:
                log.info(
                    "health %s: %s cleared",
                    status.status.value,
                    ", ".join(sorted(cleared)),
                    extra=extra,
                )
        if self.on_alert is not None:
            try:
                self.on_alert(status)
            except Exception:
                if log is not None:
                    log.exception("on_alert hook raised", extra={"event": "alert_hook_error"})
