"""``httpx-resilient demo``: one workload, a bare client and the full stack, side by side.

Each phase starts its own chaos server (same seed, so the same faults) in the current
event loop, sends the same seeded workload through one ``httpx.AsyncClient``, and keeps
what the client saw, what the server saw (``ChaosApp.stats()``) and, for the stack,
``ResilientTransport.get_metrics()``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio
import httpx

from .. import (
    CircuitBreakerConfig,
    QueueConfig,
    RateLimitConfig,
    ResilientTransport,
    RetryConfig,
)
from ..testing._chaos import ChaosApp, run_chaos_server
from .progress import Mode, Progress, make_progress
from .report import print_report
from .sampler import CountingProgress, Probe, Sampler
from .workload import Job, Phase, WireTap, build_workload, run_workload

__all__ = ["DEMO_SETTINGS", "build_stack", "run_demo"]

CLIENT_RATE = 80.0  # requests per second to the host, through the stack
CLIENT_BURST = 20
SERVER_QUOTA = 100.0  # requests per second the chaos server takes before it sends 429
SERVER_QUOTA_BURST = 50
CONCURRENCY = 32  # workers sending the workload, in both phases
TIMEOUT = httpx.Timeout(5.0)

DEMO_SETTINGS = (
    f"rate limit {CLIENT_RATE:g}/s per host (burst {CLIENT_BURST}); breaker per endpoint "
    "(opens after 5 failures, probes after 0.5 s); up to 3 retries (50 ms backoff, "
    "Retry-After honoured); memory cache; dedup; queue of 16 by priority. "
    f"{CONCURRENCY} workers. The server takes {SERVER_QUOTA:g} requests/s "
    f"(burst {SERVER_QUOTA_BURST}), then answers 429."
)


def endpoint_of(request: httpx.Request) -> str:
    """The breaker key: the first path segment (every ``/items/{id}`` is ``/items``)."""
    return "/" + request.url.path.split("/", 2)[1]


def build_stack(inner: httpx.AsyncBaseTransport) -> ResilientTransport:
    """The demo's full stack around ``inner``."""
    return ResilientTransport(
        rate_limit=RateLimitConfig(max_requests=CLIENT_RATE, burst=CLIENT_BURST),
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=5, recovery_timeout=0.5, per=endpoint_of
        ),
        retry=RetryConfig(
            max_retries=3, base_delay=0.05, max_delay=1.0, max_retry_after=2.0, timeout_budget=15.0
        ),
        cache=True,
        dedup=True,
        queue=QueueConfig(max_concurrency=16, max_queue_size=1000),
        inner=inner,
    )


async def run_phase(
    label: str, jobs: Sequence[Job], *, seed: int, resilient: bool, progress: Progress
) -> Phase:
    """Run ``jobs`` against a fresh chaos server, bare or through the stack."""
    app = ChaosApp(seed, quota=SERVER_QUOTA, quota_burst=SERVER_QUOTA_BURST)
    async with run_chaos_server(app) as url:
        tap = WireTap(httpx.AsyncHTTPTransport())
        stack = build_stack(tap) if resilient else None
        entry = WireTap(stack if stack is not None else tap)  # what the workload offered
        counting = CountingProgress(progress)
        sampler = Sampler(Probe(app=app, entry=entry, wire=tap, progress=counting, stack=stack))
        async with (
            httpx.AsyncClient(base_url=url, transport=entry, timeout=TIMEOUT) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(sampler.run)
            result = await run_workload(
                client, list(jobs), label=label, concurrency=CONCURRENCY, progress=counting
            )
            tg.cancel_scope.cancel()
        sampler.take()
    metrics = stack.get_metrics() if stack is not None else None
    phase = Phase(result, app.stats(), tap.statistics(), tap.peak_rate(), metrics)
    return dataclasses.replace(phase, samples=tuple(sampler.samples))


async def _both(jobs: Sequence[Job], seed: int, progress: Progress) -> tuple[Phase, Phase]:
    bare = await run_phase(
        "bare httpx.AsyncClient", jobs, seed=seed, resilient=False, progress=progress
    )
    stack = await run_phase(
        "ResilientTransport", jobs, seed=seed, resilient=True, progress=progress
    )
    return bare, stack


def run_demo(
    *,
    requests: int,
    seed: int,
    backend: str,
    progress: Mode,
    out: TextIO,
    err: TextIO,
    verbose: bool = False,
    html: str | None = None,
) -> int:
    """Run both phases and print the report to ``out``.

    Progress, and with ``verbose`` the library's log events (breaker trips, ...), go to
    ``err``; without it those events are only counted in the report. With ``html``, the
    charts over time are also written to that file (``html.py``).
    """
    jobs = build_workload(requests, seed)
    print(
        f"httpx-resilient demo: {requests} requests (seed {seed}, {backend}) against an "
        "embedded chaos server, first through a bare client, then through the stack.",
        file=out,
        flush=True,
    )
    handler: logging.Handler = logging.NullHandler()
    if verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    library_logger = logging.getLogger("httpx_resilient")
    library_logger.addHandler(handler)
    display = make_progress(progress, err)
    try:
        bare, stack = anyio.run(_both, jobs, seed, display, backend=backend)
    finally:
        display.close()
        library_logger.removeHandler(handler)
    limit = f"{CLIENT_RATE:g}/s, burst {CLIENT_BURST}"
    print_report(bare, stack, limit=limit, settings=DEMO_SETTINGS, out=out, rich=out.isatty())
    if html is not None:
        from .html import render_html

        page = render_html(
            bare, stack, settings=DEMO_SETTINGS, limit=limit, quota=SERVER_QUOTA, rate=CLIENT_RATE
        )
        Path(html).write_text(page, encoding="utf-8")
        print(f"HTML report: {html}", file=out)
    return 0
