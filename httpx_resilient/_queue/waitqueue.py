"""The bulkhead's policy: concurrency slots, a priority-ordered wait queue, deadlines.

Pure state, no I/O and no awaits: ``PriorityQueueTransport`` asks it, then waits.
Waiters sit in a binary heap keyed by priority (higher first), then arrival. Each
operation is O(log n); a waiter that leaves early is only marked, and a heap is rebuilt
when marked entries outnumber live ones, so removal stays O(log n) amortised.

Aging: with ``aging_seconds`` a waiter's effective priority at time ``t`` is
``priority + (t - arrival) / aging_seconds``. Comparing two waiters at the same ``t``
only needs ``priority - arrival / aging_seconds``, which is fixed per waiter, so the heap
never has to be rescanned as time passes.

Deadlines: waiters with a time limit also sit in a second heap by deadline, so the
transport needs only one sleeper on the clock (the earliest deadline), not one each.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from typing import Generic, TypeVar

__all__ = ["WaitQueue", "Waiter", "WaiterState"]

_COMPACT_AT = 64


class WaiterState(enum.Enum):
    """Where one waiter stands. Only WAITING waiters are in the queue."""

    WAITING = "waiting"
    GRANTED = "granted"  # a slot was handed over; the waiter now owns it
    EXPIRED = "expired"  # its deadline passed first; owns nothing
    ABANDONED = "abandoned"  # it left (cancelled); owns nothing
    FAILED = "failed"  # the queue was closed under it; owns nothing


class Waiter:
    """One request waiting for a slot. Subclasses add the means to wake it."""

    __slots__ = ("priority", "since", "state", "until")

    def __init__(self, priority: int, until: float | None = None) -> None:
        self.priority = priority
        self.until = until
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
        "_timers",
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
        self._timers: list[tuple[float, int, W]] = []
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
        seq = next(self._seq)
        heapq.heappush(self._heap, (key, seq, waiter))
        if waiter.until is not None:
            timers = self._timers
            if len(timers) > _COMPACT_AT and len(timers) > 2 * self.waiting:
                self._timers = timers = [e for e in timers if _live(e)]
                heapq.heapify(timers)
            heapq.heappush(timers, (waiter.until, seq, waiter))
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

    def _leave(self, waiter: W, state: WaiterState) -> None:
        waiter.state = state
        self.waiting -= 1
        self._dead += 1
        if self._dead > _COMPACT_AT and self._dead > self.waiting:
            self._heap = [e for e in self._heap if _live(e)]
            heapq.heapify(self._heap)
            self._dead = 0

    def abandon(self, waiter: W) -> None:
        """A waiting ``waiter`` leaves (cancelled); it leaves no slot behind."""
        if waiter.state is WaiterState.WAITING:
            self._leave(waiter, WaiterState.ABANDONED)

    def earliest_deadline(self) -> W | None:
        """The waiting waiter whose deadline comes first, if any has one."""
        timers = self._timers
        while timers and not _live(timers[0]):
            heapq.heappop(timers)
        return timers[0][2] if timers else None

    def expire(self, now: float) -> list[W]:
        """Mark EXPIRED and return every waiting waiter whose deadline is ``<= now``."""
        expired: list[W] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            waiter = heapq.heappop(timers)[2]
            if waiter.state is WaiterState.WAITING:
                self._leave(waiter, WaiterState.EXPIRED)
                expired.append(waiter)
        return expired

    def fail_all(self) -> list[W]:
        """Empty the queue (on close): every live waiter, in queue order, marked FAILED."""
        failed = [e[2] for e in sorted(self._heap) if _live(e)]
        for waiter in failed:
            waiter.state = WaiterState.FAILED
        self._heap = []
        self._timers = []
        self._dead = 0
        self.waiting = 0
        return failed


def _live(entry: tuple[float, int, Waiter]) -> bool:
    return entry[2].state is WaiterState.WAITING
