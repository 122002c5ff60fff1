"""Shared helpers for the rate-limit tests (not collected: no ``test_`` prefix)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import anyio
import anyio.lowlevel
import httpx

from httpx_resilient._core.snapshots import BucketState
from httpx_resilient._ratelimit.backend import InProcessBackend
from httpx_resilient._ratelimit.bucket import Limit
from httpx_resilient._ratelimit.transport import RateLimitTransport


async def settle() -> None:
    """Let every runnable task run until all are blocked.

    Checkpoints first: anyio's ``wait_all_tasks_blocked`` on asyncio sleeps 0.1 s for real
    each time it finds a task still runnable.
    """
    for _ in range(30):
        await anyio.lowlevel.checkpoint()
    await anyio.wait_all_tasks_blocked()


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="ok")


def request(url: str = "http://a.test/", **extensions: object) -> httpx.Request:
    return httpx.Request("GET", url, extensions=extensions)


async def send(
    transport: httpx.AsyncBaseTransport, url: str = "http://a.test/", **extensions: object
) -> httpx.Response:
    response = await transport.handle_async_request(request(url, **extensions))
    await response.aread()
    return response


def bucket(transport: RateLimitTransport, key: str, index: int = 0) -> BucketState:
    found = [b for b in transport.statistics().buckets if b.key == key and b.limit_index == index]
    assert len(found) == 1, found
    return found[0]


class AsyncBackend:
    """A backend that is not in process: every call awaits first, as a network store would.

    It wraps an ``InProcessBackend`` so tests can compare; ``fail`` names methods that
    raise ``ConnectionError`` (the way a store that is down would).
    """

    def __init__(self) -> None:
        self.store = InProcessBackend()
        self.calls: Counter[str] = Counter()
        self.fail: set[str] = set()

    async def _enter(self, name: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.calls[name] += 1
        if name in self.fail:
            raise ConnectionError(f"{name}: store unreachable")

    async def try_acquire(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        await self._enter("try_acquire")
        return self.store.acquire_now(limits, keys, cost, now)

    async def wait_time(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        await self._enter("wait_time")
        return self.store.wait_time_now(limits, keys, cost, now)

    async def throttle(
        self,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        *,
        pause: float | None,
        decrease: bool,
    ) -> None:
        await self._enter("throttle")
        self.store.throttle_now(limits, keys, now, pause=pause, decrease=decrease)

    async def recover(self, limits: Sequence[Limit], keys: Sequence[str], now: float) -> None:
        await self._enter("recover")
        self.store.recover_now(limits, keys, now)

    @property
    def recovering(self) -> bool:
        return self.store.recovering

    def buckets(self, limits: Sequence[Limit], now: float) -> tuple[BucketState, ...]:
        return self.store.buckets(limits, now)


BACKENDS = ["in-process", "async"]


def backend_for(kind: str) -> InProcessBackend | AsyncBackend:
    return InProcessBackend() if kind == "in-process" else AsyncBackend()
