"""Per-request cost of each layer, and of the full stack, over a bare MockTransport.

Run: ``python benchmarks/overhead.py [--backend asyncio|trio] [--n 2000] [--rounds 9]``.
Nothing waits: the rate limit is generous, nothing fails, so this is the hot path.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import httpx

from benchmarks._harness import measure, report, run, timer
from httpx_resilient import (
    CacheConfig,
    CircuitBreakerConfig,
    DedupConfig,
    QueueConfig,
    RateLimitConfig,
    ResilientTransport,
    RetryConfig,
)

BODY = b'{"id": 123, "name": "example"}'


def app(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"Content-Type": "application/json"})


def client_runner(make: Callable[[], httpx.AsyncBaseTransport]):  # type: ignore[no-untyped-def]
    async def go(n: int) -> float:
        async with httpx.AsyncClient(transport=make(), base_url="http://bench") as client:
            start = timer()
            for i in range(n):
                await client.get(f"/items/{i % 50}")
            return timer() - start

    return go


def variants() -> dict[str, Callable[[int], object]]:
    mock = lambda: httpx.MockTransport(app)  # noqa: E731
    rate = RateLimitConfig(max_requests=1e9)
    breaker = CircuitBreakerConfig()
    retry = RetryConfig()
    return {
        "bare MockTransport": client_runner(mock),
        "rate limit": client_runner(
            lambda: ResilientTransport(rate_limit=rate, metrics=False, inner=mock())
        ),
        "circuit breaker": client_runner(
            lambda: ResilientTransport(circuit_breaker=breaker, metrics=False, inner=mock())
        ),
        "retry": client_runner(lambda: ResilientTransport(retry=retry, metrics=False, inner=mock())),
        "rate limit + breaker + retry": client_runner(
            lambda: ResilientTransport(
                rate_limit=rate, circuit_breaker=breaker, retry=retry, metrics=False, inner=mock()
            )
        ),
        "queue": client_runner(
            lambda: ResilientTransport(queue=QueueConfig(), metrics=False, inner=mock())
        ),
        "metrics": client_runner(lambda: ResilientTransport(inner=mock())),
        "dedup (no twin in flight)": client_runner(
            lambda: ResilientTransport(dedup=DedupConfig(), metrics=False, inner=mock())
        ),
        "cache miss (no-store)": client_runner(
            lambda: ResilientTransport(cache=CacheConfig(), metrics=False, inner=mock())
        ),
        "full stack (all layers, miss)": client_runner(
            lambda: ResilientTransport(
                rate_limit=rate,
                circuit_breaker=breaker,
                retry=retry,
                cache=True,
                dedup=True,
                queue=QueueConfig(),
                inner=mock(),
            )
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    async def bench() -> None:
        medians = await measure(variants(), n=args.n, rounds=args.rounds)  # type: ignore[arg-type]
        print(report(f"backend={args.backend} n={args.n} rounds={args.rounds}", medians,
                     "bare MockTransport"))  # fmt: skip

    run(bench, args.backend)


if __name__ == "__main__":
    main()
