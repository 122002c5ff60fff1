"""A tiny benchmark harness: interleaved rounds, medians, overhead over a baseline.

Each round runs every variant once, in turn, so machine noise hits all of them alike;
the figure reported is the median over rounds of microseconds per request, and the
overhead is that median minus the baseline's median from the same run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable

import anyio

Variant = Callable[[int], Awaitable[float]]  # runs n requests, returns seconds taken


async def measure(variants: dict[str, Variant], *, n: int, rounds: int) -> dict[str, float]:
    """Return the median microseconds per request of each variant.

    Rounds rotate the order of the variants (none always runs first or last), and the
    garbage collector is run before and paused during each timed run, so one variant's
    garbage is not collected on another's time.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm-up
        await run(max(50, n // 10))
    names = list(variants)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            gc.disable()
            try:
                samples[name].append(await variants[name](n) / n * 1e6)
            finally:
                gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def timer() -> float:
    """CPU time of this process: other processes on a shared machine don't count."""
    return time.process_time()


def report(title: str, medians: dict[str, float], baseline: str) -> str:
    base = medians[baseline]
    lines = [title, f"{'variant':<34}{'us/request':>12}{'overhead us':>13}{'ratio':>8}"]
    for name, value in medians.items():
        lines.append(f"{name:<34}{value:>12.2f}{value - base:>13.2f}{value / base:>8.2f}")
    return "\n".join(lines)


def run(main: Callable[[], Awaitable[None]], backend: str) -> None:
    anyio.run(main, backend=backend)
