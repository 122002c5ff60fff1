"""AdaptiveLimit on synthetic servers (pure, float times), and the lanes of the WaitQueue."""

from __future__ import annotations

import random
import statistics
import tracemalloc
from collections.abc import Callable

import pytest

from httpx_resilient._queue.limit import INITIAL, AdaptiveLimit
from httpx_resilient._queue.waitqueue import Waiter, WaiterState, WaitQueue

Curve = Callable[[int, int], float]  # (requests in flight, sample number) -> latency


def drive(
    curve: Curve, n: int, *, offered: int = 10**6, limiter: AdaptiveLimit | None = None
) -> list[int]:
    """Feed ``n`` samples of a closed loop that keeps ``min(limit, offered)`` in flight."""
    limit = limiter or AdaptiveLimit(1, 100)
    trace = []
    for i in range(n):
        in_flight = min(limit.limit, offered)
        limit.sample(curve(in_flight, i), in_flight)
        trace.append(limit.limit)
    return trace


def first_within(trace: list[int], target: float, share: float = 0.1) -> int:
    return next(i for i, v in enumerate(trace) if abs(v - target) <= max(1, share * target))


def test_starting_limit_is_clamped_to_the_bounds() -> None:
    assert AdaptiveLimit(1, 100).limit == INITIAL == 10
    assert AdaptiveLimit(1, 4).limit == 4
    assert AdaptiveLimit(20, 100).limit == 20


def test_client_bound_server_latency_proportional_to_load_drives_the_limit_down() -> None:
    # a fixed-capacity server (or a CPU-bound client): 2,000 req/s whatever the limit,
    # so latency is in_flight / 2000 and more concurrency only queues
    trace = drive(lambda c, i: c / 2000, 3000)
    assert first_within(trace, 2) < 800
    assert max(trace[800:]) <= 4


def test_latency_bound_server_is_not_throttled() -> None:
    # 50 ms whatever the load, 64 offered: the limit must reach the offered load fast
    trace = drive(lambda c, i: 0.05, 3000, offered=64)
    assert first_within(trace, 100) < 600
    below = sum(1 for v in trace[600:] if v < 64)
    assert below / len(trace[600:]) < 0.08  # only the probe windows dip
    assert trace[-1] == 100


def test_noise_that_delays_only_some_requests_does_not_cut_the_limit() -> None:
    # a busy machine: 30 % of requests delayed 4x at random (GC pauses, noisy neighbours);
    # the least latency of a window ignores them, so the limit still rises to the ceiling
    rng = random.Random(7)
    trace = drive(lambda c, i: 0.05 + (0.2 if rng.random() < 0.3 else 0.0), 3000, offered=64)
    assert statistics.median(trace[1000:]) == 100


def test_app_limited_load_does_not_inflate_the_limit() -> None:
    trace = drive(lambda c, i: 0.01, 2000, offered=3)
    assert max(trace) <= INITIAL


def test_latency_growing_with_load_stays_within_twice_the_unloaded_latency() -> None:
    def curve(c: int, i: int) -> float:
        return 0.01 * (1 + c / 10)  # 11 ms unloaded, 74 ms at 64

    trace = drive(curve, 4000)
    steady = trace[1000:]
    assert all(curve(v, 0) <= 2 * curve(1, 0) for v in steady)
    assert max(steady) >= 3  # it still uses the concurrency that costs little


def test_sudden_slowdown_then_recovery() -> None:
    def capacity(i: int) -> int:
        return 5 if 1500 <= i < 3000 else 25  # in-flight requests served at 10 ms

    trace = drive(lambda c, i: 0.01 * max(1.0, c / capacity(i)), 5000)
    assert 20 <= statistics.median(trace[1000:1500]) <= 37  # latency <= 1.5x
    assert max(trace[1700:3000]) <= 9  # fell within 200 samples of the slowdown
    assert 20 <= statistics.median(trace[3500:5000]) <= 37  # and back up


def test_a_server_slower_for_good_is_relearned_not_throttled() -> None:
    # latency x10 at any load (a new network path): the limit first falls, then the
    # probes relearn the no-load latency and it climbs back to the ceiling
    trace = drive(lambda c, i: 0.005 if i < 1000 else 0.05, 4000)
    assert min(trace[1000:1300]) <= 5
    assert trace[-1] == 100


def test_sampling_allocates_nothing() -> None:
    limit = AdaptiveLimit(1, 100)
    drive(lambda c, i: 0.01, 1000, limiter=limit)
    latencies = [0.01 + (i % 7) / 1000 for i in range(20_000)]
    sample = limit.sample
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for latency in latencies:
            sample(latency, 10)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000  # floats freed at once; nothing kept per sample
    assert 0.01 <= limit.noload < 0.02


# --- lanes: per-host limits under a total ceiling ------------------------------------------


def test_a_full_host_does_not_block_another() -> None:
    q: WaitQueue[Waiter] = WaitQueue(100, 10, adaptive=(1, 3))
    a, b = q.lane("a"), q.lane("b")
    assert [q.try_acquire(a) for _ in range(4)] == [True, True, True, False]
    waiter = Waiter(0)
    q.push(waiter, 0.0, a)
    assert q.try_acquire(b)
    assert q.limits() == {"a": 3, "b": 3}
    assert q.limit == 6
    assert q.release(b) is None  # b's slot is not a's to take
    assert q.release(a) is waiter
    assert waiter.state is WaiterState.GRANTED


def test_the_total_ceiling_binds_and_the_best_waiter_of_any_host_goes_next() -> None:
    q: WaitQueue[Waiter] = WaitQueue(2, 10, adaptive=(2, 2))
    a, b = q.lane("a"), q.lane("b")
    assert q.try_acquire(a)
    assert q.try_acquire(a)
    assert not q.try_acquire(b)  # b is below its own limit, but the total is spent
    low_a, high_b = Waiter(0), Waiter(5)
    q.push(low_a, 0.0, a)
    q.push(high_b, 1.0, b)
    assert q.limit == 2
    assert q.release(a) is high_b  # a's slot goes to b's higher-priority waiter
    assert (a.active, b.active, q.active) == (1, 1, 2)


def test_a_raised_limit_admits_waiters_at_once() -> None:
    q: WaitQueue[Waiter] = WaitQueue(100, 100, adaptive=(1, 100))
    lane = q.lane("h")
    for _ in range(10):
        assert q.try_acquire(lane)
    waiters = [Waiter(0) for _ in range(20)]
    for w in waiters:
        q.push(w, 0.0, lane)
    granted: list[Waiter] = []
    for _ in range(10):  # one window at 10 in flight with flat latency: the limit rises
        granted += q.record(lane, 0.01)
    assert lane.limit > 10
    assert granted == waiters[: lane.limit - 10]
    assert lane.active == q.active == lane.limit


def test_idle_lanes_are_dropped_beyond_the_bound() -> None:
    q: WaitQueue[Waiter] = WaitQueue(100, 10, adaptive=(1, 10))
    busy = q.lane("busy")
    assert q.try_acquire(busy)
    for i in range(1100):
        q.lane(f"h{i}")
    assert len(q.limits()) <= 1024
    assert q.lane("busy") is busy


# --- eviction ----------------------------------------------------------------------------


@pytest.mark.parametrize("adaptive", [None, (1, 1)])
def test_eviction_takes_the_lowest_latest_waiter_for_a_higher_newcomer(
    adaptive: tuple[int, int] | None,
) -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 3, adaptive=adaptive)
    lane = q.lane("h")
    assert q.try_acquire(lane)
    first, second, top = Waiter(0), Waiter(0), Waiter(9)
    for t, w in enumerate((first, second, top)):
        q.push(w, float(t), lane)
    assert not q.has_room()
    assert q.evict(0, 5.0) is None  # equal priority: the newcomer fails
    assert q.evict(-1, 5.0) is None
    assert q.evict(1, 5.0) is second  # the latest of the lowest
    assert second.state is WaiterState.EVICTED
    assert q.waiting == 2
    assert q.has_room()
    assert q.release(lane) is top


def test_eviction_with_aging_compares_effective_priority() -> None:
    q: WaitQueue[Waiter] = WaitQueue(1, 1, aging_seconds=1.0)
    assert q.try_acquire()
    old = Waiter(0)
    q.push(old, 0.0)
    assert q.evict(1, 0.5) is old  # 1 > 0 + 0.5
    q2: WaitQueue[Waiter] = WaitQueue(1, 1, aging_seconds=1.0)
    assert q2.try_acquire()
    old2 = Waiter(0)
    q2.push(old2, 0.0)
    assert q2.evict(1, 5.0) is None  # aged to 5 by now: outranks the newcomer
