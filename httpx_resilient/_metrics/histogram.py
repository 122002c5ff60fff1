"""A fixed-size log-linear histogram of durations, for percentiles in bounded memory.

Each power of two between about 1 µs and 4.5 hours is cut into ``SUB_BUCKETS`` equal
buckets, as HdrHistogram does, so every bucket is at most 1/32 of its lower bound wide:
a percentile read back at a bucket's midpoint is within about 1.6 % of the true value.
Memory is one list of ``BUCKETS`` ints whatever the number of recordings; recording is
one ``frexp`` and a few integer operations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "BUCKETS",
    "MAX_TRACKABLE",
    "MIN_TRACKABLE",
    "SUB_BUCKETS",
    "LatencyHistogram",
    "quantiles",
]

SUB_BUCKETS = 32
_MIN_EXP = -19  # frexp exponent of the lowest octave: [2**-20, 2**-19) s, about 1 µs
_MAX_EXP = 14  # highest octave: [2**13, 2**14) s, about 2.3 to 4.5 hours
BUCKETS = (_MAX_EXP - _MIN_EXP + 1) * SUB_BUCKETS
MIN_TRACKABLE = math.ldexp(0.5, _MIN_EXP)
MAX_TRACKABLE = math.ldexp(1.0, _MAX_EXP)
_frexp = math.frexp
# bucket of a mantissa m in [0.5, 1) and exponent e: (e - _MIN_EXP) * 32 + (m - 0.5) * 64
_OFFSET = -_MIN_EXP * SUB_BUCKETS - SUB_BUCKETS


def _lower_bound(index: int) -> float:
    octave, sub = divmod(index, SUB_BUCKETS)
    return math.ldexp(0.5 + sub / (2 * SUB_BUCKETS), octave + _MIN_EXP)


def _midpoint(index: int) -> float:
    return (_lower_bound(index) + _lower_bound(index + 1)) / 2 if index else 0.0


def quantiles(counts: dict[int, int], fractions: Sequence[float]) -> list[float]:
    """Quantiles (nearest rank, at bucket midpoints) of sparse ``{bucket index: count}``.

    For histograms kept per time slot (``window.py``); ``fractions`` ascending.
    """
    total = sum(counts.values())
    if not total:
        return [0.0] * len(fractions)
    ranks = [max(1, math.ceil(f * total)) for f in fractions]
    results: list[float] = []
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        while len(results) < len(ranks) and seen >= ranks[len(results)]:
            results.append(_midpoint(index))
    top = _midpoint(max(counts))
    return results + [top] * (len(ranks) - len(results))


class LatencyHistogram:
    """Counts of durations (seconds) in fixed log-linear buckets.

    Values below ``MIN_TRACKABLE`` land in the first bucket and values above
    ``MAX_TRACKABLE`` in the last; the exact minimum, maximum, count and sum are kept
    too, and percentile estimates are clamped to ``[min, max]``.
    """

    __slots__ = ("counts", "max", "min", "total")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.total = 0.0
        self.min = math.inf
        self.max = 0.0

    def record(self, seconds: float) -> int:
        """Add one duration (negative values count as zero); return its bucket index."""
        if seconds >= MIN_TRACKABLE:
            mantissa, exponent = _frexp(seconds)
            index = exponent * SUB_BUCKETS + int(mantissa * 64.0) + _OFFSET
            if index >= BUCKETS:
                index = BUCKETS - 1
        else:
            index = 0
            if seconds < 0.0:
                seconds = 0.0
        self.counts[index] += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        if seconds < self.min:
            self.min = seconds
        return index

    @property
    def count(self) -> int:
        """How many durations were recorded."""
        return sum(self.counts)

    @property
    def average(self) -> float:
        """The mean of every recorded duration (0.0 when empty)."""
        count = self.count
        return self.total / count if count else 0.0

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` (0-1) quantile by nearest rank, at its bucket's midpoint."""
        return self.percentiles((fraction,))[0]

    def percentiles(self, fractions: Sequence[float]) -> list[float]:
        """Several quantiles in one pass; ``fractions`` must be ascending."""
        count = self.count
        if not count:
            return [0.0] * len(fractions)
        results: list[float] = []
        ranks = [max(1, math.ceil(f * count)) for f in fractions]
        seen = 0
        want = 0
        for index, n in enumerate(self.counts):
            if not n:
                continue
            seen += n
            while want < len(ranks) and seen >= ranks[want]:
                if ranks[want] >= count or index == BUCKETS - 1:
                    value = self.max  # the top rank, or the overflow bucket: known exactly
                elif index:
                    value = (_lower_bound(index) + _lower_bound(index + 1)) / 2
                else:
                    value = 0.0
                results.append(min(max(value, self.min), self.max))
                want += 1
            if want == len(ranks):
                break
        while len(results) < len(ranks):  # fractions above 1
            results.append(self.max)
        return results

    def cumulative(self, bounds: Sequence[float]) -> list[int]:
        """Counts of durations below each of ascending ``bounds`` (bucket precision),
        for exporters with their own coarse buckets (e.g. Prometheus ``le``)."""
        out: list[int] = []
        seen = 0
        index = 0
        for bound in bounds:
            while index < BUCKETS and _lower_bound(index + 1) <= bound:
                seen += self.counts[index]
                index += 1
            out.append(seen)
        return out
