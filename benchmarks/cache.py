"""Per-request cost of the HTTP cache layer, next to hishel's cache transport.

Run: ``.venv/bin/python benchmarks/cache.py [--rounds 7] [--requests 5000]``.

Every case is timed in this one process, in rounds; the figure is the median of the
rounds, in microseconds per request. The upstream is ``httpx.MockTransport`` answering
at once, so the figures are the libraries' own costs:

- through ``httpx.AsyncClient`` (what a user pays, body read): bare MockTransport,
  our fresh memory hit, hishel's hit, our miss (``no-store`` responses), hishel's miss;
- the layer alone (``handle_async_request`` plus reading the body, no client): the
  hit path of each cache and the miss overhead over the bare transport.

hishel 2 ships only SQLite (needs ``anysqlite``) and Redis storages, so it is given a
minimal in-memory storage below: both caches then hit memory, a like-for-like race.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from httpx_resilient._cache import CacheTransport
from httpx_resilient._config import CacheConfig

BODY = b'{"id": 123, "name": "example"}' * 8
CACHEABLE = {"Cache-Control": "max-age=3600", "Content-Type": "application/json"}
UNCACHEABLE = {"Cache-Control": "no-store", "Content-Type": "application/json"}
URL = "http://api.example.com/users/123"


def upstream(headers: dict[str, str]) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(200, headers=headers, content=BODY))


def hishel_transport(inner: httpx.AsyncBaseTransport, *, rfc: bool) -> httpx.AsyncBaseTransport:
    import hishel
    from hishel._core._storages._async_base import AsyncBaseStorage
    from hishel.httpx import AsyncCacheTransport

    class MemoryStorage(AsyncBaseStorage):
        """The least a hishel storage can do: entries in a dict, bodies as chunk lists."""

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[str, list[tuple[hishel.Entry, list[bytes]]]] = {}

        async def create_entry(
            self, request: Any, response: Any, key: str, *, ttl: Any = None, tti: Any = None
        ) -> Any:
            entry_id = uuid.uuid4()
            chunks: list[bytes] = []
            source = response.stream

            async def saving() -> AsyncIterator[bytes]:
                async for chunk in source:
                    chunks.append(chunk)
                    yield chunk
                stored = hishel.Entry(entry_id, request, replace(response, stream=None))
                self.entries.setdefault(key, []).append((stored, chunks))

            return hishel.Entry(entry_id, request, replace(response, stream=saving()))

        async def get_entries(self, key: str) -> Any:
            async def replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            return [
                hishel.Entry(e.id, e.request, replace(e.response, stream=replay(chunks)))
                for e, chunks in self.entries.get(key, [])
            ]

        async def update_headers(self, id: uuid.UUID, headers: Any) -> None:
            for variants in self.entries.values():
                for i, (e, chunks) in enumerate(variants):
                    if e.id == id:
                        variants[i] = (replace(e, response=replace(e.response, headers=headers)), chunks)

        async def remove_entry(self, id: uuid.UUID) -> None:
            for key, variants in list(self.entries.items()):
                self.entries[key] = [(e, c) for e, c in variants if e.id != id]

    options: Any = hishel.CacheOptions(shared=False) if rfc else False
    return AsyncCacheTransport(inner, storage=MemoryStorage(), rfc=options)


async def timed(call: Callable[[], Awaitable[None]], rounds: int, requests: int) -> float:
    for _ in range(max(200, requests // 10)):  # warm up (and fill the cache)
        await call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(requests):
            await call()
        samples.append((time.perf_counter() - start) / requests * 1e6)
    return statistics.median(samples)


async def through_client(transport: httpx.AsyncBaseTransport, rounds: int, requests: int) -> float:
    async with httpx.AsyncClient(transport=transport) as client:

        async def call() -> None:
            response = await client.get(URL)
            assert response.content == BODY

        return await timed(call, rounds, requests)


async def layer_alone(transport: httpx.AsyncBaseTransport, rounds: int, requests: int) -> float:
    request = httpx.Request("GET", URL, headers={"Accept": "*/*", "User-Agent": "bench"})

    async def call() -> None:
        response = await transport.handle_async_request(request)
        await response.aread()

    return await timed(call, rounds, requests)


async def main(rounds: int, requests: int) -> dict[str, float]:
    ours = CacheTransport  # short names for the table below
    results = {
        "client: bare MockTransport": await through_client(
            upstream(CACHEABLE), rounds, requests
        ),
        "client: httpx_resilient hit": await through_client(
            ours(upstream(CACHEABLE), CacheConfig()), rounds, requests
        ),
        "client: hishel hit (RFC 9111)": await through_client(
            hishel_transport(upstream(CACHEABLE), rfc=True), rounds, requests
        ),
        "client: hishel hit (non-RFC mode)": await through_client(
            hishel_transport(upstream(CACHEABLE), rfc=False), rounds, requests
        ),
        "client: bare MockTransport, no-store": await through_client(
            upstream(UNCACHEABLE), rounds, requests
        ),
        "client: httpx_resilient miss (no-store)": await through_client(
            ours(upstream(UNCACHEABLE), CacheConfig()), rounds, requests
        ),
        "client: hishel miss (no-store, RFC)": await through_client(
            hishel_transport(upstream(UNCACHEABLE), rfc=True), rounds, requests
        ),
        "layer: bare MockTransport": await layer_alone(upstream(CACHEABLE), rounds, requests),
        "layer: httpx_resilient hit": await layer_alone(
            ours(upstream(CACHEABLE), CacheConfig()), rounds, requests
        ),
        "layer: hishel hit (RFC 9111)": await layer_alone(
            hishel_transport(upstream(CACHEABLE), rfc=True), rounds, requests
        ),
        "layer: bare MockTransport, no-store": await layer_alone(
            upstream(UNCACHEABLE), rounds, requests
        ),
        "layer: httpx_resilient miss (no-store)": await layer_alone(
            ours(upstream(UNCACHEABLE), CacheConfig()), rounds, requests
        ),
        "layer: hishel miss (no-store, RFC)": await layer_alone(
            hishel_transport(upstream(UNCACHEABLE), rfc=True), rounds, requests
        ),
    }
    width = max(map(len, results))
    print(f"median of {rounds} rounds x {requests} requests, microseconds per request")
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:8.1f}")
    ours_hit = results["layer: httpx_resilient hit"]
    print(
        f"hit, layer alone: hishel RFC / ours = {results['layer: hishel hit (RFC 9111)'] / ours_hit:.1f}x"
    )
    print(
        "hit through client: hishel RFC / ours = "
        f"{results['client: hishel hit (RFC 9111)'] / results['client: httpx_resilient hit']:.1f}x"
    )
    print(
        "miss overhead over bare, layer alone: ours "
        f"{results['layer: httpx_resilient miss (no-store)'] - results['layer: bare MockTransport, no-store']:.1f}"
        f", hishel {results['layer: hishel miss (no-store, RFC)'] - results['layer: bare MockTransport, no-store']:.1f}"
    )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
