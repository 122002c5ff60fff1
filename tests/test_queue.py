"""PriorityQueueTransport: the bulkhead, its wait queue, timeouts, cancellation and close."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from httpx_resilient._core.errors import (
    ClientClosedError,
    ConfigError,
    QueueFullError,
    QueueTimeoutError,
    TimeoutBudgetExceeded,
)
from httpx_resilient._core.snapshots import QueueStatistics
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport
from httpx_resilient._queue.waitqueue import Waiter, WaiterState, WaitQueue
from httpx_resilient.testing import FakeClock, ScriptedTransport
from tests.loopback import LoopbackServer, Reply, Seen

pytestmark = pytest.mark.anyio


class Body(httpx.AsyncByteStream):
    """A response body that stays open until read or closed."""

    def __init__(self, data: bytes = b"ok") -> None:
        self.data = data
        self.closed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data

    async def aclose(self) -> None:
        self.closed += 1


def req(path: str = "/", priority: int | None = None, **extensions: object) -> httpx.Request:
    if priority is not None:
        extensions["priority"] = priority
    return httpx.Request("GET", f"http://t{path}", extensions=extensions)


def clean(stats: QueueStatistics) -> bool:
    return stats.active == 0 and stats.waiting == 0


# --- the pure wait queue -------------------------------------------------------------


def test_waitqueue_orders_by_priority_then_arrival() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 10)
    assert q.try_acquire()
    waiters = [Waiter(p) for p in (0, 5, 1, 5, 10)]
    for w in waiters:
        assert not q.try_acquire()
        q.push(w, 0.0)
    order = []
    while (w := q.release()) is not None:
        order.append(waiters.index(w))
    assert order == [4, 1, 3, 2, 0]
    assert (q.active, q.waiting) == (0, 0)


def test_waitqueue_aging_key_is_fixed_per_waiter() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 10, aging_seconds=2.0)
    assert q.try_acquire()
    old, new = Waiter(0), Waiter(4)
    q.push(old, 0.0)  # effective priority at t=10: 0 + 10/2 = 5
    q.push(new, 10.0)  # effective priority at t=10: 4
    assert q.release() is old
    assert q.release() is new


def test_waitqueue_abandoned_entries_are_compacted() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 10_000)
    q.try_acquire()
    waiters = [Waiter(0) for _ in range(1000)]
    for w in waiters:
        q.push(w, 0.0)
    for w in waiters[:990]:
        q.abandon(w)
        q.abandon(w)  # twice is harmless
    assert q.waiting == 10
    assert len(q.default.heap) < 100
    served = []
    while (w := q.release()) is not None:
        served.append(w)
    assert served == waiters[990:]
    assert all(w.state is WaiterState.GRANTED for w in served)


def test_waitqueue_fail_all_in_queue_order() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 10)
    q.try_acquire()
    a, b, c = Waiter(0), Waiter(3), Waiter(1)
    for w in (a, b, c):
        q.push(w, 0.0)
    q.abandon(c)
    assert q.fail_all() == [b, a]
    assert a.state is b.state is WaiterState.FAILED
    assert c.state is WaiterState.ABANDONED
    assert q.waiting == 0
    assert q.release() is None
    assert q.active == 0


def test_waitqueue_deadlines_expire_in_order() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 10)
    q.try_acquire()
    late, untimed, early, gone = Waiter(0, 9.0), Waiter(0), Waiter(0, 3.0), Waiter(5, 1.0)
    for w in (late, untimed, early, gone):
        q.push(w, 0.0)
    assert q.earliest_deadline() is gone
    q.abandon(gone)
    assert q.earliest_deadline() is early
    assert q.expire(2.9) == []
    assert q.expire(5.0) == [early]
    assert early.state is WaiterState.EXPIRED
    assert q.waiting == 2
    assert q.release() is late  # arrival order among equals
    assert q.earliest_deadline() is None
    assert q.expire(100.0) == []
    assert q.release() is untimed


# --- admission, order, body-hold -------------------------------------------------------


async def test_requests_below_the_limit_go_straight_through() -> None:
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=3), clock=FakeClock())
    responses: list[httpx.Response] = []

    async def call(i: int) -> None:
        responses.append(await queue.handle_async_request(req(f"/{i}")))

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(call, i)
        pending = [await inner.next_request() for _ in range(3)]
        assert queue.statistics().active == 3
        assert queue.statistics().waiting == 0
        tg.start_soon(call, 3)
        await anyio.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 1
        assert inner.calls == 3
        for p in pending:
            p.respond(200, content=b"x")  # already read: the slot is freed at headers
        (await inner.next_request()).respond(200, content=b"x")
    assert [r.extensions["queue_wait"] for r in responses[:3]] == [0.0, 0.0, 0.0]
    assert clean(queue.statistics())


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1), clock=FakeClock())
    served: list[str] = []

    async def call(name: str, priority: int | None) -> None:
        await queue.handle_async_request(req(f"/{name}", priority))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "first", None)
        blocker = await inner.next_request()
        for name, priority in [("low", None), ("mid", 5), ("one", 1), ("mid2", 5), ("top", 10)]:
            tg.start_soon(call, name, priority)
            await anyio.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 5
        blocker.respond(200, content=b"")
        for _ in range(5):
            p = await inner.next_request()
            served.append(p.request.url.path.strip("/"))
            p.respond(200, content=b"")
    assert served == ["top", "mid", "mid2", "one", "low"]
    assert clean(queue.statistics())


async def test_aging_lets_an_old_low_priority_waiter_overtake() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, aging_seconds=1.0)
    queue = PriorityQueueTransport(inner, config, clock=clock)
    served: list[str] = []

    async def call(name: str, priority: int) -> None:
        await queue.handle_async_request(req(f"/{name}", priority))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "blocker", 0)
        blocker = await inner.next_request()
        tg.start_soon(call, "old-low", 0)
        await anyio.wait_all_tasks_blocked()
        clock.advance(10.0)  # old-low's effective priority is now 10
        tg.start_soon(call, "new-high", 5)
        await anyio.wait_all_tasks_blocked()
        blocker.respond(200, content=b"")
        for _ in range(2):
            p = await inner.next_request()
            served.append(p.request.url.path.strip("/"))
            p.respond(200, content=b"")
    assert served == ["old-low", "new-high"]


async def test_slot_is_held_until_the_body_is_closed() -> None:
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1), clock=FakeClock())
    body = Body(b"streamed")
    responses: list[httpx.Response] = []

    async def call(path: str) -> None:
        responses.append(await queue.handle_async_request(req(path)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "/a")
        (await inner.next_request()).respond(200, stream=body)
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(call, "/b")
        await anyio.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 1  # /a has its headers but holds its slot
        assert inner.calls == 1
        assert await responses[0].aread() == b"streamed"  # read to the end, then closed
        p = await inner.next_request()
        assert p.request.url.path == "/b"
        assert queue.statistics().active == 1
        p.respond(200, content=b"")  # a body already read frees the slot at headers
    assert body.closed == 1
    assert clean(queue.statistics())


async def test_streamed_body_is_released_exactly_once() -> None:
    bodies: list[Body] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(Body())
        return httpx.Response(200, stream=bodies[-1])

    queue = PriorityQueueTransport(
        ScriptedTransport(handler), QueueConfig(max_concurrency=2), clock=FakeClock()
    )
    response = await queue.handle_async_request(req())
    assert queue.statistics().active == 1
    async for _ in response.stream:  # type: ignore[union-attr]
        pass
    # read to the end without aclose(): the body is closed (its connection goes back to
    # the pool) before the slot is freed
    assert bodies[0].closed == 1
    assert queue.statistics().active == 0
    await response.aclose()
    await response.aclose()
    assert bodies[0].closed == 1
    other = await queue.handle_async_request(req())
    await other.aclose()
    await other.aclose()
    assert bodies[1].closed == 1
    assert queue.statistics().active == 0


async def test_client_get_frees_the_slot_and_reports_queue_wait() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1), clock=clock)
    waits: dict[str, float] = {}
    client = httpx.AsyncClient(transport=queue, base_url="http://t")

    async def get(path: str) -> None:
        waits[path] = (await client.get(path)).extensions["queue_wait"]

    async with client, anyio.create_task_group() as tg:
        tg.start_soon(get, "/a")
        first = await inner.next_request()
        tg.start_soon(get, "/b")
        await anyio.wait_all_tasks_blocked()
        clock.advance(2.5)
        first.respond(200, stream=Body())
        (await inner.next_request()).respond(200, stream=Body())
    assert waits == {"/a": 0.0, "/b": 2.5}
    assert clean(queue.statistics())


async def test_inner_error_and_cancellation_in_flight_free_the_slot() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    queue = PriorityQueueTransport(
        ScriptedTransport(fail), QueueConfig(max_concurrency=1), clock=FakeClock()
    )
    with pytest.raises(httpx.ConnectError):
        await queue.handle_async_request(req())
    assert clean(queue.statistics())

    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1), clock=FakeClock())
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(queue.handle_async_request, req())
            await inner.next_request()
            assert queue.statistics().active == 1
            scope.cancel()
    assert clean(queue.statistics())


async def test_bad_priority_is_a_config_error() -> None:
    queue = PriorityQueueTransport(ScriptedTransport(), QueueConfig(), clock=FakeClock())
    with pytest.raises(ConfigError) as info:
        await queue.handle_async_request(req(priority="high"))  # type: ignore[arg-type]
    assert info.value.field == "extensions.priority"
    with pytest.raises(ConfigError):
        PriorityQueueTransport(ScriptedTransport(), "x")  # type: ignore[arg-type]
    assert clean(queue.statistics())


# --- load shedding and timeouts ---------------------------------------------------------


@pytest.mark.parametrize("size", [0, 2])
async def test_queue_full_fails_at_once(size: int) -> None:
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, max_queue_size=size, queue_timeout=30)
    queue = PriorityQueueTransport(inner, config, clock=FakeClock())
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.handle_async_request, req())
        blocker = await inner.next_request()
        for _ in range(size):
            tg.start_soon(queue.handle_async_request, req())
        await anyio.wait_all_tasks_blocked()
        with pytest.raises(QueueFullError) as info:
            await queue.handle_async_request(req())
        assert isinstance(info.value, httpx.TransportError)
        assert f"max_queue_size={size}" in str(info.value)
        stats = queue.statistics()
        assert (stats.waiting, stats.rejected_full) == (size, 1)
        blocker.respond(200, content=b"")
        for _ in range(size):
            (await inner.next_request()).respond(200, content=b"")
    assert clean(queue.statistics())


async def test_queue_timeout_fires_on_the_clock() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=5.0)
    queue = PriorityQueueTransport(inner, config, clock=clock)
    errors: list[BaseException] = []

    async def waiter() -> None:
        try:
            await queue.handle_async_request(req())
        except QueueTimeoutError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.handle_async_request, req())
        blocker = await inner.next_request()
        tg.start_soon(waiter)
        await anyio.wait_all_tasks_blocked()
        clock.advance(4.9)
        await anyio.wait_all_tasks_blocked()
        assert not errors
        assert queue.statistics().waiting == 1
        clock.advance(0.2)
        await anyio.wait_all_tasks_blocked()
        assert len(errors) == 1
        stats = queue.statistics()
        assert (stats.waiting, stats.timed_out, stats.active) == (0, 1, 1)
        blocker.respond(200, content=b"")
    assert clean(queue.statistics())
    assert inner.calls == 1


async def test_timeout_budget_bounds_the_wait() -> None:
    clock = FakeClock(autojump=True)
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=60.0)
    queue = PriorityQueueTransport(inner, config, clock=clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.handle_async_request, req())
        blocker = await inner.next_request()
        with pytest.raises(TimeoutBudgetExceeded) as info:
            await queue.handle_async_request(req(timeout_budget=2.0))
        assert isinstance(info.value, httpx.TimeoutException)
        assert clock.now() == pytest.approx(2.0)
        # A deadline already behind us fails without queueing.
        late = req(**{"httpx_resilient.deadline": clock.now() - 1})
        with pytest.raises(TimeoutBudgetExceeded):
            await queue.handle_async_request(late)
        assert queue.statistics().timed_out == 0  # budget expiries are not queue timeouts
        blocker.respond(200, content=b"")
    assert clean(queue.statistics())


async def test_one_sleeper_keeps_time_for_every_deadline() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=10.0)
    queue = PriorityQueueTransport(inner, config, clock=clock)
    outcomes: dict[str, str] = {}
    scopes: dict[str, anyio.CancelScope] = {}

    async def call(name: str, budget: float | None = None) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            extensions = {} if budget is None else {"timeout_budget": budget}
            try:
                await queue.handle_async_request(req(f"/{name}", **extensions))
                outcomes[name] = "served"
            except (QueueTimeoutError, TimeoutBudgetExceeded) as exc:
                outcomes[name] = f"{type(exc).__name__}@{clock.now():g}"

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "blocker")
        blocker = await inner.next_request()
        tg.start_soon(call, "q10")  # deadline 10 (queue_timeout)
        await anyio.wait_all_tasks_blocked()
        clock.advance(1.0)
        tg.start_soon(call, "q11")  # deadline 11
        tg.start_soon(call, "b4", 3.0)  # deadline 4: takes over the clock
        tg.start_soon(call, "b6", 5.0)  # deadline 6
        tg.start_soon(call, "cancelled", 2.0)  # deadline 3, then cancelled
        await anyio.wait_all_tasks_blocked()
        assert clock.sleepers == 1  # five deadlines, one sleeper
        scopes["cancelled"].cancel()
        await anyio.wait_all_tasks_blocked()
        assert clock.sleepers == 1
        for _ in range(12):
            clock.advance(1.0)
            await anyio.wait_all_tasks_blocked()
            assert clock.sleepers <= 1
        assert queue.statistics().waiting == 0
        blocker.respond(200, content=b"")
    assert outcomes == {
        "blocker": "served",
        "b4": "TimeoutBudgetExceeded@4",
        "b6": "TimeoutBudgetExceeded@6",
        "q10": "QueueTimeoutError@10",
        "q11": "QueueTimeoutError@11",
    }
    assert queue.statistics().timed_out == 2
    assert clean(queue.statistics())


async def test_a_served_time_keeper_hands_the_clock_on() -> None:
    clock = FakeClock()
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=5.0)
    queue = PriorityQueueTransport(inner, config, clock=clock)
    errors: list[str] = []

    async def call(name: str) -> None:
        try:
            await queue.handle_async_request(req(f"/{name}"))
        except QueueTimeoutError:
            errors.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "blocker")
        blocker = await inner.next_request()
        tg.start_soon(call, "first")  # keeps time (deadline 5)
        await anyio.wait_all_tasks_blocked()
        clock.advance(1.0)
        tg.start_soon(call, "second")  # deadline 6
        await anyio.wait_all_tasks_blocked()
        blocker.respond(200, content=b"")  # "first" is served and stops keeping time
        first = await inner.next_request()
        assert first.request.url.path == "/first"
        await anyio.wait_all_tasks_blocked()
        assert clock.sleepers == 1  # "second" sleeps now
        clock.advance(4.5)  # t=5.5
        await anyio.wait_all_tasks_blocked()
        assert errors == []
        clock.advance(0.5)  # t=6
        await anyio.wait_all_tasks_blocked()
        assert errors == ["second"]
        first.respond(200, content=b"")
    assert clean(queue.statistics())


# --- cancellation -------------------------------------------------------------------------


@pytest.mark.parametrize("timed", [False, True])
async def test_cancelled_waiters_leave_nothing(timed: bool) -> None:
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=100.0 if timed else None)
    queue = PriorityQueueTransport(inner, config, clock=FakeClock())
    scopes: dict[str, anyio.CancelScope] = {}
    done: list[str] = []

    async def call(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            await queue.handle_async_request(req(f"/{name}"))
            done.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "blocker")
        blocker = await inner.next_request()
        for name in ("a", "b", "c"):
            tg.start_soon(call, name)
            await anyio.wait_all_tasks_blocked()
        scopes["a"].cancel()
        scopes["c"].cancel()
        await anyio.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 1
        blocker.respond(200, content=b"")
        p = await inner.next_request()
        assert p.request.url.path == "/b"
        p.respond(200, content=b"")
    assert done == ["blocker", "b"]
    assert clean(queue.statistics())


@pytest.mark.parametrize("timed", [False, True])
async def test_grant_to_a_waiter_cancelled_in_the_same_iteration_passes_on(timed: bool) -> None:
    inner = ScriptedTransport()
    config = QueueConfig(max_concurrency=1, queue_timeout=100.0 if timed else None)
    queue = PriorityQueueTransport(inner, config, clock=FakeClock())
    scopes: dict[str, anyio.CancelScope] = {}
    done: list[str] = []

    async def call(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            response = await queue.handle_async_request(req(f"/{name}"))
            await response.aclose()
            done.append(name)

    async with anyio.create_task_group() as tg:
        first_response: list[httpx.Response] = []

        async def first() -> None:
            first_response.append(await queue.handle_async_request(req("/first")))

        tg.start_soon(first)
        (await inner.next_request()).respond(200, stream=Body())
        await anyio.wait_all_tasks_blocked()
        for name in ("b", "c"):
            tg.start_soon(call, name)
            await anyio.wait_all_tasks_blocked()
        # Closing the body hands the slot to b, synchronously; b is then cancelled
        # before it runs, in the same loop iteration.
        await first_response[0].aclose()
        scopes["b"].cancel()
        p = await inner.next_request()
        if p.request.url.path == "/b":
            # trio may resume b with its slot first; it is then cancelled at its first
            # checkpoint below us, and the slot still moves on.
            p = await inner.next_request()
        assert p.request.url.path == "/c"
        p.respond(200, stream=Body())
    assert done == ["c"]
    assert clean(queue.statistics())


# --- close ---------------------------------------------------------------------------------


async def test_aclose_fails_waiters_and_lets_in_flight_finish() -> None:
    inner = ScriptedTransport()
    queue = PriorityQueueTransport(inner, QueueConfig(max_concurrency=1), clock=FakeClock())
    outcomes: dict[str, object] = {}
    closed = anyio.Event()

    async def call(name: str) -> None:
        try:
            outcomes[name] = (await queue.handle_async_request(req(f"/{name}"))).status_code
        except ClientClosedError as exc:
            outcomes[name] = exc

    async def close() -> None:
        await queue.aclose()
        closed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(call, "running")
        running = await inner.next_request()
        tg.start_soon(call, "w1")
        tg.start_soon(call, "w2")
        await anyio.wait_all_tasks_blocked()
        tg.start_soon(close)
        await anyio.wait_all_tasks_blocked()
        assert isinstance(outcomes["w1"], ClientClosedError)
        assert isinstance(outcomes["w2"], ClientClosedError)
        assert "running" not in outcomes
        assert not closed.is_set()
        assert inner.closed == 0
        running.respond(204, content=b"")
        await closed.wait()
    assert outcomes["running"] == 204
    assert inner.closed == 1
    stats = queue.statistics()
    assert stats.closed
    assert clean(stats)
    with pytest.raises(ClientClosedError):
        await queue.handle_async_request(req())
    assert inner.calls == 1


async def test_context_manager_forwards_once_and_closes() -> None:
    inner = ScriptedTransport(lambda r: httpx.Response(200))
    async with PriorityQueueTransport(inner, QueueConfig(), clock=FakeClock()) as queue:
        assert inner.entered == 1
        await queue.handle_async_request(req())
    assert inner.exited == 1
    assert inner.closed == 1
    with pytest.raises(ClientClosedError):
        await queue.handle_async_request(req())


# --- against a real server -----------------------------------------------------------------


@pytest.mark.integration
async def test_concurrency_at_the_server_never_exceeds_the_limit(server: LoopbackServer) -> None:
    lock = threading.Lock()
    current = [0, 0]  # now, peak

    def slow(seen: Seen) -> Reply:
        with lock:
            current[0] += 1
            current[1] = max(current[1], current[0])
        time.sleep(0.01)
        with lock:
            current[0] -= 1
        return Reply(200, {}, b"done")

    server.route("/slow", slow)
    queue = PriorityQueueTransport(httpx.AsyncHTTPTransport(), QueueConfig(max_concurrency=2))
    async with httpx.AsyncClient(transport=queue, base_url=server.url) as client:

        async def get() -> None:
            response = await client.get("/slow")
            assert response.text == "done"

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(get)
    assert server.hits("/slow") == 8
    assert current[1] <= 2
    assert clean(queue.statistics())
