"""The one way any layer reads or waits on time.

Every layer takes a ``Clock``; the default ``SystemClock`` uses the event loop's monotonic
clock, so it follows trio's ``MockClock`` too. Tests pass ``httpx_resilient.testing.FakeClock``.
No other module of the package touches ``time``, ``asyncio.sleep`` or ``anyio.sleep``.

``now()`` also works outside any event loop (an exporter's thread, after ``asyncio.run``
returned): snapshots such as ``statistics()`` compare it with times the loop recorded.
"""

from __future__ import annotations

import sys
import time
from asyncio import AbstractEventLoop, _get_running_loop
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
    """The event loop's monotonic clock (``loop.time()`` / trio's clock, ``anyio.sleep``).

    Outside a running loop (another thread, or after the loop ended) ``now()`` reads the
    clock of the loop that last read this one: asyncio's ``loop.time()`` and trio's
    clock objects may be read from any thread, and keep counting after their loop
    ended, so times recorded in the loop and read from outside stay comparable. Before
    any loop read it, ``time.monotonic()``. Decision: a ``SystemClock`` shared by trio
    and another loop running at once in two threads reads off-loop on whichever read it
    last (asyncio loops all share ``time.monotonic()``; trio's clock has its own origin);
    give each such stack its own ``SystemClock()`` if that matters.
    """

    __slots__ = ("_source",)

    def __init__(self) -> None:
        self._source: object = None  # the asyncio loop or trio clock read last

    def now(self) -> float:
        # Under asyncio read the loop's clock directly: anyio.current_time() first works
        # out which async library runs (about 1 us), and this is read on hot paths. The
        # one extra store remembers the source for reads from outside the loop.
        loop = _get_running_loop()
        if loop is not None:
            self._source = loop
            return loop.time()
        trio = sys.modules.get("trio")  # imported if trio runs this loop
        if trio is not None:
            try:
                clock = trio.lowlevel.current_clock()
            except RuntimeError:  # not inside trio after all
                pass
            else:
                self._source = clock
                return float(clock.current_time())
        return self._off_loop()

    def _off_loop(self) -> float:
        """``now()`` with no loop running in this thread (exporter threads, after the run)."""
        source = self._source
        if isinstance(source, AbstractEventLoop):
            return source.time()
        if source is not None:
            return float(source.current_time())  # type: ignore[attr-defined]
        return time.monotonic()

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
