"""Waiting for a token: priority queues per key, ``max_wait`` and the timeout budget.

``WaitingRoom.acquire`` is the slow path of ``RateLimitTransport``, entered only when a
request finds no token (or finds others already waiting for its key). Each key has a
``WaitQueue``; its head sleeps on the clock until its token is due and then takes it in
one backend call; everyone else waits on an event and is woken one at a time as heads
leave. Whatever ends a wait (grant, refusal, cancellation, even wrapped in an exception
group), the ``finally`` block takes the waiter out and wakes the next head, so a wake-up
that lands on a cancelled waiter passes on and no token is ever held by a waiter.

A wait that would outlast ``max_wait`` or the request's deadline is refused at once,
never waited out: on arrival, whenever the head learns its wait, and when a server
pause lands (``recheck``): every waiter with a bound then looks again whether even one
token is within reach, so a ``Retry-After`` of hours fails bounded requests at once.
The pool timeout (``timeout["pool"]``) is not a bound here: it is httpx's wait for a
connection, which the queue layer honours; a token wait is rate, not congestion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import anyio.lowlevel
import httpx

from .._core.clock import Clock
from .._core.deadline import deadline_of
from .._core.errors import ClientClosedError, ConfigError, RateLimitExceeded, TimeoutBudgetExceeded
from .bucket import EPSILON
from .waiters import Waiter, WaitQueue

__all__ = ["Keys", "TryAcquire", "WaitingRoom"]

Keys = tuple[str, ...]
TryAcquire = Callable[[Keys, float, bool], Awaitable[float]]
"""``(keys, cost, take) -> wait``: the backend call (``take=False`` only asks)."""


def _priority(request: httpx.Request) -> int:
    priority = request.extensions.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ConfigError("extensions.priority", f"must be an int, got {priority!r}")
    return priority


async def _woken_within(waiter: Waiter, clock: Clock, timeout: float) -> bool:
    """Wait to be woken, at most ``timeout`` seconds on ``clock``; False on timeout."""
    woken = False
    async with anyio.create_task_group() as group:

        async def alarm() -> None:
            await clock.sleep(timeout)
            group.cancel_scope.cancel()

        group.start_soon(alarm)
        await waiter.wait_woken()
        woken = True
        group.cancel_scope.cancel()
    return woken


class WaitingRoom:
    """The requests of one transport that wait for tokens, and what became of them.

    Args:
        clock: the transport's clock.
        max_wait: the longest total wait allowed, or ``None``.
        try_acquire: the backend call.
    """

    __slots__ = (
        "_bounded",
        "_clock",
        "_max_wait",
        "_try",
        "closed",
        "queues",
        "rejected",
        "total_wait",
        "waiting",
        "waits",
    )

    def __init__(self, clock: Clock, max_wait: float | None, try_acquire: TryAcquire) -> None:
        self._clock = clock
        self._max_wait = max_wait
        self._try = try_acquire
        self.queues: dict[Keys, WaitQueue] = {}
        self._bounded: set[Waiter] = set()  # waiters with max_wait or a deadline
        self.closed = False
        self.waiting = 0
        self.waits = 0
        self.total_wait = 0.0
        self.rejected = 0

    def close(self) -> None:
        """Fail every waiter at once with ``ClientClosedError`` (the transport closes)."""
        self.closed = True
        for queue in list(self.queues.values()):
            for waiter in queue.live():
                waiter.interrupt()

    def recheck(self) -> None:
        """Make every waiter with a bound look again at once (a server pause landed)."""
        for waiter in list(self._bounded):
            waiter.interrupt()

    def _exceeded(self, request: httpx.Request, needed: float) -> RateLimitExceeded:
        self.rejected += 1
        return RateLimitExceeded(
            f"rate limit: a token needs {needed:.3f} s more (max_wait {self._max_wait:g} s)",
            request=request,
            retry_after=needed,
        )

    def _out_of_budget(self, request: httpx.Request, needed: float) -> TimeoutBudgetExceeded:
        return TimeoutBudgetExceeded(
            f"timeout budget ends before a rate-limit token ({needed:.3f} s away)",
            request=request,
            retry_after=needed,
        )

    def _refuse(
        self, request: httpx.Request, needed: float, waited: float, deadline: float | None
    ) -> None:
        """Raise at once if a further wait of ``needed`` seconds is not allowed."""
        max_wait = self._max_wait
        if max_wait is not None and waited + needed > max_wait + EPSILON:
            raise self._exceeded(request, needed)
        if deadline is not None and self._clock.now() + needed > deadline + EPSILON:
            raise self._out_of_budget(request, needed)

    def _time_left(self, waited: float, deadline: float | None) -> float | None:
        """Seconds until ``max_wait`` or the deadline ends the wait, or ``None``."""
        left = None if self._max_wait is None else self._max_wait - waited
        if deadline is not None:
            budget = deadline - self._clock.now()
            left = budget if left is None or budget < left else left
        return left

    async def acquire(self, request: httpx.Request, keys: Keys, wait: float | None) -> float:
        """Wait for a token on every limit of ``keys``; return the seconds waited.

        Args:
            request: the request (priority, deadline, and for the errors).
            keys: one key per limit.
            wait: the wait a first, failed try returned, or ``None`` if not tried yet.

        Raises:
            RateLimitExceeded: the wait would pass ``max_wait``.
            TimeoutBudgetExceeded: the wait would pass the request's deadline.
            ClientClosedError: the transport was closed meanwhile.
            ConfigError: the ``priority`` or ``timeout_budget`` extension is invalid.
        """
        clock = self._clock
        start = clock.now()
        priority = _priority(request)
        deadline = deadline_of(request, clock)
        queue = self.queues.get(keys)
        if queue is None:
            if wait is None:
                wait = await self._try(keys, 1.0, True)
                if wait <= 0.0:
                    return 0.0
            self._refuse(request, wait, 0.0, deadline)
            queue = self.queues[keys] = WaitQueue()
        else:
            wait = None
            if self._max_wait is not None or deadline is not None:
                needed = await self._try(keys, queue.ahead(priority) + 1.0, False)
                self._refuse(request, needed, 0.0, deadline)
        waiter = queue.push(priority)
        self.waiting += 1
        if self._max_wait is not None or deadline is not None:
            self._bounded.add(waiter)
        try:
            while True:
                if self.closed:
                    raise ClientClosedError(
                        "the transport was closed while waiting for a rate-limit token",
                        request=request,
                    )
                if queue.head() is waiter:
                    if wait is None:
                        await anyio.lowlevel.checkpoint_if_cancelled()
                        wait = await self._try(keys, 1.0, True)
                    if wait <= 0.0:
                        break
                    self._refuse(request, wait, clock.now() - start, deadline)
                    with anyio.CancelScope() as waiter.sleep_scope:
                        await clock.sleep(wait)
                    waiter.sleep_scope = None
                    wait = None
                    continue
                left = self._time_left(clock.now() - start, deadline)
                if left is None:
                    await waiter.wait_woken()
                    continue
                if left > 0.0 and await _woken_within(waiter, clock, left):
                    if queue.head() is not waiter:  # a pause landed: is a token in reach?
                        needed = await self._try(keys, 1.0, False)
                        self._refuse(request, needed, clock.now() - start, deadline)
                    continue
                if queue.head() is not waiter:  # waited as long as allowed, still behind
                    needed = await self._try(keys, float(queue.ahead(priority)), False)
                    waited = clock.now() - start
                    if self._max_wait is not None and (
                        deadline is None or self._max_wait - waited <= deadline - clock.now()
                    ):
                        raise self._exceeded(request, needed)
                    raise self._out_of_budget(request, needed)
        finally:
            queue.remove(waiter)
            self._bounded.discard(waiter)
            self.waiting -= 1
            if queue.size == 0:
                if self.queues.get(keys) is queue:
                    del self.queues[keys]
            else:
                head = queue.head()
                if head is not None:
                    head.wake()
        waited = clock.now() - start
        self.waits += 1
        self.total_wait += waited
        return waited
