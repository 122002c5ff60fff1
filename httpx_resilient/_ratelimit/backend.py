"""Where token buckets live: the backend interface, and the in-process backend.

``RateLimitTransport`` makes ONE backend call per attempt, ``try_acquire``: it checks
every bucket the request needs and takes a token from all of them, or from none, in
one atomic step. A shared backend (Redis: one Lua script per call, timed by the Redis
server's clock) implements the same protocol, so any number of processes share one
quota exactly.

Implementing a backend (what the Redis backend must do):

- Bucket ``i`` of a call is ``limits[i]`` for ``keys[i]``; name it by ``limits[i].name``
  and the key (``Limit.index`` is only this transport's numbering). A bucket that does
  not exist starts full; an idle, full bucket may be dropped.
- The arithmetic is ``bucket.TokenBucket``'s: lazy refill at the current rate up to
  ``capacity``; a pause grants nothing before its end and leaves at most one token
  then; ``decrease`` multiplies the rate by 0.7 (floor 1 %); ``recover`` adds the
  configured rate times the seconds since the last change over ``recovery_seconds``.
  The in-process backend's tests are the conformance tests.
- Times passed in (``now``) are the transport's clock; a backend with a clock of its
  own (the Redis server's) uses that instead. Waits returned are durations in seconds,
  so they mean the same on either clock.
- Errors: an exception from ``try_acquire`` or ``wait_time`` reaches the caller (counted
  in ``backend_errors``); one from ``throttle`` or ``recover`` is counted and logged,
  and the response is returned anyway. A backend that fails open catches its own.
- Cancellation: the in-process backend never awaits, so a cancelled waiter never holds
  a token. A network backend's call cancelled in flight may still have run on the
  server: it should give such a grant back, or that token is spent.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .._core.snapshots import BucketState
from .bucket import Limit, TokenBucket

__all__ = ["InProcessBackend", "RateLimitBackend"]


@runtime_checkable
class RateLimitBackend(Protocol):
    """The state store behind ``RateLimitTransport`` (implement this for a shared store).

    Every method gets ``limits`` and ``keys`` of equal length: bucket ``i`` is the bucket
    of ``limits[i]`` for key ``keys[i]``. Only ``try_acquire`` runs on every attempt;
    ``wait_time`` runs only when a request with a ``max_wait`` or deadline queues behind
    others, ``throttle`` on server hints, ``recover`` after a success while
    ``recovering`` is true. An object that serves several layers (a Redis backend also
    used for circuit breakers) may instead offer ``rate_limit_backend()`` returning one.
    """

    async def try_acquire(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        """Take ``cost`` tokens from every bucket, or from none (one atomic step).

        Returns:
            0.0 when granted; otherwise the seconds until every bucket could grant
            (pauses included), with nothing taken.
        """
        ...

    async def wait_time(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        """Seconds until every bucket holds ``cost`` tokens; takes nothing."""
        ...

    async def throttle(
        self,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        *,
        pause: float | None,
        decrease: bool,
    ) -> None:
        """Apply a server hint to each bucket.

        Args:
            pause: seconds to grant nothing (each limit caps it at ``max_pause``), or
                ``None``. A pause only ever extends the pause in force.
            decrease: multiply the refill rate by 0.7 (floor: 1 % of the configured).
        """
        ...

    async def recover(self, limits: Sequence[Limit], keys: Sequence[str], now: float) -> None:
        """A success: raise a lowered refill rate back towards the configured one."""
        ...

    @property
    def recovering(self) -> bool:
        """Whether some bucket may run below its configured rate (cheap, no I/O).

        The transport reports successes through ``recover`` only while this is true; a
        backend that cannot tell cheaply returns ``True``.
        """
        ...

    def buckets(self, limits: Sequence[Limit], now: float) -> tuple[BucketState, ...]:
        """A snapshot of the buckets of ``limits`` known to this process (no I/O)."""
        ...


_KEEP = 1024
"""Buckets per limit kept without looking for idle ones."""
_SCAN = 2
"""Oldest buckets looked at per new bucket once a limit has ``_KEEP`` of them."""


class InProcessBackend:
    """Buckets in this process's memory (the default).

    One instance may be shared by several transports (pass it as
    ``RateLimitConfig(backend=...)``): buckets of limits with the same rate and
    capacity and the same key are then shared. Besides the async protocol it offers
    synchronous ``*_now`` twins, which ``RateLimitTransport`` calls directly so a request
    that finds a token awaits nothing but the inner transport.

    Memory stays bounded: a bucket that is full, unpaused and at its configured rate is
    the same as a fresh one, so it may be dropped; a partial, paused or slowed one never
    is (dropping it would hand out a fresh burst). Once a limit has 1,024 buckets, each
    new bucket looks at the two oldest: an idle one is dropped, a busy one goes to the
    back. That is O(1) per request and keeps a limit's buckets within about twice the
    number that are not full (plus 1,024). Waiters hold no bucket (they look theirs up
    again when woken), and a full bucket has nothing a waiter could lose: the fresh
    bucket that replaces it is full too.
    """

    __slots__ = ("_degraded", "_tables", "recovering")

    def __init__(self) -> None:
        self._tables: dict[str, OrderedDict[str, TokenBucket]] = {}
        self._degraded: set[TokenBucket] = set()
        self.recovering = False  # some bucket runs below its configured rate

    def _bucket(self, limit: Limit, key: str, now: float) -> TokenBucket:
        table = self._tables.get(limit.name)
        if table is None:
            table = self._tables[limit.name] = OrderedDict()
        bucket = table.get(key)
        if bucket is None:
            if len(table) >= _KEEP:
                _drop_idle(table, now)
            bucket = table[key] = TokenBucket(limit, now)
        return bucket

    def acquire_now(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        """Synchronous ``try_acquire``."""
        count = len(limits)
        if count == 1:
            table = self._tables.get(limits[0].name)
            bucket = None if table is None else table.get(keys[0])
            if bucket is None:
                bucket = self._bucket(limits[0], keys[0], now)
            return bucket.try_take(now, cost)
        # Two passes without comprehensions (each costs a function call before 3.12).
        wait = 0.0
        for i in range(count):
            needed = self._bucket(limits[i], keys[i], now).wait_time(now, cost)
            if needed > wait:
                wait = needed
        if wait > 0.0:
            return wait
        for i in range(count):
            self._bucket(limits[i], keys[i], now).take(cost)
        return 0.0

    def wait_time_now(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        """Synchronous ``wait_time``."""
        return max(
            self._bucket(limit, key, now).wait_time(now, cost)
            for limit, key in zip(limits, keys, strict=True)
        )

    def throttle_now(
        self,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        *,
        pause: float | None,
        decrease: bool,
    ) -> None:
        """Synchronous ``throttle``."""
        for limit, key in zip(limits, keys, strict=True):
            bucket = self._bucket(limit, key, now)
            if pause is not None:
                bucket.pause(now, pause)
            if decrease:
                bucket.throttle(now)
                if bucket.degraded:
                    self._degraded.add(bucket)
                    self.recovering = True

    def recover_now(self, limits: Sequence[Limit], keys: Sequence[str], now: float) -> None:
        """Synchronous ``recover``."""
        found = False
        for limit, key in zip(limits, keys, strict=True):
            table = self._tables.get(limit.name)
            bucket = None if table is None else table.get(key)
            if bucket is not None and bucket.degraded:
                found = True
                bucket.recover(now)
                if not bucket.degraded:
                    self._degraded.discard(bucket)
        if not found:
            # Buckets nobody uses any more would keep ``recovering`` true for ever; those
            # whose next success would restore them fully anyway are restored now.
            for bucket in [b for b in self._degraded if b.recovered_by(now)]:
                bucket.recover(now)
                self._degraded.discard(bucket)
        self.recovering = bool(self._degraded)

    async def try_acquire(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        return self.acquire_now(limits, keys, cost, now)

    async def wait_time(
        self, limits: Sequence[Limit], keys: Sequence[str], cost: float, now: float
    ) -> float:
        return self.wait_time_now(limits, keys, cost, now)

    async def throttle(
        self,
        limits: Sequence[Limit],
        keys: Sequence[str],
        now: float,
        *,
        pause: float | None,
        decrease: bool,
    ) -> None:
        self.throttle_now(limits, keys, now, pause=pause, decrease=decrease)

    async def recover(self, limits: Sequence[Limit], keys: Sequence[str], now: float) -> None:
        self.recover_now(limits, keys, now)

    def buckets(self, limits: Sequence[Limit], now: float) -> tuple[BucketState, ...]:
        states: list[BucketState] = []
        for limit in limits:
            table = self._tables.get(limit.name)
            if table is None:
                continue
            states.extend(
                BucketState(
                    limit_index=limit.index,
                    key=key,
                    tokens=bucket.tokens_at(now),
                    rate=bucket.rate,
                    capacity=limit.capacity,
                    paused_until=bucket.paused_at(now),
                )
                for key, bucket in list(table.items())  # one atomic copy: any thread
            )
        return tuple(states)

    def __repr__(self) -> str:
        count = sum(len(t) for t in self._tables.values())
        return f"InProcessBackend(buckets={count})"


def _drop_idle(table: OrderedDict[str, TokenBucket], now: float) -> None:
    """Look at the ``_SCAN`` oldest buckets: drop the idle ones, move the rest back."""
    for _ in range(_SCAN):
        key, bucket = next(iter(table.items()))
        if bucket.idle(now):
            del table[key]
        else:
            table.move_to_end(key)
