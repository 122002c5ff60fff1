"""RetryBudgetTracker: sliding-window accounting with float times."""

from __future__ import annotations

import pytest

from httpx_resilient._retry.budget import SLOTS, RetryBudgetTracker
from httpx_resilient._retry.config import RetryBudget


def spend_all(tracker: RetryBudgetTracker, now: float, limit: int = 10_000) -> int:
    granted = 0
    while granted < limit and tracker.try_spend(now):
        granted += 1
    return granted


def test_reserve_allows_min_per_second_times_window_with_no_traffic() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.2, min_per_second=1.0, window=10.0))
    assert tracker.allowance(0.0) == 10.0
    assert spend_all(tracker, 0.0) == 10
    assert not tracker.try_spend(0.5)


def test_ratio_of_requests() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.2, min_per_second=0.0, window=10.0))
    for i in range(50):
        tracker.record_request(i * 0.1)
    assert tracker.requests(5.0) == 50
    assert spend_all(tracker, 5.0) == 10
    assert tracker.retries(5.0) == 10


def test_ratio_plus_reserve() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.5, min_per_second=0.2, window=10.0))
    for _ in range(10):
        tracker.record_request(1.0)
    assert tracker.allowance(1.0) == pytest.approx(7.0)
    assert spend_all(tracker, 1.0) == 7


def test_refused_spend_takes_nothing() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.0, min_per_second=0.1, window=10.0))
    assert tracker.try_spend(0.0)
    assert not tracker.try_spend(0.0)
    assert not tracker.try_spend(0.0)
    assert tracker.retries(0.0) == 1


def test_no_budget_at_all() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.0, min_per_second=0.0, window=1.0))
    tracker.record_request(0.0)
    assert not tracker.try_spend(0.0)


def test_float_ratio_does_not_lose_the_last_retry() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.29, min_per_second=0.0, window=10.0))
    for _ in range(100):
        tracker.record_request(0.0)
    assert spend_all(tracker, 0.0) == 29


def test_window_slides_old_requests_and_retries_expire() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=1.0, min_per_second=0.0, window=10.0))
    for _ in range(4):
        tracker.record_request(0.0)
    for _ in range(6):
        tracker.record_request(5.0)
    assert tracker.requests(9.9) == 10
    assert spend_all(tracker, 9.9) == 10
    # At 10.5 the slot of t=0 has left the window; the retries made at 9.9 have not.
    assert tracker.requests(10.5) == 6
    assert tracker.retries(10.5) == 10
    assert not tracker.try_spend(10.5)
    # After a full window everything recorded so far is gone.
    assert tracker.requests(20.0) == 0
    assert tracker.retries(20.0) == 0
    tracker.record_request(20.0)
    assert tracker.try_spend(20.0)


def test_retries_expire_too() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.0, min_per_second=0.5, window=4.0))
    assert spend_all(tracker, 100.0) == 2
    assert not tracker.try_spend(103.0)
    assert spend_all(tracker, 104.5) == 2


def test_memory_is_bounded_however_long_it_runs() -> None:
    tracker = RetryBudgetTracker(RetryBudget(ratio=0.1, min_per_second=0.0, window=10.0))
    now = 0.0
    for _ in range(200_000):
        tracker.record_request(now)
        now += 0.01  # 2,000 seconds of traffic at 100 requests/s
    assert tracker.requests(now) == pytest.approx(1000, abs=100)
    assert spend_all(tracker, now) == pytest.approx(100, abs=10)
    assert not hasattr(tracker, "__dict__")
    assert len(tracker._ids) == len(tracker._requests) == len(tracker._retries) == SLOTS


def test_negative_and_large_clock_values() -> None:
    for start in (-1_000.25, 1e9 + 0.5):
        tracker = RetryBudgetTracker(RetryBudget(ratio=1.0, min_per_second=0.0, window=2.0))
        tracker.record_request(start)
        tracker.record_request(start + 0.3)
        assert tracker.requests(start + 0.5) == 2
        assert spend_all(tracker, start + 0.5) == 2
        assert tracker.requests(start + 3.0) == 0
