"""Detached background tasks of the running event loop (stale-while-revalidate refreshes).

No task group is held across calls: a client may be entered in one task and closed in
another (the pytest fixture pattern), and one transport may be both ``transport=`` and
a mount of the same client; a task group opened in ``__aenter__`` breaks both. Instead
each refresh is a detached task of whatever loop is running: under asyncio a task kept
referenced in a set (the loop holds only weak references), under trio a system task
whose function catches every exception (one that escapes a system task crashes the
whole run). Tasks are bounded in number and ``aclose()`` cancels them and waits for
them to end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._core.scopes import running_library

__all__ = ["Background"]

logger = logging.getLogger("httpx_resilient.cache")

Job = Callable[[], Awaitable[None]]


class Background:
    """At most ``limit`` detached tasks; ``spawn`` refuses beyond that.

    Args:
        limit: most tasks running at once (default 32).
    """

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._asyncio: set[asyncio.Task[None]] = set()
        self._trio: set[Any] = set()  # trio.CancelScope of each running system task
        self._idle: anyio.Event | None = None

    @property
    def running(self) -> int:
        """Tasks started and not yet finished."""
        return len(self._asyncio) + len(self._trio)

    def spawn(self, job: Job) -> bool:
        """Start ``job()`` detached; False (and nothing started) if full or no loop runs."""
        if self.running >= self._limit:
            return False
        library = running_library()
        if library is None:
            return False
        if library == "asyncio":
            task = asyncio.get_running_loop().create_task(self._run_asyncio(job))
            self._asyncio.add(task)
            task.add_done_callback(self._asyncio_done)
            return True
        if library == "trio":
            import trio

            scope = trio.CancelScope()
            self._trio.add(scope)
            trio.lowlevel.spawn_system_task(self._run_trio, job, scope)
            return True
        return False

    async def aclose(self) -> None:
        """Cancel every task and wait until they have ended (those of this loop)."""
        for task in self._asyncio:
            task.cancel()
        for scope in self._trio:
            scope.cancel()
        if not self.running:
            return
        library = running_library()
        if library == "asyncio":
            loop = asyncio.get_running_loop()
            mine = [task for task in self._asyncio if task.get_loop() is loop]
            if mine:
                await asyncio.wait(mine)
        elif self._trio:
            self._idle = anyio.Event()
            with anyio.CancelScope(shield=True):
                await self._idle.wait()

    def _asyncio_done(self, task: asyncio.Task[None]) -> None:
        self._asyncio.discard(task)

    async def _run_asyncio(self, job: Job) -> None:
        try:
            await job()
        except Exception as exc:
            logger.info("background cache task failed (%s)", type(exc).__name__)
        finally:
            # Counted out now, not when the loop gets to the done callback (which still
            # covers a task cancelled before it started).
            task = asyncio.current_task()
            if task is not None:
                self._asyncio.discard(task)

    async def _run_trio(self, job: Job, scope: Any) -> None:
        try:
            with scope:
                await job()
        except Exception as exc:  # one that escapes a system task crashes the run
            logger.info("background cache task failed (%s)", type(exc).__name__)
        finally:
            self._trio.discard(scope)
            if not self._trio and self._idle is not None:
                self._idle.set()
