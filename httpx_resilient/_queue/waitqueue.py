"""The bulkhead's policy: concurrency slots per lane, priority-ordered waiters, deadlines.

Pure state, no I/O and no awaits: ``PriorityQueueTransport`` asks it, then waits.

Lanes: the fixed bulkhead has one lane (``default``) whose limit is ``max_concurrency``.
The adaptive one has a lane per host, each with its own ``AdaptiveLimit``; every lane is
also bound by ``max_concurrency`` in total. A released slot goes to the best waiter that
may take it: its own lane's next waiter, or, while other lanes wait, the waiter of
highest priority (then arrival) among the lanes below their limit (a scan of the lanes,
needed only when more than one host waits).

Waiters of a lane sit in a binary heap keyed by priority (higher first), then arrival.
Each operation is O(log n); a waiter that leaves early is only marked, and a heap is
rebuilt when marked entries outnumber live ones, so removal stays O(log n) amortised.

Aging: with ``aging_seconds`` a waiter's effective priority at time ``t`` is
``priority + (t - arrival) / aging_seconds``. Comparing two waiters at the same ``t``
only needs ``priority - arrival / aging_seconds``, which is fixed per waiter, so the heap
never has to be rescanned as time passes.

Deadlines: waiters with a time limit also sit in one heap by deadline, so the transport
needs only one sleeper on the clock (the earliest deadline), not one each.

Eviction: when the queue is full, ``evict`` finds the lowest-priority waiter (the latest
among equals) for a newcomer of strictly higher priority: a scan, but only when some
waiter may rank below the newcomer (its priority is above the lowest ever queued).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Generic, TypeVar

from .lane import Entry, Lane, Waiter, WaiterState
from .limit import AdaptiveLimit

__all__ = ["Lane", "WaitQueue", "Waiter", "WaiterState"]

_WAITING = WaiterState.WAITING
W = TypeVar("W", bound=Waiter)
_COMPACT_AT = 64
_MAX_LANES = 1024  # idle lanes are dropped beyond this many hosts


class WaitQueue(Generic[W]):
    """Slots and waiters of one bulkhead.

    ``active`` never drops while a waiter could take the slot, so a newcomer cannot
    overtake the queue.

    Args:
        max_concurrency: slots in total.
        max_queue_size: live waiters allowed at once.
        aging_seconds: seconds of waiting that add one to a waiter's priority, or None.
        adaptive: ``(min_concurrency, max_concurrency)`` of each host's adaptive limit,
            or None for the fixed bulkhead (one lane).
    """

    __slots__ = (
        "_adaptive",
        "_lanes",
        "_lowest",
        "_seq",
        "_timers",
        "active",
        "aging_seconds",
        "default",
        "generation",
        "max_concurrency",
        "max_queue_size",
        "waiting",
    )

    def __init__(
        self,
        max_concurrency: int,
        max_queue_size: int,
        aging_seconds: float | None = None,
        *,
        adaptive: tuple[int, int] | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.max_queue_size = max_queue_size
        self.aging_seconds = aging_seconds
        self._adaptive = adaptive
        self.active = 0
        self.waiting = 0
        self.default = Lane("", max_concurrency, None)
        self._lanes: dict[str, Lane] = {}
        self._timers: list[Entry] = []
        self._seq = itertools.count()
        self._lowest: float = float("inf")  # lowest priority ever queued
        self.generation = 0  # moves when lanes are dropped: a cached lane may be stale

    # --- lanes and limits -------------------------------------------------------------

    def lane(self, key: str) -> Lane:
        """The lane of ``key`` (a host), created on first use (adaptive only)."""
        lane = self._lanes.get(key)
        if lane is None:
            if self._adaptive is None:
                return self.default
            if len(self._lanes) >= _MAX_LANES:
                self._lanes = {k: v for k, v in self._lanes.items() if v.active or v.waiting}
                self.generation += 1
            limiter = AdaptiveLimit(*self._adaptive)
            self._lanes[key] = lane = Lane(key, limiter.limit, limiter)
        return lane

    @property
    def limit(self) -> int:
        """The limit in force in total: ``max_concurrency``, or the sum of the hosts'
        adaptive limits within it (a new host's starting limit before any)."""
        if self._adaptive is None:
            return self.max_concurrency
        lanes = tuple(self._lanes.values())  # one C-level copy: safe from other threads
        if not lanes:
            return AdaptiveLimit(*self._adaptive).limit
        return min(self.max_concurrency, sum(lane.limit for lane in lanes))

    def limits(self) -> dict[str, int]:
        """Each host's adaptive limit (empty for the fixed bulkhead)."""
        return {lane.key: lane.limit for lane in tuple(self._lanes.values())}

    def record(self, lane: Lane, latency: float) -> list[W]:
        """Feed ``lane``'s limiter one latency; return the waiters a raised limit admits
        (each now GRANTED and owning a slot)."""
        limiter = lane.limiter
        if limiter is None:
            return []
        limiter.sample(latency, lane.active)
        return self.relimit(lane)

    def relimit(self, lane: Lane) -> list[W]:
        """Adopt the limit of ``lane``'s limiter (after a sample changed it); return the
        waiters a raised limit admits (each now GRANTED and owning a slot)."""
        old = lane.limit
        lane.limit = new = old if lane.limiter is None else lane.limiter.limit
        if new <= old or not lane.waiting:
            return []
        granted: list[W] = []
        while lane.active < lane.limit and self.active < self.max_concurrency:
            waiter = self._grant(lane)
            if waiter is None:
                break
            granted.append(waiter)
        return granted

    # --- admission and release --------------------------------------------------------

    def try_acquire(self, lane: Lane | None = None) -> bool:
        """Take a free slot of ``lane`` if there is one and nobody waits for it."""
        lane = lane or self.default
        if lane.active < lane.limit and not lane.waiting and self.active < self.max_concurrency:
            lane.active += 1
            self.active += 1
            return True
        return False

    def has_room(self) -> bool:
        """Whether one more waiter may queue."""
        return self.waiting < self.max_queue_size

    def push(self, waiter: W, now: float, lane: Lane | None = None) -> None:
        """Queue ``waiter`` in ``lane`` (call ``try_acquire`` and ``has_room`` first)."""
        lane = lane or self.default
        waiter.since = now
        waiter.lane = lane
        seq = next(self._seq)
        entry: Entry = (self._key(waiter.priority, now), seq, waiter)
        heapq.heappush(lane.heap, entry)
        if waiter.priority < self._lowest:
            self._lowest = waiter.priority
        if waiter.until is not None:
            timers = self._timers
            if len(timers) > _COMPACT_AT and len(timers) > 2 * self.waiting:
                self._timers = timers = [e for e in timers if e[2].state is _WAITING]
                heapq.heapify(timers)
            timer: Entry = (waiter.until, seq, waiter)
            heapq.heappush(timers, timer)
        lane.waiting += 1
        self.waiting += 1

    def _key(self, priority: int, now: float) -> float:
        aging = self.aging_seconds
        return -priority if aging is None else now / aging - priority

    def release(self, lane: Lane | None = None) -> W | None:
        """Give back one slot of ``lane``: hand it to the best waiter that may take it,
        returned (GRANTED, owning the slot), or free it."""
        lane = lane or self.default
        lane.active -= 1
        self.active -= 1
        if self.waiting > lane.waiting:  # other hosts wait too: serve the best of them
            best = self._best()
            return None if best is None else self._grant(best)
        if lane.waiting and lane.active < lane.limit:
            return self._grant(lane)
        return None

    def _best(self) -> Lane | None:
        """The lane below its limit whose next waiter ranks first."""
        best: Lane | None = None
        top: Entry | None = None
        for lane in self._lanes.values() if self._lanes else (self.default,):
            if not lane.waiting or lane.active >= lane.limit:
                continue
            heap = lane.heap
            while heap[0][2].state is not _WAITING:
                heapq.heappop(heap)
                lane.dead -= 1
            if top is None or heap[0][:2] < top[:2]:
                best, top = lane, heap[0]
        return best

    def _grant(self, lane: Lane) -> W | None:
        heap = lane.heap
        while heap:
            waiter: W = heapq.heappop(heap)[2]  # type: ignore[assignment]
            if waiter.state is _WAITING:
                waiter.state = WaiterState.GRANTED
                lane.waiting -= 1
                self.waiting -= 1
                lane.active += 1
                self.active += 1
                return waiter
            lane.dead -= 1
        return None

    # --- leaving the queue ------------------------------------------------------------

    def _leave(self, waiter: W, state: WaiterState) -> None:
        waiter.state = state
        lane = waiter.lane or self.default
        lane.waiting -= 1
        self.waiting -= 1
        lane.dead += 1
        if lane.dead > _COMPACT_AT and lane.dead > lane.waiting:
            lane.heap = [e for e in lane.heap if e[2].state is _WAITING]
            heapq.heapify(lane.heap)
            lane.dead = 0

    def abandon(self, waiter: W) -> None:
        """A waiting ``waiter`` leaves (cancelled); it leaves no slot behind."""
        if waiter.state is _WAITING:
            self._leave(waiter, WaiterState.ABANDONED)

    def evict(self, priority: int, now: float) -> W | None:
        """For a newcomer of ``priority``: mark EVICTED and return the lowest-ranked
        waiter if it ranks strictly below the newcomer, else None."""
        if priority <= self._lowest:
            return None  # nobody can rank below the newcomer
        worst: Entry | None = None
        for lane in self._lanes.values() if self._lanes else (self.default,):
            for entry in lane.heap:
                if entry[2].state is _WAITING and (worst is None or entry[:2] > worst[:2]):
                    worst = entry
        if worst is None or worst[0] <= self._key(priority, now):
            return None
        victim: W = worst[2]  # type: ignore[assignment]
        self._leave(victim, WaiterState.EVICTED)
        return victim

    def earliest_deadline(self) -> W | None:
        """The waiting waiter whose deadline comes first, if any has one."""
        timers = self._timers
        while timers and timers[0][2].state is not _WAITING:
            heapq.heappop(timers)
        return timers[0][2] if timers else None  # type: ignore[return-value]

    def expire(self, now: float) -> list[W]:
        """Mark EXPIRED and return every waiting waiter whose deadline is ``<= now``."""
        expired: list[W] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            waiter: W = heapq.heappop(timers)[2]  # type: ignore[assignment]
            if waiter.state is _WAITING:
                self._leave(waiter, WaiterState.EXPIRED)
                expired.append(waiter)
        return expired

    def fail_all(self) -> list[W]:
        """Empty the queue (on close): every live waiter, in queue order, marked FAILED."""
        lanes = list(self._lanes.values()) or [self.default]
        entries = sorted(e for lane in lanes for e in lane.heap if e[2].state is _WAITING)
        failed: list[W] = [e[2] for e in entries]  # type: ignore[misc]
        for waiter in failed:
            waiter.state = WaiterState.FAILED
        for lane in lanes:
            lane.heap, lane.waiting, lane.dead = [], 0, 0
        self._timers = []
        self.waiting = 0
        return failed
