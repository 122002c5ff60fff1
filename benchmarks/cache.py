"""Per-request cost of the HTTP cache layer, next to hishel's cache transport.

Run: ``.venv/bin/python benchmarks/cache.py [--rounds 7] [--requests 5000]``.

Every case is timed in this one process, in rounds; the figure is the median of the
rounds, in microseconds per request. The upstream is ``httpx.MockTransport`` answering
at once, so the figures are the libraries' own costs:

- through ``httpx.AsyncClient`` (what a user pays, body read): bare MockTransport (its
  body already in memory, and streamed as from a real connection), our fresh memory
  hit, hishel's hit, our miss (``no-store`` responses), hishel's miss;
- the layer alone (``handle_async_request`` plus reading the body, no client): the
  hit path of each cache and the miss cost over the bare transport;
- the layer alone without reading the body: what the cache itself adds to a hit
  (reading a streamed body is httpx's work, the same for any streamed response).

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

from httpx_resilient._cache.config import CacheConfig
from httpx_resilient._cache.transport import CacheTransport
from httpx_resilient._core.body import ReplayStream

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
Factory = Callable[[], httpx.AsyncBaseTransport]


def streamed(headers: dict[str, str]) -> httpx.MockTransport:
    """Like ``upstream``, but the body arrives as a stream, as from a real connection."""
    return httpx.MockTransport(
        lambda request: httpx.Response(200, headers=headers, stream=ReplayStream(BODY))
    )


def client_call(client: httpx.AsyncClient) -> Call:
    async def call() -> None:
        response = await client.get(URL)
        assert response.content == BODY

    return call


def layer_call(transport: httpx.AsyncBaseTransport, *, read: bool = True) -> Call:
    request = httpx.Request("GET", URL, headers={"Accept": "*/*", "User-Agent": "bench"})

    async def call() -> None:
        response = await transport.handle_async_request(request)
        if read:
            await response.aread()

    return call


def ours(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    return CacheTransport(inner, CacheConfig())


def hishel(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    return hishel_transport(inner, rfc=True)


def hishel_plain(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
    return hishel_transport(inner, rfc=False)


#: (label, how it is called, transport factory)
CASES: list[tuple[str, str, Factory]] = [
    ("bare MockTransport, body in memory", "client", lambda: upstream(CACHEABLE)),
    ("bare MockTransport, streamed body", "client", lambda: streamed(CACHEABLE)),
    ("httpx_resilient hit", "client", lambda: ours(upstream(CACHEABLE))),
    ("hishel hit (RFC 9111 mode)", "client", lambda: hishel(upstream(CACHEABLE))),
    ("hishel hit (non-RFC mode)", "client", lambda: hishel_plain(upstream(CACHEABLE))),
    ("bare MockTransport, no-store", "client", lambda: upstream(UNCACHEABLE)),
    ("httpx_resilient miss (no-store)", "client", lambda: ours(upstream(UNCACHEABLE))),
    ("hishel miss (no-store, RFC 9111 mode)", "client", lambda: hishel(upstream(UNCACHEABLE))),
    ("httpx_resilient hit", "layer", lambda: ours(upstream(CACHEABLE))),
    ("hishel hit (RFC 9111 mode)", "layer", lambda: hishel(upstream(CACHEABLE))),
    ("hishel hit (non-RFC mode)", "layer", lambda: hishel_plain(upstream(CACHEABLE))),
    ("httpx_resilient hit", "headers", lambda: ours(upstream(CACHEABLE))),
    ("hishel hit (RFC 9111 mode)", "headers", lambda: hishel(upstream(CACHEABLE))),
    ("bare MockTransport, no-store", "layer", lambda: upstream(UNCACHEABLE)),
    ("httpx_resilient miss (no-store)", "layer", lambda: ours(upstream(UNCACHEABLE))),
    ("hishel miss (no-store, RFC 9111 mode)", "layer", lambda: hishel(upstream(UNCACHEABLE))),
]
MODES = {
    "client": "through httpx.AsyncClient (get + body)",
    "layer": "layer alone (handle_async_request + aread)",
    "headers": "layer alone, headers only (handle_async_request)",
}


async def main(rounds: int, requests: int) -> dict[tuple[str, str], float]:
    """Time every case, interleaving rounds so that load on the machine hits all alike."""
    calls: dict[tuple[str, str], Call] = {}
    async with contextlib.AsyncExitStack() as stack:
        for label, mode, factory in CASES:
            if mode == "client":
                client = httpx.AsyncClient(transport=factory())
                calls[label, mode] = client_call(await stack.enter_async_context(client))
            else:
                calls[label, mode] = layer_call(factory(), read=mode == "layer")
        for call in calls.values():  # warm up, and fill the caches
            for _ in range(200):
                await call()
        samples: dict[tuple[str, str], list[float]] = {case: [] for case in calls}
        for _ in range(rounds):
            for case, call in calls.items():
                start = time.perf_counter()
                for _ in range(requests):
                    await call()
                samples[case].append((time.perf_counter() - start) / requests * 1e6)
    results = {case: statistics.median(values) for case, values in samples.items()}
    print(f"median of {rounds} interleaved rounds x {requests} requests, µs per request")
    for mode, title in MODES.items():
        print(f"{title}:")
        for (label, case_mode), value in results.items():
            if case_mode == mode:
                print(f"  {label:<40} {value:8.1f}")

    def ratio(label_a: str, label_b: str, mode: str) -> float:
        return results[label_a, mode] / results[label_b, mode]

    hit, rival = "httpx_resilient hit", "hishel hit (RFC 9111 mode)"
    for mode in MODES:
        print(f"hit, {MODES[mode]}: hishel / ours = {ratio(rival, hit, mode):.1f}x")
    bare = results["bare MockTransport, no-store", "layer"]
    for label in ("httpx_resilient miss (no-store)", "hishel miss (no-store, RFC 9111 mode)"):
        print(f"miss cost over bare MockTransport, layer alone, {label}: ", end="")
        print(f"{results[label, 'layer'] - bare:.1f} µs")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.requests))
