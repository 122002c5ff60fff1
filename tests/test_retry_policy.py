"""RetryPolicy: delays per jitter, Retry-After, what may be retried. Plain sync tests."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest
import tenacity

from httpx_resilient._core.errors import (
    CircuitOpenError,
    ClientClosedError,
    ConfigError,
    QueueFullError,
    QueueTimeoutError,
    RateLimitExceeded,
    TimeoutBudgetExceeded,
)
from httpx_resilient._core.headers import http_date
from httpx_resilient._retry.config import RetryConfig
from httpx_resilient._retry.policy import (
    DecorrelatedJitterWait,
    FullJitterWait,
    RetryPolicy,
    is_retryable_error,
)

WALL = 1_700_000_000.0


def delays(policy: RetryPolicy, count: int) -> list[float]:
    """The backoff before retries 0..count-1 of one logical request."""
    state = policy.new_state()
    out = []
    for _ in range(count):
        out.append(policy.backoff(state))
        policy.next_attempt(state)
    return out


def config(**kw: object) -> RetryConfig:
    return RetryConfig(**kw)  # type: ignore[arg-type]


# --- delays -------------------------------------------------------------------------


def test_no_jitter_is_exponential_and_capped() -> None:
    policy = RetryPolicy(config(jitter="none", max_retries=10))
    assert delays(policy, 8) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_no_jitter_custom_factor_and_cap() -> None:
    policy = RetryPolicy(config(jitter="none", base_delay=0.1, backoff_factor=3.0, max_delay=2.0))
    assert delays(policy, 5) == pytest.approx([0.1, 0.3, 0.9, 2.0, 2.0])


def test_factor_one_is_constant() -> None:
    policy = RetryPolicy(config(jitter="none", base_delay=0.25, backoff_factor=1.0))
    assert delays(policy, 4) == [0.25, 0.25, 0.25, 0.25]


def test_huge_retry_numbers_stay_at_the_cap() -> None:
    policy = RetryPolicy(config(jitter="none", max_retries=5000))
    assert delays(policy, 3000)[-1] == 30.0


def test_full_jitter_table_with_seeded_rng() -> None:
    policy = RetryPolicy(config(jitter="full"), random.Random(42))
    ref = random.Random(42)
    expected = [ref.uniform(0.0, min(30.0, 0.5 * 2.0**n)) for n in range(8)]
    got = delays(policy, 8)
    assert got == expected
    caps = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert all(0.0 <= g <= c for g, c in zip(got, caps, strict=True))


def test_equal_jitter_table_with_seeded_rng() -> None:
    policy = RetryPolicy(config(jitter="equal"), random.Random(7))
    ref = random.Random(7)
    expected = []
    for n in range(8):
        d = min(30.0, 0.5 * 2.0**n)
        expected.append(d / 2 + ref.uniform(0.0, d / 2))
    got = delays(policy, 8)
    assert got == expected
    caps = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert all(c / 2 <= g <= c for g, c in zip(got, caps, strict=True))


def test_decorrelated_jitter_table_with_seeded_rng() -> None:
    policy = RetryPolicy(config(jitter="decorrelated", max_delay=10.0), random.Random(3))
    ref = random.Random(3)
    expected = []
    previous = 0.5
    for _ in range(10):
        previous = min(10.0, ref.uniform(0.5, previous * 3))
        expected.append(previous)
    got = delays(policy, 10)
    assert got == expected
    assert all(0.5 <= g <= 10.0 for g in got)
    assert max(got) > 1.5  # it does grow beyond the first window


def test_same_seed_same_delays_different_seed_differs() -> None:
    a = delays(RetryPolicy(config(jitter="full"), random.Random(1)), 5)
    b = delays(RetryPolicy(config(jitter="full"), random.Random(1)), 5)
    c = delays(RetryPolicy(config(jitter="full"), random.Random(2)), 5)
    assert a == b
    assert a != c


def test_zero_base_delay_means_no_wait() -> None:
    for jitter in ("full", "equal", "decorrelated", "none"):
        policy = RetryPolicy(config(jitter=jitter, base_delay=0.0), random.Random(0))
        assert delays(policy, 3) == [0.0, 0.0, 0.0]


def test_strategies_are_real_tenacity_waits() -> None:
    """Our jitter strategies also drive tenacity's own loop unchanged."""
    slept: list[float] = []
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise OSError("boom")
        return "ok"

    retrying = tenacity.Retrying(
        wait=DecorrelatedJitterWait(base=1.0, cap=100.0, rng=random.Random(5)),
        stop=tenacity.stop_after_attempt(5),
        sleep=slept.append,
    )
    assert retrying(flaky) == "ok"
    ref = random.Random(5)
    previous = 1.0
    expected = []
    for _ in range(3):
        previous = min(100.0, ref.uniform(1.0, previous * 3))
        expected.append(previous)
    assert slept == expected

    slept.clear()
    calls = 0
    retrying = tenacity.Retrying(
        wait=FullJitterWait(base=1.0, factor=2.0, cap=3.0, rng=random.Random(5)),
        stop=tenacity.stop_after_attempt(5),
        sleep=slept.append,
    )
    assert retrying(flaky) == "ok"
    assert len(slept) == 3
    assert all(0 <= s <= cap for s, cap in zip(slept, [1.0, 2.0, 3.0], strict=True))


def test_exhausted_after_max_retries() -> None:
    policy = RetryPolicy(config(max_retries=2))
    state = policy.new_state()
    assert not policy.exhausted(state)  # attempt 1 made
    policy.next_attempt(state)
    assert not policy.exhausted(state)  # attempt 2 made
    policy.next_attempt(state)
    assert policy.exhausted(state)  # attempt 3 made: 2 retries used


# --- Retry-After ----------------------------------------------------------------------


def plan(policy: RetryPolicy, *retry_after: str | bytes) -> float | None:
    raw = [v if isinstance(v, bytes) else v.encode() for v in retry_after]
    headers = httpx.Headers([(b"Retry-After", v) for v in raw])
    return policy.delay(policy.new_state(), headers, WALL)


def test_retry_after_delta_seconds_replaces_backoff() -> None:
    policy = RetryPolicy(config(jitter="none"))
    assert plan(policy, "7") == 7.0
    assert plan(policy, "0") == 0.0


def test_retry_after_http_date() -> None:
    policy = RetryPolicy(config(jitter="none"))
    date = http_date_string(WALL + 30)
    assert plan(policy, date) == pytest.approx(30.0)
    assert plan(policy, http_date_string(WALL - 100)) == 0.0  # in the past: at once


def http_date_string(unix: float) -> str:
    import email.utils

    text = email.utils.formatdate(unix, usegmt=True)
    assert http_date(text) == pytest.approx(unix)
    return text


@pytest.mark.parametrize(
    "garbage", ["soon", "-5", "1.5", "", "Mon, 99 Foo 2020", "１２".encode(), b"\xff\xfe"]
)
def test_garbage_retry_after_falls_back_to_backoff(garbage: str | bytes) -> None:
    policy = RetryPolicy(config(jitter="none"))
    assert plan(policy, garbage) == 0.5


def test_first_well_formed_retry_after_wins() -> None:
    policy = RetryPolicy(config(jitter="none"))
    assert plan(policy, "garbage", "4", "9") == 4.0


def test_retry_after_beyond_cap_means_no_retry() -> None:
    policy = RetryPolicy(config(jitter="none", max_retry_after=120.0))
    assert plan(policy, "120") == 120.0
    assert plan(policy, "121") is None
    assert plan(policy, "99999999999999999999999") is None
    assert plan(policy, http_date_string(WALL + 3600)) is None


def test_retry_after_may_exceed_max_delay() -> None:
    """``max_delay`` caps computed backoff only; the server's wish is capped separately."""
    policy = RetryPolicy(config(jitter="none", max_delay=1.0))
    assert plan(policy, "60") == 60.0


def test_retry_after_ignored_when_not_respected() -> None:
    policy = RetryPolicy(config(jitter="none", respect_retry_after=False))
    assert plan(policy, "7") == 0.5
    assert plan(policy, "100000") == 0.5


def test_no_headers_means_backoff() -> None:
    policy = RetryPolicy(config(jitter="none"))
    assert policy.delay(policy.new_state(), None, WALL) == 0.5


# --- what may be retried ---------------------------------------------------------------


def request(method: str = "GET", **kw: object) -> httpx.Request:
    return httpx.Request(method, "http://example.test/x", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])
def test_idempotent_methods_retry(method: str) -> None:
    assert RetryPolicy(config()).allows(request(method))


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT"])
def test_non_idempotent_methods_do_not_retry(method: str) -> None:
    assert not RetryPolicy(config()).allows(request(method, content=b"x"))


def test_idempotency_key_allows_post() -> None:
    policy = RetryPolicy(config())
    assert policy.allows(request("POST", content=b"x", headers={"Idempotency-Key": "k1"}))
    assert policy.allows(request("PATCH", headers={"idempotency-key": "k2"}))


def test_extension_overrides() -> None:
    policy = RetryPolicy(config())
    assert policy.allows(request("POST", content=b"x", extensions={"retry": True}))
    assert not policy.allows(request("GET", extensions={"retry": False}))
    assert not policy.allows(
        request("POST", headers={"Idempotency-Key": "k"}, extensions={"retry": False})
    )
    # Only the booleans count: anything else is refused, not read as truthy or falsy.
    for odd in ("yes", "no", 0, 1):
        with pytest.raises(ConfigError, match="extensions.retry"):
            policy.allows(request("POST", extensions={"retry": odd}))


def test_custom_retry_methods_are_case_insensitive() -> None:
    policy = RetryPolicy(config(retry_methods={"get", "post"}))
    assert policy.allows(request("POST"))
    assert not policy.allows(request("PUT"))


def test_one_shot_stream_is_never_replayed() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    policy = RetryPolicy(config())
    assert not policy.allows(request("PUT", content=body()))
    assert not policy.allows(request("POST", content=body(), extensions={"retry": True}))
    assert policy.allows(request("PUT", content=b"bytes replay fine"))


def test_max_retries_zero_allows_nothing() -> None:
    assert not RetryPolicy(config(max_retries=0)).allows(request("GET"))


def test_retry_status() -> None:
    policy = RetryPolicy(config())
    assert [s for s in (200, 400, 404, 429, 500, 502, 503, 504) if policy.retry_status(s)] == [
        429,
        502,
        503,
        504,
    ]
    custom = RetryPolicy(config(retry_on_status={500}))
    assert custom.retry_status(500)
    assert not custom.retry_status(503)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.PoolTimeout("busy"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("dropped"),
        httpx.ProxyError("proxy"),
    ],
)
def test_network_errors_and_timeouts_retry(exc: Exception) -> None:
    assert is_retryable_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        CircuitOpenError("open", retry_after=3.0),
        RateLimitExceeded("limited", retry_after=1.0),
        QueueFullError("full"),
        QueueTimeoutError("waited"),
        ClientClosedError("closed"),
        TimeoutBudgetExceeded("spent"),
        httpx.UnsupportedProtocol("ftp://"),
        httpx.LocalProtocolError("bad request"),
        ValueError("a bug"),
        httpx.HTTPStatusError(
            "503", request=request(), response=httpx.Response(503, request=request())
        ),
    ],
)
def test_refusals_and_permanent_errors_do_not_retry(exc: Exception) -> None:
    assert not is_retryable_error(exc)
