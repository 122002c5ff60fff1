"""``PriorityQueueTransport``: the bulkhead. Bounded concurrency, priority order, load shedding.

At most ``max_concurrency`` requests are below this layer at once. A request holds its
slot from admission until its response body is closed or read to the end (not merely
until headers arrive), because until then the connection under it is still busy; a
response whose body was already read when it came back frees the slot at once. Callers
of ``client.get()`` and friends never notice; a caller of ``client.stream()`` holds a
slot until the ``async with`` block ends. ``response.extensions["queue_wait"]`` holds
the seconds the request waited for its slot.

Waiters are served by ``extensions["priority"]`` (int, higher first, default 0), then
arrival; see ``waitqueue.py`` for the heap and aging. Admission to a free slot with nobody
waiting allocates nothing and never awaits. A queued request parks on a bare future
under asyncio (an ``anyio.Event`` elsewhere); of the waiters with a deadline
(``queue_timeout`` or ``timeout_budget``), only the one whose deadline comes first
sleeps on the clock, and expires everyone due when it wakes: one timer per queue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType

import anyio
import httpx

from .._core.clock import Clock
from .._core.deadline import deadline_of
from .._core.errors import (
    ClientClosedError,
    ConfigError,
    QueueFullError,
    QueueTimeoutError,
    TimeoutBudgetExceeded,
)
from .._core.layer import Layer
from .._core.snapshots import QueueStatistics
from .config import QueueConfig
from .releasing import ReleasingStream
from .slot import SlotWaiter, asyncio_future, priority_of
from .waitqueue import WaiterState, WaitQueue

__all__ = ["PriorityQueueTransport"]

_WAITING = WaiterState.WAITING
_GRANTED = WaiterState.GRANTED
_FAILED = WaiterState.FAILED


class PriorityQueueTransport(Layer):
    """Bounded concurrency with a priority-ordered, bounded wait queue.

    Args:
        inner: the transport requests are passed to.
        config: limits, queue size, queue timeout and aging.
        clock: the time source for queue timeouts and ``timeout_budget``.

    Raises (from ``handle_async_request``):
        QueueFullError: ``max_queue_size`` requests already wait.
        QueueTimeoutError: no slot within ``queue_timeout``.
        TimeoutBudgetExceeded: the request's ``timeout_budget`` ended while it waited.
        ClientClosedError: the transport was closed before or while the request waited.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: QueueConfig,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(inner, clock=clock)
        if not isinstance(config, QueueConfig):
            raise ConfigError("PriorityQueueTransport.config", "must be a QueueConfig")
        self._config = config
        self._slots: WaitQueue[SlotWaiter] = WaitQueue(
            config.max_concurrency, config.max_queue_size, config.aging_seconds
        )
        self._closed = False
        self._calls = 0  # requests inside inner.handle_async_request
        self._drained: anyio.Event | None = None
        self._keeper: SlotWaiter | None = None  # the waiter sleeping on the clock
        self._rejected_full = 0
        self._timed_out = 0

    @property
    def config(self) -> QueueConfig:
        """The configuration this layer enforces."""
        return self._config

    def statistics(self) -> QueueStatistics:
        """Slots held, requests waiting, and refusals so far."""
        slots = self._slots
        return QueueStatistics(
            active=slots.active,
            waiting=slots.waiting,
            max_concurrency=slots.max_concurrency,
            rejected_full=self._rejected_full,
            timed_out=self._timed_out,
            closed=self._closed,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise ClientClosedError("the transport is closed", request=request)
        priority = priority_of(request)
        slots = self._slots
        waited = 0.0
        if slots.active < slots.max_concurrency and not slots.waiting:
            slots.active += 1  # the fast path: no allocation, no await
        else:
            waited = await self._wait(request, priority)
        self._calls += 1
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._release()
            raise
        finally:
            self._calls -= 1
            if self._drained is not None and not self._calls:
                self._drained.set()
        response.extensions["queue_wait"] = waited
        stream = response.stream
        if response.is_closed or not isinstance(stream, httpx.AsyncByteStream):
            self._release()
        else:
            response.stream = ReleasingStream(stream, self._release)
        return response

    def _release(self) -> None:
        waiter = self._slots.release()
        if waiter is not None:
            waiter.wake()
            if waiter is self._keeper:
                self._appoint()

    async def _wait(self, request: httpx.Request, priority: int) -> float:
        """Queue until a slot is handed over; return the seconds waited."""
        slots = self._slots
        if not slots.has_room():
            self._rejected_full += 1
            raise QueueFullError(
                f"{slots.waiting} requests already wait for a slot "
                f"(max_queue_size={slots.max_queue_size})",
                request=request,
            )
        clock = self._clock
        now = clock.now()
        deadline = deadline_of(request, clock)
        timeout = self._config.queue_timeout
        until = None if timeout is None else now + timeout
        by_budget = deadline is not None and (until is None or deadline <= until)
        if by_budget:
            assert deadline is not None
            if deadline <= now:
                raise TimeoutBudgetExceeded(
                    "timeout_budget ran out before a queue slot was free", request=request
                )
            until = deadline
        waiter = SlotWaiter(priority, until)
        slots.push(waiter, now)
        if until is not None:
            self._appoint()
        woke = False
        try:
            while waiter.state is _WAITING:
                if waiter is self._keeper:
                    await self._keep_time(waiter)
                else:
                    await self._park(waiter)
            woke = True
        finally:
            waiter.handle = None
            if not woke:  # cancelled while queued: leave nothing behind
                if waiter.state is _GRANTED:
                    self._release()  # the slot landed on us as we were cancelled: pass it on
                elif waiter.state is _WAITING:
                    slots.abandon(waiter)
                    if waiter is self._keeper:
                        self._appoint()
        state = waiter.state
        if state is _GRANTED:
            if self._closed:
                self._release()
                raise ClientClosedError(
                    "the transport was closed before the request could start", request=request
                )
            return clock.now() - now
        if state is _FAILED:
            raise ClientClosedError(
                "the transport was closed while the request waited for a slot", request=request
            )
        if by_budget:  # EXPIRED
            raise TimeoutBudgetExceeded(
                "timeout_budget ran out while waiting for a queue slot", request=request
            )
        self._timed_out += 1
        raise QueueTimeoutError(f"no slot free within queue_timeout={timeout} s", request=request)

    async def _park(self, waiter: SlotWaiter) -> None:
        """Wait until ``waiter.wake()``."""
        future = asyncio_future()
        if future is not None:
            waiter.handle = future
            await future
        else:
            waiter.handle = event = anyio.Event()
            await event.wait()

    async def _keep_time(self, waiter: SlotWaiter) -> None:
        """Sleep on the clock until ``waiter``'s deadline (the earliest of all), unless
        woken; then expire every waiter that is due and hand the duty on."""
        assert waiter.until is not None
        clock = self._clock
        waiter.handle = scope = anyio.CancelScope()
        with scope:
            await clock.sleep(waiter.until - clock.now())
        if waiter.handle is scope:  # slept to the end: nobody woke us
            waiter.handle = None
            for expired in self._slots.expire(clock.now()):
                expired.wake()
            self._appoint()

    def _appoint(self) -> None:
        """Make the waiter with the earliest deadline the only one sleeping on the clock."""
        keeper = self._slots.earliest_deadline()
        old, self._keeper = self._keeper, keeper
        if keeper is not old:
            if keeper is not None:
                keeper.wake()  # it loops round and starts sleeping on the clock
            if old is not None:
                old.wake()  # it loops round and parks (or leaves, if no longer waiting)

    async def _shutdown(self) -> None:
        """Refuse new requests, fail every waiter, wait for calls in flight to return."""
        self.begin_close()
        if self._calls:
            if self._drained is None:
                self._drained = anyio.Event()
            await self._drained.wait()

    def begin_close(self) -> None:
        """Refuse new requests and fail every waiter at once."""
        self._closed = True
        self._keeper = None
        for waiter in self._slots.fail_all():
            waiter.wake()

    def reopen(self) -> None:
        """Admit requests again after a close."""
        self._closed = False
        self._drained = None

    async def aclose(self) -> None:
        """Fail queued waiters with ``ClientClosedError``, let calls in flight return
        their headers, then close the inner transport (bodies still streaming may then
        end in an httpx error)."""
        await self._close_then(super().aclose)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._close_then(partial(super().__aexit__, exc_type, exc_value, traceback))

    async def _close_then(self, forward: Callable[[], Awaitable[None]]) -> None:
        try:
            await self._shutdown()
        finally:
            with anyio.CancelScope(shield=True):
                await forward()
