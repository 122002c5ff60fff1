"""The circuit breaker state machine: one small record per key, no I/O, time passed in.

A call is admitted with a *ticket* (an int: the record's generation shifted left once,
plus 1 for a half-open probe) and later settled with ``success``, ``failure`` or
``release`` (neither: cancelled, or refused by a layer below). Every state change bumps
the generation, so the outcome of a call admitted before the change (a straggler from
CLOSED finishing while OPEN, a probe cut off by ``reset``) is ignored and can never
free a probe slot twice.

The per-key state is ``BreakerRecord``: a handful of numbers plus, in failure-rate
mode, two rings of ``WINDOW_BUCKETS`` counters. ``admit`` and the three settle calls
are the only operations a shared store needs, each one read-modify-write of one record.

Failure-rate mode counts calls and failures in ``WINDOW_BUCKETS`` time buckets that
span ``window_seconds``, so memory stays bounded whatever the traffic.

The records are kept in least-recently-used order, at most ``config.max_keys`` of
them: a new key drops the least recently used CLOSED record without a probe in flight
(a fresh record behaves the same, bar a partial count of failures). OPEN and HALF_OPEN
records are kept until they close, so the bound can be exceeded only by breakers that
are open. Each call costs O(1): one ``move_to_end``, and an eviction looks at a few
records at most.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from .._core.snapshots import CircuitState
from .config import CircuitBreakerConfig
from .record import WINDOW_BUCKETS, BreakerRecord, clear_window

__all__ = ["NOT_ADMITTED", "WINDOW_BUCKETS", "BreakerPolicy", "BreakerRecord", "Transition"]

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN

NOT_ADMITTED = -1
"""Returned instead of a ticket when the call may not go ahead."""

Transition = Callable[[str, CircuitState, CircuitState], None]


class BreakerPolicy:
    """Per-key breakers driven by ``CircuitBreakerConfig``; every time is an argument.

    Args:
        config: thresholds and timeouts.
        on_transition: called as ``(key, old, new)`` after every state change.

    Attributes:
        rate_mode: failure-rate mode is on (settling then needs ``now``).
        opens: transitions to OPEN so far.
        rejected: calls refused so far.
    """

    def __init__(
        self, config: CircuitBreakerConfig, *, on_transition: Transition | None = None
    ) -> None:
        self.config = config
        self.rate_mode = config.failure_rate_threshold is not None
        self._rate = config.failure_rate_threshold or 0.0
        self._width = config.window_seconds / WINDOW_BUCKETS
        self._slow = config.slow_call_duration if self.rate_mode else None
        self._on_transition = on_transition
        self._records: OrderedDict[str, BreakerRecord] = OrderedDict()
        self._max_keys = config.max_keys
        self.opens = 0
        self.rejected = 0

    def admit_closed(self, key: str) -> int:
        """Ticket for a CLOSED breaker, which needs no time; else ``NOT_ADMITTED``.

        The hot path: on ``NOT_ADMITTED`` the caller reads the clock and calls ``admit``.
        """
        records = self._records
        rec = records.get(key)
        if rec is None:
            rec = self._add(key)
        else:
            records.move_to_end(key)
        if rec.state is CLOSED:
            return rec.generation << 1
        return NOT_ADMITTED

    def admit(self, key: str, now: float) -> int:
        """Ticket for a call at ``now``, or ``NOT_ADMITTED`` (counted as rejected).

        OPEN turns HALF_OPEN here once ``recovery_timeout`` has passed; HALF_OPEN admits
        up to ``half_open_max_calls`` probes at once.
        """
        rec = self._get(key)
        state = self._current(key, rec, now)
        if state is CLOSED:
            return rec.generation << 1
        if state is HALF_OPEN and rec.probes < self.config.half_open_max_calls:
            rec.probes += 1
            return (rec.generation << 1) | 1
        self.rejected += 1
        return NOT_ADMITTED

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until the next probe may go, or ``None`` when unknown (isolated,
        or half-open with every probe slot busy)."""
        rec = self._records.get(key)
        if rec is None or rec.state is not OPEN or rec.isolated:
            return None
        return max(0.0, rec.opened_at + self.config.recovery_timeout - now)

    def success(
        self, key: str, ticket: int, now: float | None = None, duration: float | None = None
    ) -> None:
        """Settle a call that succeeded after ``duration`` seconds.

        ``now`` is needed only in failure-rate mode. There a call of at least
        ``slow_call_duration`` counts as a failure in the window and, for a probe,
        re-opens the breaker; it still ends a run of consecutive failures.
        """
        rec = self._records.get(key)
        if rec is None or ticket >> 1 != rec.generation:
            return
        slow = False
        when = 0.0
        if self.rate_mode:
            if now is None:
                raise ValueError("failure-rate mode needs `now` to settle a call")
            when = now
            slow = self._slow is not None and duration is not None and duration >= self._slow
        if ticket & 1:
            rec.probes -= 1
            if slow:
                self._move(key, rec, OPEN, when)
            else:
                rec.successes += 1
                if rec.successes >= self.config.success_threshold:
                    self._move(key, rec, CLOSED, when)
            return
        rec.failures = 0
        if self.rate_mode:
            self._count(rec, when, slow)
            if self._rate_reached(rec):
                self._move(key, rec, OPEN, when)

    def failure(self, key: str, ticket: int, now: float) -> None:
        """Settle a call that failed at ``now``."""
        rec = self._records.get(key)
        if rec is None or ticket >> 1 != rec.generation:
            return
        if ticket & 1:
            rec.probes -= 1
            self._move(key, rec, OPEN, now)
            return
        rec.failures += 1
        if self.rate_mode:
            self._count(rec, now, True)
            if self._rate_reached(rec):
                self._move(key, rec, OPEN, now)
                return
        if rec.failures >= self.config.failure_threshold:
            self._move(key, rec, OPEN, now)

    def release(self, key: str, ticket: int) -> None:
        """Settle a call that was neither success nor failure; frees its probe slot."""
        rec = self._records.get(key)
        if rec is not None and ticket & 1 and ticket >> 1 == rec.generation:
            rec.probes -= 1

    def force_open(self, key: str, now: float) -> None:
        """Open now; probes follow after ``recovery_timeout`` as usual."""
        self._open_by_hand(key, now, isolated=False)

    def isolate(self, key: str, now: float) -> None:
        """Open now and stay open until ``reset``."""
        self._open_by_hand(key, now, isolated=True)

    def reset(self, key: str | None = None) -> None:
        """Close ``key`` (every key for ``None``) and clear its counters."""
        keys = list(self._records) if key is None else [key]
        for k in keys:
            rec = self._records.get(k)
            if rec is None:
                continue
            rec.isolated = False
            self._move(k, rec, CLOSED, 0.0)

    def state(self, key: str, now: float) -> CircuitState:
        """The state of ``key`` at ``now`` (an unseen key is CLOSED)."""
        rec = self._records.get(key)
        return CLOSED if rec is None else self._current(key, rec, now)

    def states(self, now: float) -> dict[str, CircuitState]:
        """The state of every key seen so far (due OPEN breakers turn HALF_OPEN)."""
        return {key: self._current(key, rec, now) for key, rec in list(self._records.items())}

    def peek(self, now: float) -> tuple[dict[str, CircuitState], int]:
        """States at ``now`` and probes in flight, changing nothing (safe from any thread).

        A due OPEN breaker reads HALF_OPEN; it turns so on its next call.
        """
        timeout = self.config.recovery_timeout
        states: dict[str, CircuitState] = {}
        probes = 0
        for key, rec in list(self._records.items()):  # one atomic copy
            state = rec.state
            if state is OPEN and not rec.isolated and now >= rec.opened_at + timeout:
                state = HALF_OPEN
            states[key] = state
            probes += rec.probes
        return states, probes

    def record(self, key: str) -> BreakerRecord | None:
        """The live record of ``key`` (for inspection and tests; do not mutate)."""
        return self._records.get(key)

    @property
    def probes_in_flight(self) -> int:
        """Probes admitted and not yet settled, over all keys."""
        return sum(rec.probes for rec in self._records.values())

    def _new_record(self) -> BreakerRecord:
        if not self.rate_mode:
            return BreakerRecord()
        return BreakerRecord(calls=[0] * WINDOW_BUCKETS, failed=[0] * WINDOW_BUCKETS)

    def _get(self, key: str) -> BreakerRecord:
        records = self._records
        rec = records.get(key)
        if rec is None:
            return self._add(key)
        records.move_to_end(key)
        return rec

    def _add(self, key: str) -> BreakerRecord:
        """A new CLOSED record for ``key``, dropping idle CLOSED ones over ``max_keys``."""
        records = self._records
        if len(records) >= self._max_keys:
            self._evict()
        rec = records[key] = self._new_record()
        return rec

    def _evict(self) -> None:
        """Drop the least recently used idle CLOSED record (looks at a few, at most).

        Open or half-open records met on the way go to the back: they are kept, and an
        eviction stays O(1) however many breakers are open.
        """
        records = self._records
        for _ in range(min(8, len(records))):
            key, rec = next(iter(records.items()))
            if rec.state is CLOSED and rec.probes == 0:
                del records[key]
                return
            records.move_to_end(key)

    def _current(self, key: str, rec: BreakerRecord, now: float) -> CircuitState:
        if (
            rec.state is OPEN
            and not rec.isolated
            and now >= rec.opened_at + self.config.recovery_timeout
        ):
            self._move(key, rec, HALF_OPEN, now)
        return rec.state

    def _open_by_hand(self, key: str, now: float, *, isolated: bool) -> None:
        rec = self._get(key)
        rec.isolated = isolated
        if rec.state is OPEN:
            rec.opened_at = now
        else:
            self._move(key, rec, OPEN, now)

    def _move(self, key: str, rec: BreakerRecord, new: CircuitState, now: float) -> None:
        old = rec.state
        rec.state = new
        rec.generation += 1
        rec.failures = rec.successes = rec.probes = 0
        if new is OPEN:
            rec.opened_at = now
            if old is not OPEN:
                self.opens += 1
        if rec.calls:
            clear_window(rec)
        if old is not new and self._on_transition is not None:
            self._on_transition(key, old, new)

    def _count(self, rec: BreakerRecord, now: float, failed: bool) -> None:
        """Add one call to the window at ``now``, first emptying buckets that expired."""
        index = int(now // self._width)
        calls, bad = rec.calls, rec.failed
        step = index - rec.bucket
        if step >= WINDOW_BUCKETS:
            clear_window(rec)
            rec.bucket = index
        elif step > 0:
            for i in range(rec.bucket + 1, index + 1):
                slot = i % WINDOW_BUCKETS
                rec.window_calls -= calls[slot]
                rec.window_failures -= bad[slot]
                calls[slot] = bad[slot] = 0
            rec.bucket = index
        slot = rec.bucket % WINDOW_BUCKETS
        calls[slot] += 1
        rec.window_calls += 1
        if failed:
            bad[slot] += 1
            rec.window_failures += 1

    def _rate_reached(self, rec: BreakerRecord) -> bool:
        calls = rec.window_calls
        return (
            calls >= self.config.minimum_calls and rec.window_failures * 100 >= self._rate * calls
        )
