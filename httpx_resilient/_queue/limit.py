"""``AdaptiveLimit``: a latency-driven concurrency limit for one host (sans-IO).

Ideas taken from Netflix concurrency-limits (Vegas: compare the measured latency with
the latency without load; Gradient2: a tolerance on that ratio, a ``sqrt(limit)``
allowance to grow by), Envoy's adaptive concurrency filter (re-measure the no-load
latency by briefly lowering the limit) and BBR's ProbeRTT, which Envoy's filter follows.

How it moves (each step O(1), no allocation):

- Samples are latencies below the queue (admission to response headers). A *window* is
  ``max(8, limit)`` samples, about one round trip of the whole limit, and its figure is
  its *lowest* sample (as TCP Vegas takes the least RTT of each round): when requests
  queue, every one of them waits, so the least grows too, while a pause of this process
  or a noisy neighbour delays only some requests and leaves the least alone.
- ``noload`` is the lowest window figure seen since the last probe: the latency with the
  least queueing we know of.
- At the end of each window, with ``ratio = least / noload``:
  ``ratio > 1 + TOLERANCE`` (requests only queue up, in the server, the network, or
  this process's own event loop and connection pool): the limit is cut to
  ``limit * (1 + TOLERANCE) / ratio`` (at most halved), the limit at which latency
  would sit at the tolerance if it grows with concurrency;
  ``ratio < 1 + TOLERANCE / 2`` and the window used at least half the limit: the limit
  grows by ``sqrt(limit)`` (at least 1); otherwise it holds.
- Every ``PROBE_EVERY`` windows one window runs at a quarter of the limit (the samples of
  requests admitted before it are skipped) and its figure *replaces* ``noload``, so a
  server that became slower for good is relearned instead of throttled forever; the
  limit then returns to where it was.

Starting limit: ``INITIAL`` (10), within ``[min_concurrency, max_concurrency]``. It
reaches a limit of 64 for a latency-bound server in about 10 windows (~400 requests),
and halves per window toward a lower limit when latency grows with concurrency; the
unit tests in ``tests/test_queue_limit.py`` pin these figures on synthetic servers.
"""

from __future__ import annotations

import math

__all__ = ["INITIAL", "PROBE_EVERY", "TOLERANCE", "AdaptiveLimit"]

INITIAL = 10
"""Starting limit (clamped to the configured bounds)."""
TOLERANCE = 0.5
"""Latency may exceed the no-load latency by this fraction before the limit falls."""
PROBE_EVERY = 32
"""Windows between two probes of the no-load latency."""
MIN_WINDOW = 8
"""Fewest samples in a window."""


class AdaptiveLimit:
    """The concurrency limit of one host, moved by the latencies it is fed.

    Args:
        minimum: the lowest limit (``QueueConfig.min_concurrency``).
        maximum: the highest limit (``QueueConfig.max_concurrency``).
        initial: the starting limit (default ``INITIAL``, clamped to the bounds).

    Attributes:
        limit: the current limit, an int in ``[minimum, maximum]``.
    """

    __slots__ = (
        "_count",
        "_estimate",
        "_held",
        "_least",
        "_maximum",
        "_minimum",
        "_noload",
        "_peak",
        "_probe_in",
        "_skip",
        "limit",
    )

    def __init__(self, minimum: int, maximum: int, initial: int = INITIAL) -> None:
        self._minimum = float(minimum)
        self._maximum = float(maximum)
        self._estimate = min(self._maximum, max(self._minimum, float(initial)))
        self.limit = int(self._estimate)
        self._noload = math.inf
        self._least = math.inf
        self._count = 0
        self._peak = 0
        self._probe_in = PROBE_EVERY
        self._held = 0.0  # the estimate to return to after a probe window; 0: not probing
        self._skip = 0  # samples still to ignore: requests admitted before the probe began

    @property
    def noload(self) -> float:
        """The no-load latency estimate in seconds (``inf`` before the first window)."""
        return self._noload

    def sample(self, latency: float, in_flight: int) -> int:
        """Record one latency (seconds) seen with ``in_flight`` requests below the queue
        (this one included); return the limit, which changes only at a window's end."""
        if self._skip:
            self._skip -= 1
            return self.limit
        if latency < self._least:
            self._least = latency
        self._count += 1
        if in_flight > self._peak:
            self._peak = in_flight
        if self._count < MIN_WINDOW or self._count < self.limit:
            return self.limit
        least = self._least
        peak = self._peak
        self._least = math.inf
        self._count = 0
        self._peak = 0
        self._update(least, peak, in_flight)
        return self.limit

    def _update(self, least: float, peak: int, in_flight: int) -> None:
        estimate = self._estimate
        if self._held:  # this window was the probe: relearn the no-load latency
            self._noload = least
            estimate, self._held = self._held, 0.0
        else:
            if least < self._noload:
                self._noload = least
            ratio = least / self._noload if self._noload > 0 else 1.0
            if ratio > 1.0 + TOLERANCE:
                estimate *= max(0.5, (1.0 + TOLERANCE) / ratio)
            elif ratio < 1.0 + TOLERANCE / 2 and 2 * peak >= self.limit:
                estimate += max(1.0, math.sqrt(estimate))
            self._probe_in -= 1
            if self._probe_in <= 0:  # at the minimum the probe runs at the limit itself
                self._probe_in = PROBE_EVERY
                self._held = min(self._maximum, max(self._minimum, estimate))
                estimate = estimate / 4
                self._skip = in_flight
        self._estimate = estimate = min(self._maximum, max(self._minimum, estimate))
        self.limit = int(estimate)
