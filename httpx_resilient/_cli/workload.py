"""The demo's workload: a seeded mix of requests over the chaos server's endpoints, run
by a fixed number of workers through one client, with what each request ended in.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from .._core.clock import SYSTEM_CLOCK, Clock
from .._core.layer import Layer
from .._metrics.snapshot import ClientMetrics
from .progress import Progress

__all__ = ["Job", "Phase", "PhaseResult", "WireTap", "build_workload", "run_workload"]


@dataclass(frozen=True, slots=True)
class Job:
    """One request of the workload: a path on the chaos server and its priority."""

    path: str
    priority: int = 0


# (weight, kind): the share of each kind of traffic in the workload.
_MIX = (
    (14, "items"),
    (14, "cacheable"),
    (10, "etag"),
    (16, "flaky"),
    (12, "burst"),
    (10, "latency"),
    (6, "reset"),
    (18, "ok"),
)


def build_workload(n: int, seed: int) -> list[Job]:
    """``n`` jobs drawn from ``seed``: the same seed gives the same workload.

    Item lookups come in fan-outs of 2-4 identical requests in a row (independent parts
    of an application asking for the same item at once); they have the highest
    priority. Cacheable and ETag lookups reuse a few keys. Every other request is
    unique (a ``req`` query parameter), as most traffic is.
    """
    rng = random.Random(seed)
    kinds = [kind for _, kind in _MIX]
    weights = [weight for weight, _ in _MIX]
    jobs: list[Job] = []
    while len(jobs) < n:
        kind = rng.choices(kinds, weights)[0]
        unique = f"req={len(jobs)}"
        if kind == "items":
            job = Job(f"/items/{rng.randrange(30)}", priority=10)
            jobs.extend([job] * rng.randint(2, 4))
        elif kind == "cacheable":
            jobs.append(Job(f"/cacheable?key={rng.randrange(6)}&max_age=60"))
        elif kind == "etag":
            jobs.append(Job(f"/etag?key={rng.randrange(6)}"))
        elif kind == "flaky":
            jobs.append(Job(f"/flaky?fail=0.3&{unique}"))
        elif kind == "burst":
            jobs.append(Job(f"/burst?every=20&length=5&{unique}"))
        elif kind == "latency":
            ms = rng.choice((20, 50, 100, 200))
            jobs.append(Job(f"/latency?ms={ms}&{unique}", priority=-5))
        elif kind == "reset":
            jobs.append(Job(f"/reset?p=0.3&{unique}"))
        else:
            jobs.append(Job(f"/ok?{unique}"))
    return jobs[:n]


class WireTap(Layer):
    """Records when each request reached the network (below every other layer)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, clock: Clock | None = None) -> None:
        super().__init__(inner, clock=clock)
        self.sent: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(self._clock.now())
        return await self._inner.handle_async_request(request)

    def statistics(self) -> int:
        """How many requests went out."""
        return len(self.sent)

    def peak_rate(self, window: float = 1.0) -> int:
        """The most requests sent within any ``window`` seconds."""
        best = start = 0
        sent = self.sent
        for end, at in enumerate(sent):
            while at - sent[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best


@dataclass(slots=True)
class PhaseResult:
    """What one run of the workload ended in, as the client saw it."""

    label: str
    requests: int = 0
    succeeded: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    duration: float = 0.0

    @property
    def failed(self) -> int:
        """Requests that ended in an error or a status >= 400."""
        return self.requests - self.succeeded

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` quantile of request latency, in seconds (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


async def run_workload(
    client: httpx.AsyncClient,
    jobs: list[Job],
    *,
    label: str,
    concurrency: int,
    progress: Progress,
    clock: Clock = SYSTEM_CLOCK,
) -> PhaseResult:
    """Send every job through ``client`` with ``concurrency`` workers, in job order."""
    result = PhaseResult(label, requests=len(jobs))
    pending = iter(jobs)
    progress.start(label, len(jobs))

    async def worker() -> None:
        for job in pending:
            began = clock.now()
            outcome = await _send(client, job)
            result.latencies.append(clock.now() - began)
            if isinstance(outcome, httpx.Response):
                ok = outcome.status_code < 400
                if not ok:
                    result.failures[str(outcome.status_code)] += 1
            else:
                ok = False
                result.failures[outcome] += 1
            result.succeeded += ok
            progress.advance(ok)

    began = clock.now()
    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(jobs))):
            tg.start_soon(worker)
    result.duration = clock.now() - began
    progress.finish()
    return result


async def _send(client: httpx.AsyncClient, job: Job) -> httpx.Response | str:
    """The response, or the name of the error the request ended in."""
    try:
        return await client.get(job.path, extensions={"priority": job.priority})
    except httpx.HTTPError as exc:  # our refusals (ResilienceError) included
        return type(exc).__name__


@dataclass(frozen=True, slots=True)
class Phase:
    """One run of the workload: the client's view, the server's, and the wire's."""

    result: PhaseResult
    server: dict[str, Any]
    sent: int
    peak_rate: int
    metrics: ClientMetrics | None = None
    samples: tuple[Any, ...] = ()  # sampler.Sample over time, for the HTML report
