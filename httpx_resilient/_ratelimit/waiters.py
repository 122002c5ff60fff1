"""The requests waiting for a token of one key, ordered by priority then arrival.

Only the head of a queue sleeps on the clock until its token is due; the others wait
on their own event and are woken one at a time as heads leave, so a key with many
waiters never polls. Waiters that leave early are only marked and popped lazily; the
heap is rebuilt when marked entries outnumber live ones.
"""

from __future__ import annotations

import heapq
import itertools

import anyio

__all__ = ["Waiter", "WaitQueue"]


class Waiter:
    """One request waiting in a ``WaitQueue``."""

    __slots__ = ("event", "live", "priority", "sleep_scope")

    def __init__(self, priority: int) -> None:
        self.priority = priority
        self.live = True
        self.event = anyio.Event()
        self.sleep_scope: anyio.CancelScope | None = None  # set while the head sleeps

    def wake(self) -> None:
        """Tell the waiter to look again whether it is the head."""
        self.event.set()

    def interrupt(self) -> None:
        """Wake the waiter, even from its sleep on the clock."""
        self.event.set()
        if self.sleep_scope is not None:
            self.sleep_scope.cancel()

    async def wait_woken(self) -> None:
        """Wait until woken (a wake-up that came earlier returns at once)."""
        await self.event.wait()
        self.event = anyio.Event()


class WaitQueue:
    """Live waiters of one key, in a heap on (-priority, arrival)."""

    __slots__ = ("_counts", "_dead", "_heap", "_seq", "size")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Waiter]] = []
        self._seq = itertools.count()
        self._counts: dict[int, int] = {}
        self._dead = 0
        self.size = 0

    def push(self, priority: int) -> Waiter:
        """Queue a new waiter of ``priority`` and return it."""
        waiter = Waiter(priority)
        heapq.heappush(self._heap, (-priority, next(self._seq), waiter))
        self._counts[priority] = self._counts.get(priority, 0) + 1
        self.size += 1
        return waiter

    def ahead(self, priority: int) -> int:
        """Live waiters that would be served before a newcomer of ``priority``."""
        return sum(n for p, n in self._counts.items() if p >= priority)

    def head(self) -> Waiter | None:
        """The live waiter to serve next, or ``None``."""
        heap = self._heap
        while heap and not heap[0][2].live:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][2] if heap else None

    def live(self) -> list[Waiter]:
        """The live waiters, in no particular order."""
        return [entry[2] for entry in self._heap if entry[2].live]

    def remove(self, waiter: Waiter) -> None:
        """Take ``waiter`` out (granted, refused or cancelled); idempotent."""
        if not waiter.live:
            return
        waiter.live = False
        self.size -= 1
        self._dead += 1
        count = self._counts[waiter.priority] - 1
        if count:
            self._counts[waiter.priority] = count
        else:
            del self._counts[waiter.priority]
        if self._dead > 64 and self._dead > self.size:
            self._heap = [entry for entry in self._heap if entry[2].live]
            heapq.heapify(self._heap)
            self._dead = 0
