"""Per-request cost of the stack in CPU instructions (valgrind callgrind), not seconds.

Timings on a shared 2-core machine move by 30 % between runs; instruction counts repeat
to within about 1 % whatever else the machine does (hash seed fixed). Each variant runs 300 and
1,300 GETs through ``httpx.AsyncClient`` over ``httpx.MockTransport`` under callgrind;
the difference over 1,000 is the cost of one request (start-up cancels out).

Run: ``python -m benchmarks.instructions [--backend asyncio|trio] [--variants bare,full]``
(needs ``valgrind``; about a minute per variant).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

import anyio
import httpx

import httpx_resilient as hr

VARIANTS = {
    "bare": "bare MockTransport",
    "empty": "ResilientTransport, no layer (lifecycle only)",
    "rbr": "rate limit + breaker + retry",
    "fqueue": "fixed queue (adaptive=False)",
    "queue": "adaptive queue (default)",
    "metrics": "metrics",
    "full": "full stack (all layers, cache miss)",
}


def _app(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def build(variant: str) -> httpx.AsyncBaseTransport:
    """The transport of one variant, over a fresh ``MockTransport``."""
    mock = httpx.MockTransport(_app)
    rate = hr.RateLimitConfig(max_requests=10**9)
    layers: dict[str, dict[str, object]] = {
        "empty": {"metrics": False},
        "rbr": {
            "metrics": False,
            "rate_limit": rate,
            "circuit_breaker": hr.CircuitBreakerConfig(),
            "retry": hr.RetryConfig(),
        },
        "fqueue": {"metrics": False, "queue": hr.QueueConfig(adaptive=False)},
        "queue": {"metrics": False, "queue": hr.QueueConfig()},
        "metrics": {},
        "full": {
            "rate_limit": rate,
            "circuit_breaker": hr.CircuitBreakerConfig(),
            "retry": hr.RetryConfig(),
            "queue": hr.QueueConfig(),
            "dedup": True,
            "cache": hr.CacheConfig(),
        },
    }
    if variant == "bare":
        return mock
    return hr.ResilientTransport(inner=mock, **layers[variant])  # type: ignore[arg-type]


async def _requests(variant: str, n: int) -> None:
    async with httpx.AsyncClient(transport=build(variant), base_url="http://bench") as client:
        for _ in range(n):
            await client.get("/")


def _instructions(variant: str, n: int, backend: str) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--child",
        variant,
        str(n),
        backend,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # same dict and set layouts every run
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"no callgrind total for {variant}: {done.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "N", "BACKEND"))
    args = parser.parse_args()
    if args.child:
        variant, n, backend = args.child
        anyio.run(_requests, variant, int(n), backend=backend)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    costs = {}
    for variant in args.variants.split(","):
        low = _instructions(variant, 300, args.backend)
        high = _instructions(variant, 1300, args.backend)
        costs[variant] = (high - low) / 1000
    base = costs.get("bare")
    print(f"backend={args.backend}: instructions per request (callgrind)")
    for variant, cost in costs.items():
        extra = f"{cost - base:+10,.0f} {100 * (cost - base) / base:+6.1f} %" if base else ""
        print(f"{VARIANTS[variant]:45} {cost:10,.0f} {extra}")


if __name__ == "__main__":
    main()
