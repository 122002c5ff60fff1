"""A queued request's place in line (its priority, the handle that wakes it) and what the
transport reads off a request or response: priority, pool timeout, long-lived stream."""

from __future__ import annotations

import asyncio

import anyio
import httpx

from .._core.outcomes import ConfigError
from .waitqueue import Waiter

__all__ = ["SlotWaiter", "asyncio_future", "long_lived", "park", "pool_timeout", "priority_of"]


def priority_of(request: httpx.Request) -> int:
    """``extensions["priority"]`` (int, higher first; default 0)."""
    value = request.extensions.get("priority", 0)
    if type(value) is int:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    raise ConfigError("extensions.priority", f"must be an int, got {type(value).__name__}")


def asyncio_future() -> asyncio.Future[None] | None:
    """A bare future when running under asyncio (an ``anyio.Event`` costs ~900 bytes
    there, a future ~100: it matters with 10,000 waiters); ``None`` elsewhere."""
    try:
        return asyncio.get_running_loop().create_future()
    except RuntimeError:
        return None


class SlotWaiter(Waiter):
    """A queued request and the handle that wakes it: a future or an event while it is
    parked, a cancel scope while it sleeps on the clock for everyone's deadlines."""

    __slots__ = ("handle",)

    def __init__(self, priority: int, until: float | None) -> None:
        super().__init__(priority, until)
        self.handle: asyncio.Future[None] | anyio.Event | anyio.CancelScope | None = None

    def wake(self) -> None:
        handle, self.handle = self.handle, None
        if isinstance(handle, anyio.CancelScope):
            handle.cancel()
        elif isinstance(handle, anyio.Event):
            handle.set()
        elif handle is not None and not handle.done():
            handle.set_result(None)


def long_lived(request: httpx.Request, response: httpx.Response) -> bool:
    """A stream that may stay open indefinitely: it gives no latency sample."""
    if response.status_code == 101 or request.extensions.get("stream") is True:
        return True
    headers = response.headers
    items = getattr(headers, "_list", None)  # (raw key, lower-case key, value): 10x faster
    if not isinstance(items, list):
        content_type: str = headers.get("content-type", "")
        return content_type.startswith("text/event-stream")
    for item in items:
        if item[1] == b"content-type":
            return bool(item[2].startswith(b"text/event-stream"))
    return False


def pool_timeout(request: httpx.Request) -> float | None:
    """The request's own pool timeout (httpx sets ``extensions["timeout"]``), if any."""
    timeouts = request.extensions.get("timeout")
    pool = timeouts.get("pool") if isinstance(timeouts, dict) else None
    return float(pool) if isinstance(pool, (int, float)) and pool >= 0 else None


async def park(waiter: SlotWaiter) -> None:
    """Wait until ``waiter.wake()``: on a bare future under asyncio, else an event."""
    future = asyncio_future()
    if future is not None:
        waiter.handle = future
        await future
    else:
        waiter.handle = event = anyio.Event()
        await event.wait()
