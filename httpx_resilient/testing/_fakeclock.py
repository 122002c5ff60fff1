"""``FakeClock``: virtual time on anyio primitives (asyncio and trio alike)."""

from __future__ import annotations

import heapq
import itertools

import anyio
import anyio.lowlevel

__all__ = ["FakeClock"]


class FakeClock:
    """A ``Clock`` whose time moves only when told, so tests never sleep for real.

    ``advance(seconds)`` moves time and wakes every sleeper that is due. With
    ``autojump=True`` the sleeper with the earliest deadline, once nothing else moved
    time for a few scheduler passes, moves time to its own deadline, so code that only
    sleeps runs at full speed in virtual time, in deadline order.

    Args:
        start: the initial time, in seconds.
        autojump: jump time forward when every sleeper is waiting.
        wall_start: the Unix time that ``wall()`` reports at ``start`` (for HTTP dates).
    """

    _IDLE_PASSES = 8

    def __init__(
        self, start: float = 0.0, *, autojump: bool = False, wall_start: float = 1_700_000_000.0
    ) -> None:
        self._now = float(start)
        self._wall_offset = wall_start - self._now
        self.autojump = autojump
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._seq = itertools.count()
        self._generation = 0

    def now(self) -> float:
        """Return the virtual time."""
        return self._now

    def wall(self) -> float:
        """Return the virtual wall-clock time (Unix seconds); moves with ``now()``."""
        return self._now + self._wall_offset

    @property
    def sleepers(self) -> int:
        """How many tasks are sleeping on this clock."""
        return sum(1 for _, _, event in self._sleepers if not event.is_set())

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper that is due."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
        self._wake_due()

    def jump_to_next(self) -> bool:
        """Move time to the earliest pending deadline; return False if none is pending."""
        self._drop_done()
        if not self._sleepers:
            return False
        self._now = max(self._now, self._sleepers[0][0])
        self._wake_due()
        return True

    def _drop_done(self) -> None:
        while self._sleepers and self._sleepers[0][2].is_set():
            heapq.heappop(self._sleepers)

    def _wake_due(self) -> None:
        self._generation += 1
        sleepers = self._sleepers
        while sleepers and sleepers[0][0] <= self._now:
            heapq.heappop(sleepers)[2].set()

    async def sleep(self, seconds: float) -> None:
        """Wait until the virtual time has moved ``seconds`` forward."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (self._now + seconds, next(self._seq), event)
        heapq.heappush(self._sleepers, entry)
        try:
            if not self.autojump:
                await event.wait()
                return
            while not event.is_set():
                generation = self._generation
                for _ in range(self._IDLE_PASSES):
                    await anyio.lowlevel.checkpoint()
                    if event.is_set():
                        break
                else:
                    # Only the earliest sleeper moves time, and only to its own deadline,
                    # so sleepers wake in deadline order whatever the scheduler does.
                    # A move of time by anyone restarts the count: the sleepers it woke
                    # must run before time moves again.
                    self._drop_done()
                    if generation == self._generation and self._sleepers[0] is entry:
                        self.jump_to_next()
            await anyio.lowlevel.checkpoint()
        finally:
            # A cancelled sleeper's entry stays in the heap marked done, popped lazily.
            event.set()

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, autojump={self.autojump!r})"
