"""``RedisBreakerStore``: circuit-breaker records shared through Redis.

Each breaker is one hash; ``admit`` and each settle are one Lua script that mirrors
``BreakerPolicy`` on the Redis server's clock, so every process sees the same state,
counters and probe slots. What this process keeps:

- a refusal cache: once Redis says OPEN, calls for that key are refused locally until
  the next probe is due (an isolated breaker is asked again after a second), so an open
  breaker costs no round trip;
- quiet successes: a success in CLOSED, consecutive-failure mode, after an admission
  that saw no failure on record, writes nothing. A CLOSED call then costs one round
  trip (the admission); failures, probes and failure-rate mode cost two;
- a probe lease: probe slots not settled within ``max(60 s, recovery_timeout)`` (their
  process died) are freed by the next admission;
- the fallback: while Redis is unreachable in fail-open mode, the transport's own
  in-process ``BreakerPolicy`` decides, and its tickets are settled there.

Transitions caused by this process's calls reach ``on_transition`` (logs, hooks) and
count in ``opens``; transitions made by other processes are only seen as states.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import anyio

from .._breaker.config import CircuitBreakerConfig
from .._breaker.policy import NOT_ADMITTED, BreakerPolicy, Transition
from .._core.outcomes import Refused
from .._core.snapshots import CircuitState
from .breaker_scripts import BREAKER_ADMIT, BREAKER_CONTROL, BREAKER_SETTLE
from .client import BackendError, is_redis_error
from .link import Guard, RedisLink

if TYPE_CHECKING:
    from .._core.faces import AnyRequest

__all__ = ["ISOLATED_RECHECK", "RedisBreakerStore", "Ticket"]

ISOLATED_RECHECK = 1.0
"""Seconds an isolated (or force-held) verdict is trusted locally before asking again."""

_STATES = (CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN)


class Ticket:
    """An admitted call: its ticket number and where it must be settled."""

    __slots__ = ("local", "number", "quiet")

    def __init__(self, number: int, *, local: bool, quiet: bool) -> None:
        self.number = number
        self.local = local
        self.quiet = quiet


class RedisBreakerStore:
    """Breakers for one ``CircuitBreakerConfig``, kept in Redis.

    Args:
        backend: the ``RedisBackend`` (key prefix, error policy, connection).
        config: thresholds and timeouts (sent with every script call).
        policy: the in-process policy that serves while Redis is unreachable.
        on_transition: called as ``(key, old, new)`` for transitions this process made.
    """

    def __init__(
        self,
        backend: RedisLink,
        config: CircuitBreakerConfig,
        *,
        policy: BreakerPolicy,
        on_transition: Transition | None = None,
    ) -> None:
        self._backend = backend
        self._config = config
        self._prefix = f"{backend.prefix}cb:"
        self._guard = Guard(backend, "circuit breaker")
        self.policy = policy
        self._on_transition = on_transition
        self._rate_mode = config.failure_rate_threshold is not None
        ttl = str(math.ceil(max(3600.0, 2 * config.recovery_timeout, 2 * config.window_seconds)))
        self._ttl = f"{ttl}000"
        rate = "1" if self._rate_mode else "0"
        lease = max(60.0, config.recovery_timeout)
        recovery = repr(float(config.recovery_timeout))
        self._admit_tail = (recovery, str(config.half_open_max_calls), repr(lease), self._ttl, rate)
        self._settle_tail = (
            str(config.failure_threshold),
            str(config.success_threshold),
            repr(float(config.failure_rate_threshold or 0.0)),
            repr(config.window_seconds / 20),
            str(config.minimum_calls),
            self._ttl,
        )
        self._refused: OrderedDict[str, tuple[float, bool]] = OrderedDict()  # (until, isolated)
        self.view: OrderedDict[str, CircuitState] = OrderedDict()
        self.opens = 0
        self.rejected = 0
        self.probes = 0

    def _remember(self, key: str, state: CircuitState) -> None:
        """Record the state last seen; past ``max_keys`` forget the oldest CLOSED one."""
        view = self.view  # least recently seen first
        view[key] = state
        view.move_to_end(key)
        if len(view) > self._config.max_keys:
            for _ in range(8):  # open ones go to the back: kept, and this stays O(1)
                oldest, seen = next(iter(view.items()))
                if seen is CircuitState.CLOSED:
                    del view[oldest]
                    break
                view.move_to_end(oldest)

    def _refuse(self, key: str, verdict: tuple[float, bool]) -> None:
        """Refuse ``key`` locally until ``verdict[0]``; a local cache, bounded by
        ``max_keys`` (a forgotten refusal costs one round trip to Redis)."""
        refused = self._refused
        refused[key] = verdict
        if len(refused) > self._config.max_keys:
            refused.popitem(last=False)

    def _key(self, key: str) -> list[str]:
        return [f"{self._prefix}{key}"]

    def _seen(self, key: str, old: int, new: int, now: float) -> CircuitState:
        state = _STATES[new]
        self._remember(key, state)
        if old != new:
            if state is CircuitState.OPEN:
                self.opens += 1
                self._refuse(key, (now + self._config.recovery_timeout, False))
            else:
                self._refused.pop(key, None)
            if self._on_transition is not None:
                self._on_transition(key, _STATES[old], state)
        return state

    def _refusal(
        self,
        key: str,
        request: AnyRequest,
        retry_after: float | None,
        *,
        isolated: bool,
        count: bool = True,
    ) -> Refused:
        if count:  # the local policy counts its own refusals
            self.rejected += 1
        if retry_after is not None:
            detail = f"is open; next probe in {retry_after:.3f} s"
        elif isolated:
            detail = "is isolated (held open until reset)"
        else:
            slots = self._config.half_open_max_calls
            detail = f"is half-open and its {slots} probe slot(s) are busy"
        # the face's transport raises it as its CircuitOpenError, with the request
        return Refused(
            "CircuitOpenError", f"circuit breaker for {key!r} {detail}", retry_after=retry_after
        )

    async def admit(self, key: str, now: float, request: AnyRequest) -> Ticket:
        """A ticket for a call at ``now`` (transport clock).

        Raises:
            Refused: ``"CircuitOpenError"``, the breaker is open, isolated or its probe
                slots are busy; ``"ResilienceError"``, Redis is unreachable and
                ``on_error="raise"`` (the face's transport raises its own error class).
        """
        refused = self._refused.get(key)
        if refused is not None:
            until, isolated = refused
            if now < until:
                retry_after = None if isolated else until - now
                raise self._refusal(key, request, retry_after, isolated=isolated)
            del self._refused[key]
        if self._guard.skip(now):
            return self._local_admit(key, now, request)
        args = (self._backend.now_arg(now), *self._admit_tail)
        try:
            with anyio.CancelScope(shield=True):  # a probe slot taken is always known
                result = await self._backend.run(
                    "breaker_admit", BREAKER_ADMIT, self._key(key), args
                )
        except BackendError as error:
            self._guard.failed(error, now)
            return self._local_admit(key, now, request)
        number, old, new = int(result[0]), int(result[1]), int(result[2])
        retry_after, isolated = float(result[3]), result[4] == 1
        state = self._seen(key, old, new, now)
        if number < 0:
            if isolated:
                self._refuse(key, (now + ISOLATED_RECHECK, True))
            elif state is CircuitState.OPEN:
                self._refuse(key, (now + retry_after, False))
            retry = retry_after if retry_after >= 0 else None
            raise self._refusal(key, request, retry, isolated=isolated)
        probe = number & 1 == 1
        if probe:
            self.probes += 1
        quiet = not probe and not self._rate_mode and result[5] == 0
        return Ticket(number, local=False, quiet=quiet)

    def _local_admit(self, key: str, now: float, request: AnyRequest) -> Ticket:
        policy = self.policy
        number = policy.admit(key, now)
        if number == NOT_ADMITTED:
            rec = policy.record(key)
            isolated = rec is not None and rec.isolated
            retry_after = policy.retry_after(key, now)
            raise self._refusal(key, request, retry_after, isolated=isolated, count=False)
        return Ticket(number, local=True, quiet=False)

    async def settle(
        self, key: str, ticket: Ticket, failed: bool | None, now: float, duration: float | None
    ) -> None:
        """Report a call's outcome: ``True`` failure, ``False`` success, ``None`` neither.

        Never raises for Redis errors (they are counted and logged): the call is over.
        """
        number = ticket.number
        if ticket.local:
            policy = self.policy
            if failed is None:
                policy.release(key, number)
            elif failed:
                policy.failure(key, number, now)
            else:
                policy.success(key, number, now, duration)
            return
        probe = number & 1 == 1
        if probe:
            self.probes -= 1
        elif failed is None or (ticket.quiet and not failed):
            return
        outcome = "r" if failed is None else "f" if failed else "s"
        slow = self._config.slow_call_duration
        is_slow = slow is not None and duration is not None and duration >= slow
        args = (self._backend.now_arg(now), str(number), outcome, "1" if is_slow else "0")
        try:
            if self._guard.skip(now):
                return
            with anyio.CancelScope(shield=True):
                result = await self._backend.run(
                    "breaker_settle", BREAKER_SETTLE, self._key(key), (*args, *self._settle_tail)
                )
        except BackendError as error:
            with contextlib.suppress(Refused):  # the call is over: never raise
                self._guard.failed(error, now)
            return
        except Refused:
            return
        if int(result[0]) > 0:
            self._seen(key, int(result[1]), int(result[2]), now)

    async def control(self, key: str, mode: str, now: float) -> CircuitState:
        """Run ``"open"``, ``"isolate"``, ``"reset"`` or ``"state"`` on one breaker."""
        args = (
            self._backend.now_arg(now),
            mode,
            self._admit_tail[0],
            self._ttl,
            self._admit_tail[4],
        )
        if self._guard.skip(now):
            return self._local_control(key, mode, now)
        try:
            result: list[Any] = await self._backend.run(
                "breaker_control", BREAKER_CONTROL, self._key(key), args
            )
        except BackendError as error:
            self._guard.failed(error, now)
            return self._local_control(key, mode, now)
        old, new, isolated = int(result[0]), int(result[1]), int(result[3])
        if mode == "state":
            self._remember(key, _STATES[new])
            return _STATES[new]
        self._refused.pop(key, None)
        state = self._seen(key, old, new, now)
        if isolated:
            self._refuse(key, (now + ISOLATED_RECHECK, True))
        elif mode == "open":
            self._refuse(key, (now + self._config.recovery_timeout, False))
        return state

    def _local_control(self, key: str, mode: str, now: float) -> CircuitState:
        policy = self.policy
        if mode == "open":
            policy.force_open(key, now)
        elif mode == "isolate":
            policy.isolate(key, now)
        elif mode == "reset":
            policy.reset(key)
        return policy.state(key, now)

    async def keys(self, now: float) -> list[str]:
        """Every breaker key stored under this prefix (SCAN; for ``reset()`` of all)."""
        self._backend.connection.check_open("RedisBackend")
        pattern = "".join(f"[{c}]" if c in "*?[]\\" else c for c in self._prefix) + "*"
        found: list[str] = []
        outage = self._backend.outage
        if outage.skip():
            return list(self.view)
        started = outage.started()
        try:
            async for name in self._backend.connection.client.scan_iter(match=pattern):
                text = name.decode() if isinstance(name, bytes) else str(name)
                found.append(text[len(self._prefix) :])
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            self._guard.failed(BackendError(exc), now)
            return list(self.view)
        outage.succeeded(started)
        return found
