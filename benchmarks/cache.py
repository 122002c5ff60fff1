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
import contextlib
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
                        variants[i] = (
                            replace(e, response=replace(e.response, headers=headers)),
                            chunks,
                        )

        async def remove_entry(self, id: uuid.UUID) -> None:
            for key, variants in list(self.entries.items()):
                self.entries[key] = [(e, c) for e, c in variants if e.id != id]

    options: Any = hishel.CacheOptions(shared=False) if rfc else False
    return AsyncCacheTransport(inner, storage=MemoryStorage(), rfc=options)


Call = Callable[[], Awaitable[None]]


def client_call(client: httpx.AsyncClient) -> Call:
    async def call() -> None:
        response = await client.get(URL)
        assert response.content == BODY

    return call


def layer_call(transport: httpx.AsyncBaseTransport) -> Call:
    request = httpx.Request("GET", URL, headers={"Accept": "*/*", "User-Agent": "bench"})

    async def call() -> None:
        response = await transport.handle_async_request(request)
        await response.aread()

    return call


def cases() -> dict[str, tuple[str, Callable[[], httpx.AsyncBaseTransport]]]:
    """name -> (how it is called, a factory of the transport under test)."""
    return {
        "bare MockTransport (cacheable)": ("both", lambda: upstream(CACHEABLE)),
        "httpx_resilient hit": (
            "both",
            lambda: CacheTransport(upstream(CACHEABLE), CacheConfig()),
        ),
        "hishel hit (RFC 9111 mode)": (
            "both",
            lambda: hishel_transport(upstream(CACHEABLE), rfc=True),
        ),
        "hishel hit (non-RFC mode)": (
            "both",
            lambda: hishel_transport(upstream(CACHEABLE), rfc=False),
        ),
        "bare MockTransport (no-store)": ("both", lambda: upstream(UNCACHEABLE)),
        "httpx_resilient miss (no-store)": (
            "both",
            lambda: CacheTransport(upstream(UNCACHEABLE), CacheConfig()),
        ),
        "hishel miss (no-store, RFC mode)": (
            "both",
            lambda: hishel_transport(upstream(UNCACHEABLE), rfc=True),
        ),
    }


async def main(rounds: int, requests: int) -> dict[str, float]:
    """Time every case, interleaving rounds so that load on the machine hits all alike."""
    calls: dict[str, Call] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name, (_, factory) in cases().items():
            client = await stack.enter_async_context(httpx.AsyncClient(transport=factory()))
            calls[f"client: {name}"] = client_call(client)
            calls[f"layer:  {name}"] = layer_call(factory())
        for call in calls.values():  # warm up, and fill the caches
            for _ in range(200):
                await call()
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                for _ in range(requests):
                    await call()
                samples[name].append((time.perf_counter() - start) / requests * 1e6)
    results = {name: statistics.median(values) for name, values in samples.items()}
    width = max(map(len, results))
    print(f"median of {rounds} interleaved rounds x {requests} requests, µs per request")
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:8.1f}")

    def ratio(a: str, b: str) -> float:
        return results[a] / results[b]

    ours, hishel = "httpx_resilient hit", "hishel hit (RFC 9111 mode)"
    bare_miss = "bare MockTransport (no-store)"
    print(f"hit, layer alone: hishel / ours = {ratio(f'layer:  {hishel}', f'layer:  {ours}'):.1f}x")
    print(f"hit, via client:  hishel / ours = {ratio(f'client: {hishel}', f'client: {ours}'):.1f}x")
    for who, case in (
        ("ours", "httpx_resilient miss (no-store)"),
        ("hishel", "hishel miss (no-store, RFC mode)"),
    ):
        extra = results[f"layer:  {case}"] - results[f"layer:  {bare_miss}"]
        print(f"miss overhead over bare MockTransport, layer alone, {who}: {extra:.1f} µs")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
