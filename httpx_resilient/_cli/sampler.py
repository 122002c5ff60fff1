"""Samples of one demo phase over time, for the HTML report's charts.

A ``Sampler`` reads a ``Probe`` every ``interval`` seconds while the workload runs, and
once more when it ends. The probe reads only counters that already exist (the wire
taps, the chaos server's count of 429s, ``get_metrics()`` and the queue's
``statistics()``), so sampling changes nothing in what it measures. Counters are
cumulative; the report turns them into rates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .._core.clock import SYSTEM_CLOCK, Clock
from .._queue.transport import PriorityQueueTransport
from .._stack import ResilientTransport
from ..testing._chaos import ChaosApp
from .progress import Progress
from .workload import WireTap

__all__ = ["CountingProgress", "Probe", "Sample", "Sampler"]


@dataclass(frozen=True, slots=True)
class Sample:
    """The counters of one phase at ``t`` seconds after it began."""

    t: float
    offered: int  # requests the workload handed to the client
    sent: int  # requests that reached the network
    done: int  # requests that finished (response or error)
    throttled: int  # 429s the server answered
    retries: int
    cache_hits: int = 0
    dedup_shared: int = 0
    queue_waiting: int = 0
    queue_active: int = 0
    limit: int | None = None  # the queue's concurrency limit (None: no queue)
    circuits: Mapping[str, str] = field(default_factory=dict)


class CountingProgress:
    """A ``Progress`` that also counts finished requests for the probe."""

    def __init__(self, inner: Progress) -> None:
        self._inner = inner
        self.done = 0

    def start(self, label: str, total: int) -> None:
        self.done = 0
        self._inner.start(label, total)

    def advance(self, ok: bool) -> None:
        self.done += 1
        self._inner.advance(ok)

    def finish(self) -> None:
        self._inner.finish()

    def close(self) -> None:
        self._inner.close()


class Probe:
    """Reads one phase's counters: the taps, the server, and the stack if there is one."""

    def __init__(
        self,
        *,
        app: ChaosApp,
        entry: WireTap,
        wire: WireTap,
        progress: CountingProgress,
        stack: ResilientTransport | None,
    ) -> None:
        self._app = app
        self._entry = entry
        self._wire = wire
        self._progress = progress
        self._stack = stack
        self._queue = stack.get_layer(PriorityQueueTransport) if stack is not None else None

    def read(self, t: float) -> Sample:
        """The counters now, stamped ``t``."""
        base = Sample(
            t=t,
            offered=self._entry.statistics(),
            sent=self._wire.statistics(),
            done=self._progress.done,
            throttled=self._app.rate_limited,
            retries=0,
        )
        if self._stack is None:
            return base
        metrics = self._stack.get_metrics()
        waiting = active = 0
        limit = None
        if self._queue is not None:
            stats = self._queue.statistics()
            waiting, active = stats.waiting, stats.active
            # A queue with an adaptive limit reports it as ``limit``; else the fixed maximum.
            limit = getattr(stats, "limit", None)
            if limit is None:
                limit = stats.max_concurrency
        return replace(
            base,
            retries=metrics.retry_count,
            cache_hits=metrics.cache_hits,
            dedup_shared=metrics.dedup_shared,
            queue_waiting=waiting,
            queue_active=active,
            limit=limit if isinstance(limit, int) else None,
            circuits={key: state.value for key, state in metrics.circuit_states.items()},
        )


class Sampler:
    """Reads ``probe`` every ``interval`` seconds until cancelled."""

    def __init__(self, probe: Probe, *, interval: float = 0.1, clock: Clock = SYSTEM_CLOCK):
        self._probe = probe
        self._interval = interval
        self._clock = clock
        self._began = clock.now()
        self.samples: list[Sample] = []

    def take(self) -> None:
        """Record one sample now."""
        self.samples.append(self._probe.read(self._clock.now() - self._began))

    async def run(self) -> None:
        """Sample at a steady pace (a late wake-up does not shift later samples)."""
        tick = 0
        while True:
            self.take()
            tick += 1
            delay = self._began + tick * self._interval - self._clock.now()
            await self._clock.sleep(max(0.0, delay))
