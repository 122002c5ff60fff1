"""Quickstart: a few requests through ResilientTransport against the chaos server.

Starts the embedded chaos server on 127.0.0.1 in a background thread, then sends some
requests through the full stack and prints what each layer did:

    python examples/quickstart.py
"""

from __future__ import annotations

import logging

import anyio
import httpx

from httpx_resilient import CircuitBreakerConfig, RateLimitConfig, ResilientTransport, RetryConfig
from httpx_resilient.testing import chaos_server_thread

PATHS = [
    "/ok",
    "/flaky?fail=0.5",  # 502/503/504 half of the time: retried
    "/reset?p=0.5",  # the server drops the connection half of the time: retried
    "/cacheable?max_age=60",
    "/cacheable?max_age=60",  # fresh in the cache: no request sent
    "/etag?key=a",
    "/etag?key=a",  # revalidated with If-None-Match: the server answers 304
]


async def main(base_url: str) -> None:
    transport = ResilientTransport(
        rate_limit=RateLimitConfig(max_requests=50, window_seconds=1.0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=5, recovery_timeout=5.0),
        retry=RetryConfig(max_retries=3, base_delay=0.05),
        cache=True,
        dedup=True,
    )
    async with httpx.AsyncClient(base_url=base_url, transport=transport) as client:
        for path in PATHS:
            try:
                response = await client.get(path)
            except httpx.HTTPError as exc:
                print(f"{path:24} failed: {type(exc).__name__}")
                continue
            attempts = response.extensions.get("attempts", 1)
            from_cache = response.extensions.get("from_cache", False)
            print(f"{path:24} {response.status_code}  attempts={attempts}  from_cache={from_cache}")

        # Five identical requests at once: dedup sends one, all five get the answer.
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(client.get, "/items/7")
        server = (await client.get("/stats", extensions={"cache": "no-store"})).json()

    metrics = transport.get_metrics()
    print()
    print(f"requests: {metrics.total_requests}, successful: {metrics.successful_requests}")
    print(f"retries: {metrics.retry_count}, cache hits: {metrics.cache_hits}")
    print(f"shared by dedup: {metrics.dedup_shared}, p95: {metrics.p95_response_time:.3f} s")
    print(f"the server saw {server['requests']} requests: {server['endpoints']}")
    print(f"health: {transport.assess_health().status.value}")


if __name__ == "__main__":
    logging.basicConfig(format="log: %(name)s: %(message)s")  # the layers' events
    with chaos_server_thread(seed=21) as url:  # a seed where retries get to show
        anyio.run(main, url)
