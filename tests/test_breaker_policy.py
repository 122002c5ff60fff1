"""The breaker state machine, as plain functions with float times."""

from __future__ import annotations

from typing import Any

import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._breaker.policy import NOT_ADMITTED, WINDOW_BUCKETS, BreakerPolicy
from httpx_resilient._core.snapshots import CircuitState

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
K = "api.example.com"


def make(**kwargs: Any) -> tuple[BreakerPolicy, list[tuple[str, CircuitState, CircuitState]]]:
    seen: list[tuple[str, CircuitState, CircuitState]] = []
    policy = BreakerPolicy(CircuitBreakerConfig(**kwargs), on_transition=lambda *t: seen.append(t))
    return policy, seen


def call(policy: BreakerPolicy, outcome: str, now: float, duration: float = 0.0) -> int:
    """Admit one call at ``now`` and settle it: "F" failure, "S" success, "N" neither."""
    ticket = policy.admit(K, now)
    assert ticket != NOT_ADMITTED
    if outcome == "F":
        policy.failure(K, ticket, now + duration)
    elif outcome == "S":
        policy.success(K, ticket, now + duration, duration)
    else:
        policy.release(K, ticket)
    return ticket


def trip(policy: BreakerPolicy, now: float = 0.0) -> None:
    for _ in range(policy.config.failure_threshold):
        call(policy, "F", now)
    assert policy.state(K, now) is OPEN


@pytest.mark.parametrize("threshold", [1, 2, 5])
def test_opens_after_threshold_consecutive_failures(threshold: int) -> None:
    policy, seen = make(failure_threshold=threshold)
    for _ in range(threshold - 1):
        call(policy, "F", 0.0)
    assert policy.state(K, 0.0) is CLOSED
    call(policy, "F", 0.0)
    assert policy.state(K, 0.0) is OPEN
    assert policy.opens == 1
    assert seen == [(K, CLOSED, OPEN)]


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ("FFSFF", CLOSED),  # a success ends the run
        ("FNFNF", OPEN),  # "neither" neither counts nor ends the run
        ("FFNS", CLOSED),
        ("SSSFFF", OPEN),
    ],
)
def test_consecutive_failures_table(outcomes: str, expected: CircuitState) -> None:
    policy, _ = make(failure_threshold=3)
    for o in outcomes:
        call(policy, o, 0.0)
    assert policy.state(K, 0.0) is expected


def test_admit_closed_is_time_free_and_refuses_when_not_closed() -> None:
    policy, _ = make(failure_threshold=1)
    assert policy.admit_closed(K) >= 0
    trip(policy)
    assert policy.admit_closed(K) == NOT_ADMITTED
    assert policy.rejected == 0  # only admit() counts refusals


def test_open_turns_half_open_lazily_after_recovery_timeout() -> None:
    policy, seen = make(failure_threshold=1, recovery_timeout=10.0)
    trip(policy, now=100.0)
    assert policy.retry_after(K, 100.0) == 10.0
    assert policy.retry_after(K, 104.0) == 6.0
    assert policy.admit(K, 109.99) == NOT_ADMITTED
    assert policy.rejected == 1
    assert policy.state(K, 109.99) is OPEN
    assert seen == [(K, CLOSED, OPEN)]
    assert policy.state(K, 110.0) is HALF_OPEN
    assert seen[-1] == (K, OPEN, HALF_OPEN)
    assert policy.retry_after(K, 110.0) is None


@pytest.mark.parametrize("max_calls", [1, 3])
def test_half_open_admits_exactly_max_calls_probes(max_calls: int) -> None:
    policy, _ = make(failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=max_calls)
    trip(policy)
    tickets = [policy.admit(K, 5.0) for _ in range(max_calls + 2)]
    assert all(t & 1 for t in tickets[:max_calls])  # probes
    assert tickets[max_calls:] == [NOT_ADMITTED, NOT_ADMITTED]
    assert policy.probes_in_flight == max_calls
    assert policy.rejected == 2
    policy.release(K, tickets[0])  # cancelled probe: frees its slot, no verdict
    assert policy.probes_in_flight == max_calls - 1
    assert policy.state(K, 5.0) is HALF_OPEN
    assert policy.admit(K, 5.0) != NOT_ADMITTED
    assert policy.admit(K, 5.0) == NOT_ADMITTED


@pytest.mark.parametrize("success_threshold", [1, 2, 4])
def test_success_threshold_consecutive_probe_successes_close(success_threshold: int) -> None:
    policy, seen = make(
        failure_threshold=1, recovery_timeout=1.0, success_threshold=success_threshold
    )
    trip(policy)
    for _ in range(success_threshold - 1):
        call(policy, "S", 2.0)
        assert policy.state(K, 2.0) is HALF_OPEN
    call(policy, "S", 2.0)
    assert policy.state(K, 2.0) is CLOSED
    assert seen == [(K, CLOSED, OPEN), (K, OPEN, HALF_OPEN), (K, HALF_OPEN, CLOSED)]
    assert policy.probes_in_flight == 0


def test_probe_failure_reopens_with_fresh_recovery_timeout() -> None:
    policy, seen = make(failure_threshold=1, recovery_timeout=10.0, success_threshold=3)
    trip(policy, now=0.0)
    call(policy, "S", 10.0)
    call(policy, "F", 12.0)
    assert policy.state(K, 12.0) is OPEN
    assert policy.retry_after(K, 12.0) == 10.0
    assert policy.state(K, 21.9) is OPEN
    assert policy.state(K, 22.0) is HALF_OPEN
    assert policy.opens == 2
    assert seen[-2:] == [(K, HALF_OPEN, OPEN), (K, OPEN, HALF_OPEN)]
    # the earlier probe success does not carry over into the new half-open period
    call(policy, "S", 22.0)
    assert policy.state(K, 22.0) is HALF_OPEN


def test_stale_outcomes_are_ignored() -> None:
    policy, _ = make(failure_threshold=2, recovery_timeout=1.0, half_open_max_calls=2)
    early = policy.admit(K, 0.0)  # admitted while CLOSED, finishes much later
    trip(policy)
    policy.failure(K, early, 0.5)  # straggler failure while OPEN: no effect
    assert policy.opens == 1
    probe = policy.admit(K, 1.0)
    policy.success(K, early, 1.0)  # straggler success is not a probe success
    assert policy.state(K, 1.0) is HALF_OPEN
    assert policy.probes_in_flight == 1
    policy.reset(K)
    policy.release(K, probe)  # probe from before the reset: no double release
    policy.failure(K, probe, 1.0)
    assert policy.probes_in_flight == 0
    assert policy.state(K, 1.0) is CLOSED


def test_first_success_closes_and_other_probes_become_stale() -> None:
    policy, _ = make(failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=2)
    trip(policy)
    a, b = policy.admit(K, 1.0), policy.admit(K, 1.0)
    policy.success(K, a)
    assert policy.state(K, 1.0) is CLOSED
    policy.failure(K, b, 1.0)  # a probe of the finished half-open period
    assert policy.state(K, 1.0) is CLOSED
    assert policy.probes_in_flight == 0


def test_force_open_recovers_normally_and_refreshes_timer() -> None:
    policy, seen = make(recovery_timeout=5.0)
    policy.force_open(K, 0.0)
    assert policy.state(K, 0.0) is OPEN
    policy.force_open(K, 3.0)  # already open: the timer restarts, no new transition
    assert policy.opens == 1
    assert policy.state(K, 7.0) is OPEN
    assert policy.retry_after(K, 7.0) == 1.0
    assert policy.state(K, 8.0) is HALF_OPEN
    assert seen == [(K, CLOSED, OPEN), (K, OPEN, HALF_OPEN)]


def test_isolate_holds_open_until_reset() -> None:
    policy, seen = make(recovery_timeout=1.0)
    policy.isolate(K, 0.0)
    assert policy.state(K, 1e9) is OPEN
    assert policy.admit(K, 1e9) == NOT_ADMITTED
    assert policy.retry_after(K, 1e9) is None
    policy.reset(K)
    assert policy.state(K, 1e9) is CLOSED
    assert seen == [(K, CLOSED, OPEN), (K, OPEN, CLOSED)]


def test_reset_clears_counters_and_all_keys() -> None:
    policy, _ = make(failure_threshold=3)
    call(policy, "F", 0.0)
    call(policy, "F", 0.0)
    policy.reset(K)
    call(policy, "F", 0.0)
    call(policy, "F", 0.0)
    assert policy.state(K, 0.0) is CLOSED  # the run started over
    for key in ("a", "b"):
        policy.force_open(key, 0.0)
    policy.isolate("c", 0.0)
    policy.reset()
    assert policy.states(0.0) == {K: CLOSED, "a": CLOSED, "b": CLOSED, "c": CLOSED}
    policy.reset("never-seen")  # no error, no record
    assert policy.record("never-seen") is None


def test_keys_are_independent() -> None:
    policy, _ = make(failure_threshold=1)
    trip(policy)
    assert policy.admit("other", 0.0) != NOT_ADMITTED
    assert policy.states(0.0) == {K: OPEN, "other": CLOSED}


# -- failure-rate mode -----------------------------------------------------------------


def rate_policy(**kwargs: Any) -> BreakerPolicy:
    params: dict[str, Any] = {
        "failure_threshold": 1000,  # keep consecutive mode out of the way
        "failure_rate_threshold": 50.0,
        "window_seconds": 10.0,
        "minimum_calls": 4,
    }
    params.update(kwargs)
    return make(**params)[0]


@pytest.mark.parametrize(
    ("threshold", "minimum", "outcomes", "expected"),
    [
        (50.0, 4, "FSFS", OPEN),  # exactly 50 % reaches the threshold
        (50.0, 4, "FSSS", CLOSED),  # 25 %
        (50.0, 4, "FFF", CLOSED),  # 100 % but fewer than minimum_calls
        (50.0, 4, "FFFS", OPEN),  # the minimum is reached by a success: judged then
        (50.0, 10, "FFFFFSSSS", CLOSED),  # 9 calls < 10
        (50.0, 10, "FFFFFSSSSS", OPEN),
        (100.0, 4, "FFFF", OPEN),
        (100.0, 4, "FFFSFFFF", CLOSED),  # one success in the window keeps it below 100 %
        (20.0, 5, "SSSSF", OPEN),
        (20.0, 5, "SSSSSF", CLOSED),  # 1/6 < 20 %
        (50.0, 4, "FNFNSS", OPEN),  # "neither" is not a call: F F S S = 50 %
    ],
)
def test_failure_rate_table(
    threshold: float, minimum: int, outcomes: str, expected: CircuitState
) -> None:
    policy = rate_policy(failure_rate_threshold=threshold, minimum_calls=minimum)
    for o in outcomes:
        if policy.state(K, 0.0) is OPEN:
            break
        call(policy, o, 0.0)
    assert policy.state(K, 0.0) is expected


def test_consecutive_threshold_still_applies_in_rate_mode() -> None:
    policy = rate_policy(failure_threshold=3, minimum_calls=100)
    for o in "SSSSSSFFF":
        call(policy, o, 0.0)
    assert policy.state(K, 0.0) is OPEN


@pytest.mark.parametrize(
    ("gap", "expected"), [(5.0, OPEN), (9.9, OPEN), (10.0, CLOSED), (30.0, CLOSED)]
)
def test_old_failures_slide_out_of_the_window(gap: float, expected: CircuitState) -> None:
    policy = rate_policy()  # window 10 s in 0.5 s buckets, 50 %, minimum 4
    for _ in range(3):
        call(policy, "F", 0.0)
    call(policy, "F", gap)
    # within the window: 4 failures of 4 calls; after it: 1 call, below minimum_calls
    assert policy.state(K, gap) is expected


def test_window_counts_match_buckets_and_stay_bounded() -> None:
    policy = rate_policy(failure_rate_threshold=100.0, minimum_calls=10_000)
    now = 0.0
    for i in range(5000):
        call(policy, "F" if i % 3 == 0 else "S", now)
        now += 0.013
    rec = policy.record(K)
    assert rec is not None
    assert len(rec.calls) == len(rec.failed) == WINDOW_BUCKETS
    assert rec.window_calls == sum(rec.calls)
    assert rec.window_failures == sum(rec.failed)
    # ~10 s of 13 ms calls: the window holds between 95 % and 100 % of it
    assert 0.95 * 10.0 / 0.013 - 1 <= rec.window_calls <= 10.0 / 0.013 + 1


def test_window_is_cleared_on_transitions() -> None:
    policy = rate_policy(recovery_timeout=1.0)
    for o in "FFSF":
        call(policy, o, 0.0)
    assert policy.state(K, 0.0) is OPEN
    call(policy, "S", 1.0)  # probe closes it
    assert policy.state(K, 1.0) is CLOSED
    rec = policy.record(K)
    assert rec is not None
    assert (rec.window_calls, rec.window_failures) == (0, 0)
    assert sum(rec.calls) == sum(rec.failed) == 0
    call(policy, "F", 1.0)  # alone: below minimum_calls
    assert policy.state(K, 1.0) is CLOSED


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(0.99, CLOSED), (1.0, OPEN), (5.0, OPEN)],
)
def test_slow_calls_count_as_failures_in_rate_mode(duration: float, expected: CircuitState) -> None:
    policy = rate_policy(slow_call_duration=1.0)
    for _ in range(4):
        call(policy, "S", 0.0, duration)
    assert policy.state(K, 5.0) is expected


def test_slow_calls_are_ignored_without_rate_mode() -> None:
    policy, _ = make(failure_threshold=1, slow_call_duration=1.0)
    for _ in range(10):
        call(policy, "S", 0.0, 60.0)
    assert policy.state(K, 60.0) is CLOSED


def test_slow_calls_end_a_consecutive_failure_run() -> None:
    policy = rate_policy(failure_threshold=2, slow_call_duration=1.0, minimum_calls=100)
    call(policy, "F", 0.0)
    call(policy, "S", 0.0, 2.0)
    call(policy, "F", 2.0)
    assert policy.state(K, 2.0) is CLOSED


def test_slow_probe_reopens_in_rate_mode() -> None:
    policy = rate_policy(slow_call_duration=1.0, recovery_timeout=1.0)
    for o in "FFFF":
        call(policy, o, 0.0)
    call(policy, "S", 1.0, 3.0)
    assert policy.state(K, 4.0) is OPEN
    assert policy.retry_after(K, 4.0) == 1.0


def test_rate_mode_needs_now_to_settle() -> None:
    policy = rate_policy()
    ticket = policy.admit(K, 0.0)
    with pytest.raises(ValueError, match="now"):
        policy.success(K, ticket)
