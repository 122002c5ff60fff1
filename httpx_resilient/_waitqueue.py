"""The bulkhead's policy: concurrency slots and a priority-ordered wait queue.

Pure state, no I/O and no awaits: ``PriorityQueueTransport`` asks it, then waits.
Waiters sit in a binary heap keyed by priority (higher first), then arrival. Each
operation is O(log n); a waiter that gives up is only marked, and the heap is rebuilt
when marked entries outnumber live ones, so removal stays O(log n) amortised.

Aging: with ``aging_seconds`` a waiter's effective priority at time ``t`` is
``priority + (t - arrival) / aging_seconds``. Comparing two waiters at the same ``t``
only needs ``priority - arrival / aging_seconds``, which is fixed per waiter, so the heap
never has to be rescanned as time passes.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from typing import Generic, TypeVar

__all__ = ["WaitQueue", "Waiter", "WaiterState"]


class WaiterState(enum.Enum):
    """Where one waiter stands."""

    WAITING = "waiting"
    GRANTED = "granted"  # a slot was handed over; the waiter now owns it
    ABANDONED = "abandoned"  # gave up (cancelled or timed out); owns nothing
    FAILED = "failed"  # the queue was closed under it; owns nothing


class Waiter:
    """One request waiting for a slot. Subclasses add the means to wake it."""

    __slots__ = ("priority", "since", "state")

    def __init__(self, priority: int) -> None:
        self.priority = priority
        self.since = 0.0
        self.state = WaiterState.WAITING


W = TypeVar("W", bound=Waiter)


class WaitQueue(Generic[W]):
    """Slots and waiters of one bulkhead.

    A released slot goes straight to the next live waiter (``release`` returns it), so
    ``active`` never drops while anyone waits and a newcomer cannot overtake the queue.

    Args:
        max_concurrency: slots.
        max_queue_size: live waiters allowed at once.
        aging_seconds: seconds of waiting that add one to a waiter's priority, or None.
    """

    __slots__ = (
        "_dead",
        "_heap",
        "_seq",
        "active",
        "aging_seconds",
        "max_concurrency",
        "max_queue_size",
        "waiting",
    )

    def __init__(
        self, max_concurrency: int, max_queue_size: int, aging_seconds: float | None = None
    ) -> None:
        self.max_concurrency = max_concurrency
        self.max_queue_size = max_queue_size
        self.aging_seconds = aging_seconds
        self.active = 0
        self.waiting = 0
        self._heap: list[tuple[float, int, W]] = []
        self._seq = itertools.count()
        self._dead = 0

    def try_acquire(self) -> bool:
        """Take a free slot if there is one and nobody is waiting for it."""
        if self.active < self.max_concurrency and not self.waiting:
            self.active += 1
            return True
        return False

    def has_room(self) -> bool:
        """Whether one more waiter may queue."""
        return self.waiting < self.max_queue_size

    def push(self, waiter: W, now: float) -> None:
        """Queue ``waiter`` (call ``try_acquire`` and ``has_room`` first)."""
        waiter.since = now
        aging = self.aging_seconds
        key = -waiter.priority if aging is None else now / aging - waiter.priority
        heapq.heappush(self._heap, (key, next(self._seq), waiter))
        self.waiting += 1

    def release(self) -> W | None:
        """Give back one slot: hand it to the next live waiter, returned, or free it."""
        heap = self._heap
        while heap:
            waiter = heapq.heappop(heap)[2]
            if waiter.state is WaiterState.WAITING:
                waiter.state = WaiterState.GRANTED
                self.waiting -= 1
                return waiter
            self._dead -= 1
        self.active -= 1
        return None

    def abandon(self, waiter: W) -> None:
        """A waiting ``waiter`` gives up (cancelled or timed out); it leaves no slot."""
        if waiter.state is not WaiterState.WAITING:
            return
        waiter.state = WaiterState.ABANDONED
        self.waiting -= 1
        self._dead += 1
        if self._dead > 64 and self._dead > self.waiting:
            self._heap = [e for e in self._heap if e[2].state is WaiterState.WAITING]
            heapq.heapify(self._heap)
            self._dead = 0

    def fail_all(self) -> list[W]:
        """Empty the queue (on close): every live waiter, in queue order, marked FAILED."""
        failed = [e[2] for e in sorted(self._heap) if e[2].state is WaiterState.WAITING]
        for waiter in failed:
            waiter.state = WaiterState.FAILED
        self._heap = []
        self._dead = 0
        self.waiting = 0
        return failed
