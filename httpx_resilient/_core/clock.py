"""The one way any layer reads or waits on time.

Every layer takes a ``Clock``; the default ``SystemClock`` uses anyio's monotonic clock,
so it follows trio's ``MockClock`` too. Tests pass ``httpx_resilient.testing.FakeClock``.
No other module of the package touches ``time``, ``asyncio.sleep`` or ``anyio.sleep``.
"""

from __future__ import annotations

import sys
import time
from asyncio import _get_running_loop
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "wall_time"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic time in seconds, and a way to wait on it."""

    def now(self) -> float:
        """Return the current monotonic time in seconds."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (returns at once for ``seconds <= 0``, after a checkpoint)."""
        ...


class SystemClock:
    """The event loop's monotonic clock (``anyio.current_time`` / ``anyio.sleep``)."""

    __slots__ = ()

    def now(self) -> float:
        # Under asyncio read the loop's clock directly: anyio.current_time() first works
        # out which async library runs (about 1 us), and this is read on hot paths.
        loop = _get_running_loop()
        if loop is not None:
            return loop.time()
        trio = sys.modules.get("trio")  # imported if trio runs this loop
        if trio is not None:
            try:
                return float(trio.current_time())
            except RuntimeError:  # not inside trio after all
                pass
        return anyio.current_time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()


def wall_time(clock: Clock) -> float:
    """Wall-clock time (Unix epoch seconds) for parsing HTTP dates and epoch resets.

    Uses the clock's ``wall()`` when it has one (``FakeClock`` does), else the system's.
    Only this module reads the system's time.
    """
    wall = getattr(clock, "wall", None)
    if wall is not None:
        return float(wall())
    return time.time()
