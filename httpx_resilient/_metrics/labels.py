"""Bounded ``host`` labels for the exporters: the busiest hosts by name, the rest as "other".

A client that talks to thousands of hosts must not make thousands of time series per
metric. Once an exporter is attached, ``MetricsTransport`` counts requests per host in
a ``HostTraffic`` (bounded, with decay; not counted at all without an exporter); an
exporter keeps at most ``max_hosts`` hosts under their own name and folds the rest
into ``host="other"``. Ranking: breakers that are OPEN, then HALF_OPEN (an open
breaker is never hidden), then the hosts with the most requests, then by name, so a
scrape is stable.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from operator import itemgetter

from .._core.outcomes import ConfigError
from .._core.snapshots import CircuitState
from .snapshot import SEVERITY

__all__ = ["DEFAULT_MAX_HOSTS", "OTHER", "HostLabels", "HostTraffic", "bound_hosts", "max_hosts"]

OTHER = "other"
DEFAULT_MAX_HOSTS = 100


def max_hosts(owner: str, value: object) -> int:
    """Validate an exporter's ``max_hosts`` (an int >= 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{owner}.max_hosts", f"must be an integer >= 1, got {value!r}")
    return value


class HostTraffic:
    """Requests per host, bounded: the ``keep`` busiest survive each prune, halved.

    ``add`` is O(1) for a known host; a new host past ``2 * keep`` entries triggers a
    prune (O(n log keep), once per ``keep`` new hosts: O(log keep) amortised). Halving
    on each prune lets recent traffic outweigh old. Readers in other threads copy
    ``counts`` (one atomic call); a prune swaps in a new dict rather than editing.

    Args:
        keep: hosts kept by a prune (default 1,024).
    """

    __slots__ = ("_keep", "counts")

    def __init__(self, keep: int = 1024) -> None:
        self._keep = keep
        self.counts: dict[str, int] = {}

    def add(self, host: str) -> None:
        """Count one request to ``host``."""
        counts = self.counts
        n = counts.get(host)
        if n is not None:
            counts[host] = n + 1
            return
        if len(counts) >= 2 * self._keep:
            top = heapq.nlargest(self._keep, list(counts.items()), key=itemgetter(1))
            counts = self.counts = {h: (c + 1) // 2 for h, c in top}
        counts[host] = 1

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts (safe from any thread)."""
        return dict(self.counts)


def bound_hosts(
    states: Mapping[str, CircuitState], traffic: Mapping[str, int], limit: int
) -> tuple[dict[str, CircuitState], dict[CircuitState, int]]:
    """Split breaker states into the ``limit`` hosts shown and counts folded into "other".

    Returns:
        The hosts kept with their state, and per state how many other hosts are in it
        (empty when every host fits).
    """
    if len(states) <= limit:
        return dict(states), {}
    ranked = heapq.nsmallest(
        limit,
        states.items(),
        key=lambda item: (-SEVERITY[item[1]], -traffic.get(item[0], 0), item[0]),
    )
    kept = dict(ranked)
    other: dict[CircuitState, int] = {}
    for host, state in states.items():
        if host not in kept:
            other[state] = other.get(state, 0) + 1
    return kept, other


class HostLabels:
    """Labels for a per-request instrument: the first ``limit`` hosts, then "other".

    Decision: a value recorded on a cumulative OpenTelemetry histogram cannot be taken
    back, so a host that got its own label keeps it; the first ``limit`` hosts seen get
    one (in practice the busy ones, which come first and often), later ones are
    "other". At most ``limit + 1`` values, whatever the traffic.
    """

    __slots__ = ("_labeled", "_limit")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._labeled: set[str] = set()

    def __call__(self, host: str) -> str:
        """The label value for ``host``."""
        labeled = self._labeled
        if host in labeled:
            return host
        if len(labeled) < self._limit:
            labeled.add(host)
            return host
        return OTHER
