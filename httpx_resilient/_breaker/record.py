"""``BreakerRecord``: the whole state of one breaker, as plain fields.

Fit for a hash in a shared store; ``policy.py`` holds the state machine that moves it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._core.snapshots import CircuitState

__all__ = ["WINDOW_BUCKETS", "BreakerRecord", "clear_window"]

WINDOW_BUCKETS = 20
"""Time buckets in the failure-rate window."""


@dataclass(slots=True)
class BreakerRecord:
    """The whole state of one breaker, as plain fields (fit for a hash in a shared store).

    Attributes:
        state: the stored state; an OPEN breaker whose timeout passed becomes HALF_OPEN
            on the next read.
        generation: bumped on every state change and reset; tickets carry it.
        failures: consecutive failures while CLOSED.
        successes: consecutive probe successes while HALF_OPEN.
        probes: probes in flight while HALF_OPEN.
        opened_at: when it last opened (the clock's seconds).
        isolated: held OPEN by hand until ``reset``.
        bucket: index (``floor(now / width)``) of the newest window bucket.
        window_calls: calls counted in the window.
        window_failures: failures (slow calls included) counted in the window.
        calls: calls per bucket (a ring; empty unless failure-rate mode is on).
        failed: failures per bucket (a ring, like ``calls``).
    """

    state: CircuitState = CircuitState.CLOSED
    generation: int = 0
    failures: int = 0
    successes: int = 0
    probes: int = 0
    opened_at: float = 0.0
    isolated: bool = False
    bucket: int = 0
    window_calls: int = 0
    window_failures: int = 0
    calls: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def clear_window(rec: BreakerRecord) -> None:
    """Empty the failure-rate window of ``rec``."""
    rec.calls[:] = rec.failed[:] = [0] * WINDOW_BUCKETS
    rec.window_calls = rec.window_failures = 0
