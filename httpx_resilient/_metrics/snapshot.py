"""``ClientMetrics``: the frozen snapshot ``get_metrics()`` returns.

Kept apart from the transport so that health (``health.py``) and the exporters read it
without importing the transport that fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .._core.snapshots import CircuitState

__all__ = ["SEVERITY", "ClientMetrics"]

SEVERITY = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
"""Breaker states ordered from best to worst."""


@dataclass(frozen=True, slots=True)
class ClientMetrics:
    """A snapshot of a client's request metrics and its layers' counters.

    Rates are percentages (0-100) of completed requests (successful, failed or
    rejected; cancelled ones are left out): ``success_rate`` is 100 and ``error_rate``
    0 before any request completed. Times are seconds from entry to headers.
    ``concurrency_limit`` is the queue's limit in force, all hosts together (0 without
    a queue).
    """

    total_requests: int = 0
    successful_requests: int = 0
    failed_requests: int = 0
    rejected_requests: int = 0
    cancelled_requests: int = 0
    success_rate: float = 100.0
    error_rate: float = 0.0
    average_response_time: float = 0.0
    p50_response_time: float = 0.0
    p95_response_time: float = 0.0
    p99_response_time: float = 0.0
    retry_count: int = 0
    circuit_breaker_opens: int = 0
    circuit_states: Mapping[str, CircuitState] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    dedup_shared: int = 0
    queue_size: int = 0
    rate_limit_waits: int = 0
    active_requests: int = 0
    concurrency_limit: int = 0

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (circuit states as their string values)."""
        data = asdict(self)
        data["circuit_states"] = {h: s.value for h, s in self.circuit_states.items()}
        return data
