"""``PriorityQueueTransport``: the bulkhead. Bounded concurrency, priority order, load shedding.

At most ``limit`` requests are below this layer at once: ``max_concurrency`` when
``adaptive=False``; otherwise each host (``host_key``, the breaker's key) has an
``AdaptiveLimit`` (``limit.py``) fed with the time from admission to response headers,
and all hosts together stay within ``max_concurrency``. A long-lived stream
(``text/event-stream``, a 101 upgrade, ``extensions={"stream": True}``) gives no sample
and frees its slot at headers in the adaptive mode (httpx's pool still bounds its
connection); failed requests give no sample either. Any other request holds its slot
until its body is closed or read to the end (its connection is busy until then).
``response.extensions["queue_wait"]``: the seconds it waited for its slot.

Waiters are served by ``extensions["priority"]`` (higher first), then arrival
(``waitqueue.py``: heap and aging). A free slot with nobody waiting is taken without
allocating or awaiting; a queued request parks (``slot.park``), and only the waiter
whose deadline comes first sleeps on the clock: one timer per queue. With no
``queue_timeout`` a wait is bounded by the request's pool timeout, failing with
``QueueTimeoutError`` (an ``httpx.PoolTimeout``). A full queue admits a newcomer of
higher priority than the lowest waiter, which fails with ``QueueFullError``.
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
from .._core.keys import host_key
from .._core.layer import Layer
from .._core.scopes import cancel_scope
from .._core.snapshots import QueueStatistics
from .config import QueueConfig
from .releasing import ReleasingStream
from .slot import SlotWaiter, long_lived, park, pool_timeout, priority_of
from .waitqueue import Lane, WaiterState, WaitQueue

__all__ = ["PriorityQueueTransport"]

_WAITING = WaiterState.WAITING
_GRANTED = WaiterState.GRANTED
_FAILED = WaiterState.FAILED
_EVICTED = WaiterState.EVICTED


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
        self._adaptive = config.adaptive
        self._last: tuple[str, int | None, Lane, int] | None = None
        self._slots: WaitQueue[SlotWaiter] = WaitQueue(
            config.max_concurrency,
            config.max_queue_size,
            config.aging_seconds,
            adaptive=(config.min_concurrency, config.max_concurrency) if config.adaptive else None,
        )
        self._closed = False
        self._calls = 0  # requests inside inner.handle_async_request
        self._drained: anyio.Event | None = None
        self._keeper: SlotWaiter | None = None  # the waiter sleeping on the clock
        self._rejected_full = 0
        self._evicted = 0
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
            limit=slots.limit,
            limits=slots.limits(),
            rejected_full=self._rejected_full,
            evicted=self._evicted,
            timed_out=self._timed_out,
            closed=self._closed,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise ClientClosedError("the transport is closed", request=request)
        priority = priority_of(request)
        slots = self._slots
        lane = self._lane(request) if self._adaptive else slots.default
        waited = 0.0
        if lane.active < lane.limit and not lane.waiting and slots.active < slots.max_concurrency:
            lane.active += 1  # the fast path: no allocation, no await
            slots.active += 1
        else:
            waited = await self._wait(request, priority, lane)
        clock = self._clock
        limiter = lane.limiter
        start = clock.now() if limiter is not None else 0.0
        self._calls += 1
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            self._release(lane)
            raise
        finally:
            self._calls -= 1
            if self._drained is not None and not self._calls:
                self._drained.set()
        response.extensions["queue_wait"] = waited
        if limiter is not None:
            if long_lived(request, response):
                self._release(lane)
                return response
            if limiter.sample(clock.now() - start, lane.active) != lane.limit:
                for waiter in slots.relimit(lane):
                    self._woken(waiter)
        stream = response.stream
        if response.is_closed or not isinstance(stream, httpx.AsyncByteStream):
            self._release(lane)
        else:
            response.stream = ReleasingStream(stream, self._release, lane)
        return response

    def _lane(self, request: httpx.Request) -> Lane:
        """The request's host lane (``host_key``), remembering the last one: a client
        mostly talks to one host, and this skips building the key for it."""
        url = request.url
        ref = getattr(url, "_uri_reference", None)  # httpx's parsed URL: cheap to read
        if ref is None:
            return self._slots.lane(host_key(request))
        host, port = ref.host, ref.port
        slots = self._slots
        last = self._last
        if last is not None and last[0] == host and last[1] == port and last[3] == slots.generation:
            return last[2]
        lane = slots.lane(host_key(request))
        self._last = (host, port, lane, slots.generation)
        return lane

    def _release(self, lane: Lane) -> None:
        waiter = self._slots.release(lane)
        if waiter is not None:
            self._woken(waiter)

    def _woken(self, waiter: SlotWaiter) -> None:
        waiter.wake()
        if waiter is self._keeper:
            self._appoint()

    async def _wait(self, request: httpx.Request, priority: int, lane: Lane) -> float:
        """Queue until a slot is handed over; return the seconds waited."""
        slots = self._slots
        clock = self._clock
        now = clock.now()
        if not slots.has_room():
            victim = slots.evict(priority, now)
            if victim is None:
                self._rejected_full += 1
                raise QueueFullError(
                    f"{slots.waiting} requests already wait for a slot "
                    f"(max_queue_size={slots.max_queue_size})",
                    request=request,
                )
            self._evicted += 1
            self._woken(victim)
        deadline = deadline_of(request, clock)
        timeout = self._config.queue_timeout
        if timeout is None:
            timeout = pool_timeout(request)
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
        slots.push(waiter, now, lane)
        if until is not None:
            self._appoint()
        woke = False
        try:
            while waiter.state is _WAITING:
                if waiter is self._keeper:
                    await self._keep_time(waiter)
                else:
                    await park(waiter)
            woke = True
        finally:
            waiter.handle = None
            if not woke:  # cancelled while queued: leave nothing behind
                if waiter.state is _GRANTED:
                    self._release(lane)  # the slot landed on us as we were cancelled: pass it on
                elif waiter.state is _WAITING:
                    slots.abandon(waiter)
                    if waiter is self._keeper:
                        self._appoint()
        state = waiter.state
        if state is _GRANTED:
            if self._closed:
                self._release(lane)
                raise ClientClosedError(
                    "the transport was closed before the request could start", request=request
                )
            return clock.now() - now
        if state is _EVICTED:
            raise QueueFullError(
                "the queue was full and a request of higher priority took this one's place",
                request=request,
            )
        if state is _FAILED:
            raise ClientClosedError(
                "the transport was closed while the request waited for a slot", request=request
            )
        if by_budget:  # EXPIRED
            raise TimeoutBudgetExceeded(
                "timeout_budget ran out while waiting for a queue slot", request=request
            )
        self._timed_out += 1
        which = "queue_timeout" if self._config.queue_timeout is not None else "the pool timeout"
        raise QueueTimeoutError(f"no slot free within {which} ({timeout} s)", request=request)

    async def _keep_time(self, waiter: SlotWaiter) -> None:
        """Sleep on the clock until ``waiter``'s deadline (the earliest of all), unless
        woken; then expire every waiter that is due and hand the duty on."""
        assert waiter.until is not None
        clock = self._clock
        waiter.handle = scope = cancel_scope()
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
