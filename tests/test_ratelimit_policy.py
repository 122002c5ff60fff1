"""Token-bucket policy, in-process backend and wait queue: plain functions, float times."""

from __future__ import annotations

import random

import pytest

from httpx_resilient._ratelimit.backend import InProcessBackend, RateLimitBackend
from httpx_resilient._ratelimit.bucket import Limit, TokenBucket
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._ratelimit.waiters import WaitQueue


def limit(
    capacity: float = 2.0,
    rate: float = 1.0,
    *,
    index: int = 0,
    name: str | None = None,
    max_pause: float = 120.0,
    recovery: float = 30.0,
) -> Limit:
    return Limit(
        index=index,
        name=name or f"test-{capacity}-{rate}",
        capacity=capacity,
        rate=rate,
        max_pause=max_pause,
        recovery_seconds=recovery,
    )


# -- Limit ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "capacity", "rate"),
    [
        (RateLimitConfig(max_requests=10), 10.0, 10.0),
        (RateLimitConfig(max_requests=10, window_seconds=2.0), 10.0, 5.0),
        (RateLimitConfig(max_requests=1000, window_seconds=60, burst=5), 5.0, 1000 / 60),
        (RateLimitConfig(max_requests=0.5), 1.0, 0.5),  # a bucket always holds one token
    ],
)
def test_limit_from_config(config: RateLimitConfig, capacity: float, rate: float) -> None:
    built = Limit.from_config(3, config)
    assert (built.index, built.capacity, built.rate) == (3, capacity, pytest.approx(rate))
    assert built.max_pause == config.max_pause
    assert built.recovery_seconds == config.recovery_seconds


def test_limit_names_differ_by_rate_and_capacity() -> None:
    names = {
        Limit.from_config(0, RateLimitConfig(max_requests=10)).name,
        Limit.from_config(0, RateLimitConfig(max_requests=10, window_seconds=2)).name,
        Limit.from_config(0, RateLimitConfig(max_requests=10, burst=3)).name,
    }
    assert len(names) == 3


# -- TokenBucket: refill and waits ---------------------------------------------------------


def test_bucket_starts_full_and_empties() -> None:
    bucket = TokenBucket(limit(capacity=3, rate=1), now=0.0)
    for _ in range(3):
        assert bucket.wait_time(0.0) == 0.0
        bucket.take()
    assert bucket.wait_time(0.0) == pytest.approx(1.0)
    assert bucket.tokens_at(0.0) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("capacity", "rate", "taken", "later", "wait"),
    [
        (1, 1.0, 1, 0.0, 1.0),
        (1, 1.0, 1, 0.4, 0.6),
        (1, 1.0, 1, 1.0, 0.0),
        (5, 2.0, 5, 0.0, 0.5),
        (5, 2.0, 5, 0.25, 0.25),
        (5, 0.1, 5, 3.0, 7.0),
        (10, 100.0, 10, 0.005, 0.005),
    ],
)
def test_bucket_wait_time_table(
    capacity: float, rate: float, taken: int, later: float, wait: float
) -> None:
    bucket = TokenBucket(limit(capacity, rate), now=100.0)
    for _ in range(taken):
        bucket.take()
    assert bucket.wait_time(100.0 + later) == pytest.approx(wait, abs=1e-9)


def test_try_take_is_wait_time_then_take() -> None:
    rng = random.Random(3)
    one = TokenBucket(limit(capacity=3, rate=2), now=0.0)
    two = TokenBucket(limit(capacity=3, rate=2), now=0.0)
    now = 0.0
    for _ in range(500):
        now += rng.choice([0.0, 0.1, 0.25, 0.5, 2.0])
        if rng.random() < 0.1:
            one.pause(now, 1.0)
            two.pause(now, 1.0)
        expected = two.wait_time(now)
        if expected == 0.0:
            two.take()
        assert one.try_take(now) == pytest.approx(expected)
        assert one.tokens == pytest.approx(two.tokens)


def test_bucket_refill_is_capped_at_capacity() -> None:
    bucket = TokenBucket(limit(capacity=2, rate=1), now=0.0)
    bucket.take()
    bucket.take()
    assert bucket.tokens_at(1000.0) == 2.0
    assert bucket.wait_time(1000.0) == 0.0
    assert bucket.tokens == 2.0


def test_bucket_wait_for_several_tokens_is_not_capped() -> None:
    bucket = TokenBucket(limit(capacity=2, rate=1), now=0.0)
    assert bucket.wait_time(0.0, cost=5.0) == pytest.approx(3.0)
    assert bucket.tokens == 2.0  # asking takes nothing


def test_bucket_float_rounding_costs_no_extra_wait() -> None:
    bucket = TokenBucket(limit(capacity=1, rate=3.0), now=0.0)
    bucket.take()
    wait = bucket.wait_time(0.1)
    assert wait > 0
    assert bucket.wait_time(0.1 + wait) == 0.0


def test_time_going_backwards_changes_nothing() -> None:
    bucket = TokenBucket(limit(capacity=2, rate=1), now=10.0)
    bucket.take()
    assert bucket.wait_time(5.0) == 0.0
    assert bucket.tokens == 1.0


# -- TokenBucket: pauses ---------------------------------------------------------------


def test_pause_grants_nothing_until_the_reset_then_one_token() -> None:
    bucket = TokenBucket(limit(capacity=10, rate=1), now=0.0)
    assert bucket.pause(0.0, 5.0) == 5.0
    assert bucket.paused_at(1.0) == 5.0
    assert bucket.wait_time(1.0) == pytest.approx(4.0)
    assert bucket.tokens_at(4.9) == 1.0  # no refill during the pause
    assert bucket.wait_time(5.0) == 0.0
    bucket.take()
    assert bucket.wait_time(5.0) == pytest.approx(1.0)
    assert bucket.paused_at(5.0) is None


@pytest.mark.parametrize(
    ("first", "second", "until"),
    [(5.0, 2.0, 5.0), (2.0, 5.0, 5.0), (5.0, -3.0, 5.0), (500.0, 1.0, 60.0), (-1.0, 0.0, 0.0)],
)
def test_pause_only_extends_and_is_capped(first: float, second: float, until: float) -> None:
    bucket = TokenBucket(limit(capacity=3, rate=1, max_pause=60.0), now=0.0)
    bucket.pause(0.0, first)
    assert bucket.pause(0.0, second) == until


@pytest.mark.parametrize(
    ("rate", "pause", "wait_after_reset"),
    [
        (1.0, 1.0, 0.0),  # the token is earned by the reset: it is ready then
        (1.0, 0.5, 0.25),  # not yet earned: the configured rate still holds
        (0.1, 5.0, 4.75),  # 0.025 + 0.5 earned by the reset
        (10.0, 5.0, 0.0),
    ],
)
def test_pause_never_lets_more_through_than_the_rate(
    rate: float, pause: float, wait_after_reset: float
) -> None:
    bucket = TokenBucket(limit(capacity=3, rate=rate), now=0.0)
    for _ in range(3):
        bucket.take()
    bucket.pause(0.25, pause)
    assert bucket.tokens_at(0.25 + pause) <= 1.0
    assert bucket.wait_time(0.25 + pause) == pytest.approx(wait_after_reset)


# -- TokenBucket: AIMD -----------------------------------------------------------------


def test_throttle_multiplies_rate_by_0_7_down_to_one_percent() -> None:
    bucket = TokenBucket(limit(capacity=1, rate=10.0), now=0.0)
    rates = []
    for _ in range(20):
        bucket.throttle(0.0)
        rates.append(bucket.rate)
    assert rates[:3] == pytest.approx([7.0, 4.9, 3.43])
    assert min(rates) == pytest.approx(0.1)
    assert rates[-1] == pytest.approx(0.1)
    assert bucket.degraded


def test_throttle_keeps_tokens_earned_at_the_old_rate() -> None:
    bucket = TokenBucket(limit(capacity=10, rate=10.0), now=0.0)
    for _ in range(10):
        bucket.take()
    bucket.throttle(0.5)  # 5 tokens earned at 10/s before the cut
    assert bucket.tokens_at(0.5) == pytest.approx(5.0)
    assert bucket.tokens_at(1.5) == pytest.approx(10.0)  # capped; 7 earned at 7/s


@pytest.mark.parametrize(
    ("success_at", "rate"),
    [(0.0, 5.0), (3.0, 6.0), (15.0, 10.0), (30.0, 10.0), (1000.0, 10.0)],
)
def test_recover_is_linear_over_recovery_seconds(success_at: float, rate: float) -> None:
    bucket = TokenBucket(limit(rate=10.0, recovery=30.0), now=0.0)
    bucket.rate = 5.0  # as if throttled at t=0
    bucket.adjusted = 0.0
    bucket.recover(success_at)
    assert bucket.rate == pytest.approx(rate)


def test_recover_climbs_in_steps_and_never_above_the_configured_rate() -> None:
    bucket = TokenBucket(limit(rate=10.0, recovery=10.0), now=0.0)
    bucket.throttle(0.0)  # 7.0
    seen = []
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        bucket.recover(t)
        seen.append(bucket.rate)
    assert seen == pytest.approx([8.0, 9.0, 10.0, 10.0, 10.0])
    assert not bucket.degraded


def test_recovery_counts_from_the_end_of_a_pause() -> None:
    bucket = TokenBucket(limit(rate=10.0, recovery=10.0), now=0.0)
    bucket.throttle(0.0)
    bucket.pause(0.0, 20.0)
    bucket.recover(20.0)
    assert bucket.rate == pytest.approx(7.0)
    assert not bucket.recovered_by(21.0)
    assert bucket.recovered_by(23.0)
    bucket.recover(21.0)
    assert bucket.rate == pytest.approx(8.0)


def test_idle_bucket_is_full_unpaused_and_at_full_rate() -> None:
    bucket = TokenBucket(limit(capacity=2, rate=1), now=0.0)
    assert bucket.idle(0.0)
    bucket.take()
    assert not bucket.idle(0.5)
    assert bucket.idle(1.0)
    bucket.pause(1.0, 5.0)
    assert not bucket.idle(2.0)
    assert bucket.idle(8.0)
    bucket.throttle(8.0)
    assert not bucket.idle(100.0)


# -- InProcessBackend --------------------------------------------------------------------


def test_in_process_backend_implements_the_protocol() -> None:
    assert isinstance(InProcessBackend(), RateLimitBackend)


def test_acquire_takes_from_every_bucket_or_from_none() -> None:
    backend = InProcessBackend()
    fast = limit(capacity=2, rate=1, index=0, name="fast")
    slow = limit(capacity=3, rate=0.1, index=1, name="slow")
    limits = (fast, slow)
    assert backend.acquire_now(limits, ("a", "g"), 1.0, 0.0) == 0.0
    assert backend.acquire_now(limits, ("a", "g"), 1.0, 0.0) == 0.0
    # "a" is empty: waiting on it must not burn the last "g" token.
    assert backend.acquire_now(limits, ("a", "g"), 1.0, 0.0) == pytest.approx(1.0)
    assert backend.acquire_now(limits, ("b", "g"), 1.0, 0.0) == 0.0
    # now "g" is empty (and "b" has one left): the wait is the longest, nothing taken.
    assert backend.acquire_now(limits, ("b", "g"), 1.0, 0.0) == pytest.approx(10.0)
    tokens = {(s.limit_index, s.key): s.tokens for s in backend.buckets(limits, 0.0)}
    assert tokens == {(0, "a"): 0.0, (0, "b"): 1.0, (1, "g"): pytest.approx(0.0)}


def test_wait_time_takes_nothing() -> None:
    backend = InProcessBackend()
    limits = (limit(capacity=2, rate=2),)
    assert backend.wait_time_now(limits, ("k",), 1.0, 0.0) == 0.0
    assert backend.wait_time_now(limits, ("k",), 4.0, 0.0) == pytest.approx(1.0)
    assert backend.buckets(limits, 0.0)[0].tokens == 2.0


def test_throttle_pauses_and_slows_each_bucket_and_recovery_is_tracked() -> None:
    backend = InProcessBackend()
    limits = (limit(capacity=5, rate=10, index=0, name="x"), limit(5, 1, index=1, name="y"))
    backend.throttle_now(limits, ("a", "a"), 0.0, pause=2.0, decrease=True)
    states = backend.buckets(limits, 1.0)
    assert [s.paused_until for s in states] == [2.0, 2.0]
    assert [s.rate for s in states] == pytest.approx([7.0, 0.7])
    assert backend.recovering
    assert backend.acquire_now(limits, ("a", "a"), 1.0, 1.0) == pytest.approx(1.0)
    backend.recover_now(limits, ("a", "a"), 1000.0)
    assert not backend.recovering
    assert [s.rate for s in backend.buckets(limits, 1000.0)] == [10.0, 1.0]


def test_pause_alone_does_not_mark_recovering() -> None:
    backend = InProcessBackend()
    backend.throttle_now((limit(),), ("a",), 0.0, pause=1.0, decrease=False)
    assert not backend.recovering


def test_recovery_of_an_abandoned_key_is_pruned_by_other_successes() -> None:
    backend = InProcessBackend()
    limits = (limit(rate=10, recovery=10.0),)
    backend.throttle_now(limits, ("gone",), 0.0, pause=None, decrease=True)
    backend.recover_now(limits, ("other",), 1.0)  # "gone" would not be fully back yet
    assert backend.recovering
    backend.recover_now(limits, ("other",), 5.0)
    assert not backend.recovering
    assert {s.key: s.rate for s in backend.buckets(limits, 5.0)}["gone"] == 10.0


def test_idle_buckets_are_swept_so_memory_stays_bounded() -> None:
    backend = InProcessBackend()
    limits = (limit(capacity=1, rate=1),)
    for i in range(5000):
        backend.acquire_now(limits, (f"k{i}",), 1.0, float(i))
    # Buckets refill within a second, so at most the recent ones and the sweep slack remain.
    assert len(backend.buckets(limits, 5000.0)) <= 2048
    assert backend.acquire_now(limits, ("k4999",), 1.0, 4999.0) == pytest.approx(1.0)


def test_backends_shared_by_limit_name() -> None:
    backend = InProcessBackend()
    one = limit(capacity=1, rate=1, index=0, name="same")
    other = limit(capacity=1, rate=1, index=2, name="same")
    assert backend.acquire_now((one,), ("k",), 1.0, 0.0) == 0.0
    assert backend.acquire_now((other,), ("k",), 1.0, 0.0) == pytest.approx(1.0)
    assert [s.limit_index for s in backend.buckets((other,), 0.0)] == [2]
    assert "buckets=1" in repr(backend)


# -- WaitQueue -----------------------------------------------------------------------------


def test_wait_queue_serves_priority_then_arrival() -> None:
    queue = WaitQueue()
    a = queue.push(0)
    b = queue.push(5)
    c = queue.push(0)
    d = queue.push(5)
    order = []
    while (head := queue.head()) is not None:
        order.append(head)
        queue.remove(head)
    assert order == [b, d, a, c]
    assert queue.size == 0


def test_wait_queue_counts_who_is_ahead() -> None:
    queue = WaitQueue()
    for priority in (0, 0, 3, 7):
        queue.push(priority)
    assert [queue.ahead(p) for p in (-1, 0, 1, 3, 7, 8)] == [4, 4, 2, 2, 1, 0]


def test_wait_queue_removal_is_idempotent_and_lazy() -> None:
    queue = WaitQueue()
    waiters = [queue.push(i % 3) for i in range(200)]
    for waiter in waiters[:150]:
        queue.remove(waiter)
        queue.remove(waiter)
    assert queue.size == 50
    assert queue.ahead(0) == 50
    head = queue.head()
    assert head is not None
    assert head.priority == 2
    assert head.live
