"""N requests at once (``asyncio.gather``) per client, each in a fresh process.

Run by ``throughput.py --gather N``; one child: ``python -m benchmarks._gather VARIANT URL N
[--tracemalloc]``. The child sends one request, takes the resident set size as its
baseline, gathers N GETs, and prints a JSON line: wall seconds, req/s, errors and peak
RSS (``ru_maxrss``) beyond the baseline. With ``--tracemalloc`` it also prints the top
allocation sites, snapshotted 0.5 s in, while every request is still alive, and stops.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

from benchmarks._load import close, fetch

VARIANTS = ("bare httpx", "facade defaults", "aiohttp")
HERE = Path(__file__).resolve().parent


def build(variant: str, url: str) -> Any:
    from httpx_resilient import QueueConfig, RateLimitedAPIClient

    no_pool_bound = httpx.Timeout(10.0, pool=None)
    if variant == "bare httpx":
        return httpx.AsyncClient(timeout=no_pool_bound)
    if variant == "facade defaults":  # as the facade's defaults will be
        return RateLimitedAPIClient(url, queue=QueueConfig(), timeout=no_pool_bound)
    import aiohttp

    return aiohttp.ClientSession()


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def child(variant: str, url: str, n: int, trace: bool) -> dict[str, Any]:
    client = build(variant, url)
    await fetch(client, url)
    baseline = rss()
    top: list[str] = []
    if trace:
        tracemalloc.start(1)

    async def snapshot() -> None:
        await asyncio.sleep(0.5)
        stats = tracemalloc.take_snapshot().statistics("lineno")
        total = sum(s.size for s in stats)
        top.append(f"traced {total / 1e6:.1f} MB at 0.5 s")
        top.extend(f"{s.size / 1e6:6.1f} MB {s.count:>7} blocks  {s.traceback}" for s in stats[:10])

    errors = 0

    async def one() -> None:
        nonlocal errors
        try:
            await fetch(client, url)
        except Exception:
            errors += 1

    start = time.perf_counter()
    if trace:  # the snapshot is all this run is for: no need to wait for the rest
        gathered = asyncio.gather(*(one() for _ in range(n)))
        await snapshot()
        gathered.cancel()
        return {"top": top}
    await asyncio.gather(*(one() for _ in range(n)))
    wall = time.perf_counter() - start
    await close(client)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    return {"wall": wall, "rate": n / wall, "errors": errors, "peak": peak, "top": top}


def run_all(url: str, n: int, timeout: float) -> list[str]:
    lines = [f"[gather] {n} requests at once against nginx, each client in a fresh process"]
    lines.append(
        f"  {'variant':<18}{'wall s':>8}{'req/s':>8}{'errors':>8}{'peak RSS MB':>13}{'KB/req':>8}"
    )
    runs = [(v, False) for v in VARIANTS] + [("facade defaults", True)]
    for variant, trace in runs:
        command = [sys.executable, "-m", "benchmarks._gather", variant, url, str(n)]
        if trace:
            command.append("--tracemalloc")
        try:
            done = subprocess.run(command, cwd=HERE.parent, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            lines.append(f"  {variant:<18} did not finish within {timeout:.0f} s")
            continue
        try:
            result = json.loads(done.stdout.decode().strip().splitlines()[-1])
        except (IndexError, ValueError):
            lines.append(f"  {variant:<18} failed: {done.stderr.decode()[-300:]}")
            continue
        if trace:
            lines.append(
                "  facade defaults, tracemalloc top entries (slower run, figures above untraced):"
            )
            lines.extend(f"    {t}" for t in result["top"])
            continue
        peak = result["peak"] / 1e6
        lines.append(
            f"  {variant:<18}{result['wall']:>8.1f}{result['rate']:>8.0f}{result['errors']:>8}"
            f"{peak:>13.1f}{result['peak'] / n / 1e3:>8.1f}"
        )
    return lines


if __name__ == "__main__":
    arguments = sys.argv[1:]
    traced = "--tracemalloc" in arguments
    name, target, count = [a for a in arguments if a != "--tracemalloc"]
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})
    print(json.dumps(asyncio.run(child(name, target, int(count), traced))), flush=True)
    if traced:
        os._exit(0)  # leave the 10,000 requests still in flight behind
