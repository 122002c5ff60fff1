"""The embedded chaos server: a real HTTP/1.1 server on loopback that misbehaves on
purpose (latency, 5xx, bursts, 429 with hints, resets, cacheable and ETag endpoints,
slow bodies), seeded so runs repeat. Import it from here:

- ``ChaosApp``: the behaviour and its counters (``stats()``), no I/O (``app.py``);
- ``ChaosServer``: the sockets, on anyio + h11, asyncio or trio (``server.py``);
- ``run_chaos_server(app)``: ``async with ... as url`` in the caller's event loop;
- ``chaos_server_thread(app)``: ``with ... as url`` in a background thread with its
  own event loop, for synchronous code, tests and examples.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Literal

import anyio
import anyio.from_thread

from .app import ENDPOINTS, ChaosApp
from .server import ChaosServer

__all__ = ["ENDPOINTS", "ChaosApp", "ChaosServer", "chaos_server_thread", "run_chaos_server"]


@contextlib.asynccontextmanager
async def run_chaos_server(
    app: ChaosApp | None = None, *, seed: int = 0, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Run a ``ChaosServer`` in the current event loop; yields its base URL.

    Keep the ``app`` to read ``app.stats()`` directly. An error in the ``async with``
    block comes out as itself, not wrapped in an exception group by the task group
    that runs the server.
    """
    server = ChaosServer(app, seed=seed, host=host, port=port)
    error: Exception | None = None
    async with anyio.create_task_group() as tg:
        url: str = await tg.start(server.serve)
        try:
            yield url
        except Exception as exc:  # cancellation (a BaseException) is left to the group
            error = exc
        finally:
            tg.cancel_scope.cancel()
    if error is not None:
        raise error


@contextlib.contextmanager
def chaos_server_thread(
    app: ChaosApp | None = None,
    *,
    seed: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    backend: Literal["asyncio", "trio"] = "asyncio",
) -> Iterator[str]:
    """Run a ``ChaosServer`` in a background thread with its own event loop.

    Yields the base URL (``http://127.0.0.1:<port>``); the server stops on exit. Read
    what it saw from ``GET /stats`` (the ``app`` belongs to the server's thread).
    """
    server = ChaosServer(app, seed=seed, host=host, port=port)
    with anyio.from_thread.start_blocking_portal(backend) as portal:
        future, url = portal.start_task(server.serve)
        try:
            yield url
        finally:
            future.cancel()
