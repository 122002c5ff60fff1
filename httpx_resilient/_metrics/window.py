"""``SlidingWindow``: outcomes and response times of the last ``window_seconds``.

Health is judged on recent requests, not lifetime totals, so it recovers when the
service does. The window is a ring of ``SLOTS`` slots, each ``window_seconds / SLOTS``
wide (one second for the default 60 s window), holding the counts of the requests
that completed in it and a sparse histogram of their response times (the bucket
indexes of ``LatencyHistogram``). Recording is O(1) amortised: a request that lands
in a new slot replaces the slots that went stale since, each once. Memory is bounded
by ``SLOTS`` times the histogram's bucket count, whatever the traffic.

A reading sums the slots still inside the window at ``now`` and changes nothing, so
it may run in any thread (exporters). Slots are replaced, never cleared in place: a
reader holds either a whole old slot or a whole new one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .histogram import quantiles

__all__ = ["SLOTS", "SlidingWindow", "WindowStats"]

SLOTS = 60
SUCCEEDED, FAILED, REJECTED = 0, 1, 2


class _Slot:
    """Counts of one slot; its ``id`` (``floor(time / width)``) never changes."""

    __slots__ = ("counts", "id", "latencies")

    def __init__(self, slot_id: int) -> None:
        self.id = slot_id
        self.counts = [0, 0, 0]  # succeeded, failed, rejected
        self.latencies: dict[int, int] = {}  # histogram bucket index -> count


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Requests that completed in the window, and their p95 response time.

    Attributes:
        succeeded: successful requests (cache hits included).
        failed: failed requests (errors, final 5xx or 429).
        rejected: requests refused by one of our layers.
        p95_response_time: seconds to headers, of the requests that got a response.
        window_seconds: the window's length.
    """

    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    p95_response_time: float = 0.0
    window_seconds: float = 60.0

    @property
    def completed(self) -> int:
        """Requests judged: successful, failed or rejected (cancelled ones are not)."""
        return self.succeeded + self.failed + self.rejected

    @property
    def success_rate(self) -> float:
        """Percent of completed requests that succeeded (100 when there are none)."""
        done = self.completed
        return 100.0 * self.succeeded / done if done else 100.0

    @property
    def error_rate(self) -> float:
        """Percent of completed requests that failed (0 when there are none)."""
        done = self.completed
        return 100.0 * self.failed / done if done else 0.0


class SlidingWindow:
    """The ring of slots behind ``WindowStats``.

    Args:
        window_seconds: the length of the window (positive).
    """

    __slots__ = ("_current", "_ring", "_width", "window_seconds")

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._width = window_seconds / SLOTS
        self._ring = [_Slot(-1 - i) for i in range(SLOTS)]  # ids that never match
        self._current = _Slot(-(2**62))

    def _slot(self, now: float) -> _Slot:
        slot_id = math.floor(now / self._width)
        current = self._current
        if slot_id == current.id or slot_id < current.id:  # same slot, or time stood still
            return current
        slot = _Slot(slot_id)
        self._ring[slot_id % SLOTS] = slot  # the stale slot it replaces is dropped whole
        self._current = slot
        return slot

    def record(self, now: float, outcome: int, latency_index: int | None = None) -> None:
        """Count a request that completed at ``now``.

        Args:
            now: the clock's time.
            outcome: ``SUCCEEDED``, ``FAILED`` or ``REJECTED``.
            latency_index: the ``LatencyHistogram`` bucket of its response time, if any.
        """
        slot = self._slot(now)
        slot.counts[outcome] += 1
        if latency_index is not None:
            latencies = slot.latencies
            latencies[latency_index] = latencies.get(latency_index, 0) + 1

    def stats(self, now: float) -> WindowStats:
        """What completed in the window ending at ``now`` (reads only; any thread)."""
        newest = math.floor(now / self._width)
        oldest = newest - SLOTS
        counts = [0, 0, 0]
        latencies: dict[int, int] = {}
        for slot in list(self._ring):
            if not oldest < slot.id <= newest:
                continue
            for i, n in enumerate(slot.counts):
                counts[i] += n
            for index, n in list(slot.latencies.items()):  # one atomic copy
                latencies[index] = latencies.get(index, 0) + n
        (p95,) = quantiles(latencies, (0.95,))
        return WindowStats(
            succeeded=counts[SUCCEEDED],
            failed=counts[FAILED],
            rejected=counts[REJECTED],
            p95_response_time=p95,
            window_seconds=self.window_seconds,
        )
