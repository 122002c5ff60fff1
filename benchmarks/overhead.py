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


LEVEL = "transport"
URLS = [f"http://bench/items/{i}" for i in range(50)]


def client_runner(make: Callable[[], httpx.AsyncBaseTransport]):  # type: ignore[no-untyped-def]
    """Run n GETs either through httpx.AsyncClient or straight at the transport.

    The transport level (the default) calls ``handle_async_request`` and reads the
    body, as the client would, without the client's own ~100 us of work per request,
    which otherwise drowns the differences being measured in noise.
    """

    async def through_client(n: int) -> float:
        async with httpx.AsyncClient(transport=make()) as client:
            start = timer()
            for i in range(n):
                await client.get(URLS[i % 50])
            return timer() - start

    async def at_transport(n: int) -> float:
        transport = make()
        async with transport:
            start = timer()
            for i in range(n):
                response = await transport.handle_async_request(httpx.Request("GET", URLS[i % 50]))
                await response.aread()
            return timer() - start

    async def go(n: int) -> float:
        return await (through_client(n) if LEVEL == "client" else at_transport(n))

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
        "retry": client_runner(
            lambda: ResilientTransport(retry=retry, metrics=False, inner=mock())
        ),
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
    parser.add_argument("--level", default="transport", choices=["transport", "client"])
    args = parser.parse_args()
    global LEVEL
    LEVEL = args.level

    async def bench() -> None:
        medians = await measure(variants(), n=args.n, rounds=args.rounds)  # type: ignore[arg-type]
        title = f"backend={args.backend} level={args.level} n={args.n} rounds={args.rounds}"
        print(report(title, medians,
                     "bare MockTransport"))  # fmt: skip

    run(bench, args.backend)


if __name__ == "__main__":
    main()
