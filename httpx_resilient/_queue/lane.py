"""A lane of the bulkhead (one host's slots and waiters) and the waiters in it."""

from __future__ import annotations

import enum

from .limit import AdaptiveLimit

__all__ = ["Entry", "Lane", "Waiter", "WaiterState"]


class WaiterState(enum.Enum):
    """Where one waiter stands. Only WAITING waiters are in the queue."""

    WAITING = "waiting"
    GRANTED = "granted"  # a slot was handed over; the waiter now owns it
    EXPIRED = "expired"  # its deadline passed first; owns nothing
    ABANDONED = "abandoned"  # it left (cancelled); owns nothing
    FAILED = "failed"  # the queue was closed under it; owns nothing
    EVICTED = "evicted"  # a newcomer of higher priority took its place; owns nothing


_WAITING = WaiterState.WAITING


class Waiter:
    """One request waiting for a slot. Subclasses add the means to wake it."""

    __slots__ = ("lane", "priority", "since", "state", "until")

    def __init__(self, priority: int, until: float | None = None) -> None:
        self.priority = priority
        self.until = until
        self.since = 0.0
        self.state = _WAITING
        self.lane: Lane | None = None


Entry = tuple[float, int, Waiter]


class Lane:
    """One host's slots (or the only lane of a fixed bulkhead) and its waiters."""

    __slots__ = ("active", "dead", "heap", "key", "limit", "limiter", "waiting")

    def __init__(self, key: str, limit: int, limiter: AdaptiveLimit | None) -> None:
        self.key = key
        self.limit = limit
        self.limiter = limiter
        self.active = 0
        self.waiting = 0
        self.dead = 0
        self.heap: list[Entry] = []
