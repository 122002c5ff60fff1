"""The load benchmark: every client variant side by side on three loopback servers.

Run: ``python -m benchmarks.throughput [--backend asyncio|trio] [--servers nginx,delay,grows]
[--inflight 64] [--requests 3000] [--rounds 5] [--gather 10000]``
(needs ``pip install -e ".[bench]"`` for aiohttp and ``apt-get install -y nginx``).

Variants: bare httpx; bare httpx2 (imported beside httpx, not aliased); a
``ResilientTransport`` with only a fixed queue of 4, 8, 16 and 100; with the adaptive
queue (``QueueConfig()``); the facade with defaults (``RateLimitedAPIClient`` with
``queue=QueueConfig()`` and no pool bound on its timeout); aiohttp (asyncio only), the
outside reference. Servers (child processes pinned to the last CPU, the client to the
first): nginx serving a 13-byte file; a Python server adding ``--delay-ms`` (50) per
response; one whose latency is ``5 ms + 1 ms per request in progress``.

Each server gets a closed loop of ``--inflight`` workers per variant, sending requests
back to back; rounds are interleaved (the order rotates) and figures are medians over
rounds. The adaptive variants warm up with ``--requests`` requests first and report
the limit reached and the requests it took to come within 10 % of it. ``--gather``
then runs N requests at once (``gather``) per variant in a fresh process each:
wall time, req/s and peak RSS beyond the baseline taken after the first request,
plus the facade's top ``tracemalloc`` entries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import anyio
import httpx

from benchmarks import _gather
from benchmarks._load import Server, close, fetch, make_clients, nginx, python_server, queue_limit


async def closed_loop(
    client: Any, url: str, inflight: int, n: int, trace: list[int] | None
) -> float:
    """Send ``n`` GETs from ``inflight`` workers; return requests per second."""
    remaining = n

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await fetch(client, url)
            if trace is not None and remaining % 10 == 0:  # every 10th: get_metrics() costs
                trace.append(queue_limit(client) or 0)

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(inflight):
            tg.start_soon(worker)
    return n / (time.perf_counter() - start)


def converged(trace: list[int]) -> tuple[int, int]:
    """The final limit and the requests until the limit first came within 10 % of it
    (``trace`` holds the limit after every 10th request)."""
    final = trace[-1]
    for i, value in enumerate(trace):
        if abs(value - final) <= max(1, 0.1 * final):
            return final, 10 * (i + 1)
    return final, 10 * len(trace)


async def run_server(args: argparse.Namespace, name: str, url: str) -> list[str]:
    timed = name == "grows"
    clients = make_clients(url, args.backend, timed)
    rates: dict[str, list[float]] = {v: [] for v in clients}
    cpu: dict[str, list[float]] = {v: [] for v in clients}
    latency: dict[str, list[float]] = {v: [] for v in clients}
    lines: list[str] = []
    try:
        for variant, (client, _) in clients.items():  # warm-up; trace the adaptive limit
            trace: list[int] | None = [] if variant in ("adaptive", "facade defaults") else None
            await closed_loop(
                client, url, args.inflight, args.requests if trace is not None else 200, trace
            )
            if trace:
                final, took = converged(trace)
                lines.append(
                    f"  {variant}: starts at 10, limit {final} after warm-up, first within 10 %"
                    f" of it after {took} requests"
                )
        # the unloaded latency below the queue: one request at a time, bare httpx
        bare, bare_timing = clients["bare httpx"]
        if bare_timing is not None:
            bare_timing.samples.clear()
            await closed_loop(bare, url, 1, 100, None)
            lines.append(
                f"  unloaded latency: {1000 * statistics.median(bare_timing.samples):.1f} ms"
            )
        names = list(clients)
        for round_no in range(args.rounds):
            shift = round_no % len(names)
            for variant in names[shift:] + names[:shift]:
                client, timing = clients[variant]
                if timing is not None:
                    timing.samples.clear()
                began = time.process_time()
                rates[variant].append(
                    await closed_loop(client, url, args.inflight, args.requests, None)
                )
                cpu[variant].append((time.process_time() - began) / args.requests * 1e6)
                if timing is not None and timing.samples:
                    latency[variant].append(statistics.median(timing.samples))
    finally:
        for client, _ in clients.values():
            await close(client)
    base = statistics.median(rates["bare httpx"])
    best = max(statistics.median(rates[f"fixed {n}"]) for n in (4, 8, 16, 100))
    header = f"  {'variant':<18}{'req/s':>8}{'vs bare':>9}{'vs best fixed':>15}{'CPU us/req':>12}"
    lines.append(header + ("   p50 below queue" if timed else "") + "   req/s per round")
    for variant in clients:
        rate = statistics.median(rates[variant])
        us = statistics.median(cpu[variant])
        row = f"  {variant:<18}{rate:>8.0f}{rate / base:>9.2f}{rate / best:>15.2f}{us:>12.0f}"
        if timed:
            row += (
                f"{1000 * statistics.median(latency[variant]):>15.1f} ms"
                if latency[variant]
                else f"{'n/a':>18}"
            )
        lines.append(row + "   " + " ".join(f"{r:.0f}" for r in rates[variant]))
    return lines


def servers(args: argparse.Namespace) -> Iterator[tuple[str, AbstractContextManager[Server]]]:
    for name in args.servers:
        if name == "nginx":
            yield name, nginx()
        elif name == "delay":
            yield name, python_server("delay", "--base-ms", str(args.delay_ms))
        elif name == "grows":
            yield name, python_server("grows", "--base-ms", "5", "--per-request-ms", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--servers", default="nginx,delay,grows")
    parser.add_argument("--inflight", type=int, default=64)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--gather", type=int, default=0, help="also run N requests at once")
    parser.add_argument("--gather-timeout", type=float, default=90.0)
    args = parser.parse_args()
    args.servers = args.servers.split(",") if args.servers else []
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})  # the server gets the other CPU
    print(
        f"Load benchmark: {args.backend}, httpx {httpx.__version__}, {args.inflight} in flight, "
        f"{args.requests} requests x {args.rounds} interleaved rounds, medians; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    for name, context in servers(args):
        with context as server:
            lines = anyio.run(run_server, args, name, server.url, backend=args.backend)
        print(f"\n[{name}] {server.url}")
        print("\n".join(lines + [f"  {r}" for r in server.report]))
    if args.gather:
        with nginx() as server:
            print()
            print("\n".join(_gather.run_all(server.url, args.gather, args.gather_timeout)))


if __name__ == "__main__":
    main()
