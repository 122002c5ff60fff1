"""EnvironmentConfig.from_environment and TimeoutConfig."""

from __future__ import annotations

import dataclasses
import logging

import httpx
import pytest

from httpx_resilient._breaker.config import CircuitBreakerConfig
from httpx_resilient._core.errors import ConfigError
from httpx_resilient._env import EnvironmentConfig, TimeoutConfig
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._ratelimit.config import RateLimitConfig
from httpx_resilient._retry.config import RetryBudget, RetryConfig


def load(**variables: str) -> EnvironmentConfig:
    return EnvironmentConfig.from_environment(environ=variables)


def test_defaults_match_the_design() -> None:
    env = load()
    assert env.rate_limit == RateLimitConfig(max_requests=1000, window_seconds=60)
    assert env.circuit_breaker == CircuitBreakerConfig()
    assert env.circuit_breaker.failure_threshold == 5
    assert env.circuit_breaker.recovery_timeout == 30
    assert env.retry_config == RetryConfig()
    assert (env.retry_config.max_retries, env.retry_config.base_delay) == (3, 0.5)
    assert env.retry_config.max_delay == 30
    assert env.timeout_config == TimeoutConfig(10, 10, 10, 10, None)
    assert env.queue == QueueConfig(max_concurrency=100, max_queue_size=10_000)
    assert env.queue.queue_timeout is None


ALL = {
    "API_RATE_LIMIT": "50",
    "API_RATE_WINDOW": "2.5",
    "API_RATE_BURST": "7",
    "API_RATE_KEY": "global",
    "API_RATE_MAX_WAIT": "1.5",
    "API_RATE_ADAPTIVE": "no",
    "API_RATE_MAX_PAUSE": "90",
    "API_RATE_RECOVERY_SECONDS": "12",
    "API_CB_FAILURE_THRESHOLD": "9",
    "API_CB_RECOVERY_TIMEOUT": "4.5",
    "API_CB_SUCCESS_THRESHOLD": "2",
    "API_CB_HALF_OPEN_MAX_CALLS": "3",
    "API_CB_PER": "GLOBAL",
    "API_CB_FAILURE_RATE_THRESHOLD": "40",
    "API_CB_WINDOW_SECONDS": "15",
    "API_CB_MINIMUM_CALLS": "8",
    "API_CB_SLOW_CALL_DURATION": "2",
    "API_RETRY_MAX_RETRIES": "5",
    "API_RETRY_BASE_DELAY": "0.25",
    "API_RETRY_BACKOFF_FACTOR": "3",
    "API_RETRY_MAX_DELAY": "20",
    "API_RETRY_JITTER": "equal",
    "API_RETRY_ON_STATUS": "500, 503,",
    "API_RETRY_METHODS": "get,post",
    "API_RETRY_RESPECT_RETRY_AFTER": "false",
    "API_RETRY_MAX_RETRY_AFTER": "60",
    "API_RETRY_TIMEOUT_BUDGET": "25",
    "API_RETRY_MAX_BUFFER_BYTES": "1024",
    "API_RETRY_BUDGET": "yes",
    "API_RETRY_BUDGET_RATIO": "0.5",
    "API_RETRY_BUDGET_MIN_PER_SECOND": "3",
    "API_RETRY_BUDGET_WINDOW": "20",
    "API_TIMEOUT": "7",
    "API_TIMEOUT_CONNECT": "1",
    "API_TIMEOUT_READ": "2",
    "API_TIMEOUT_WRITE": "3",
    "API_TIMEOUT_POOL": "none",
    "API_TIMEOUT_TOTAL": "40",
    "API_QUEUE_MAX_CONCURRENCY": "16",
    "API_QUEUE_MAX_SIZE": "64",
    "API_QUEUE_TIMEOUT": "9.5",
    "API_QUEUE_AGING_SECONDS": "2",
    "API_QUEUE_ADAPTIVE": "off",
    "API_QUEUE_MIN_CONCURRENCY": "4",
}


def test_every_variable_is_parsed() -> None:
    env = load(**ALL)
    assert env.rate_limit == RateLimitConfig(
        max_requests=50,
        window_seconds=2.5,
        burst=7,
        key="global",
        max_wait=1.5,
        adaptive=False,
        max_pause=90,
        recovery_seconds=12,
    )
    assert env.circuit_breaker == CircuitBreakerConfig(
        failure_threshold=9,
        recovery_timeout=4.5,
        success_threshold=2,
        half_open_max_calls=3,
        per="global",
        failure_rate_threshold=40,
        window_seconds=15,
        minimum_calls=8,
        slow_call_duration=2,
    )
    assert env.retry_config == RetryConfig(
        max_retries=5,
        base_delay=0.25,
        backoff_factor=3,
        max_delay=20,
        jitter="equal",
        retry_on_status=frozenset({500, 503}),
        retry_methods=frozenset({"GET", "POST"}),
        respect_retry_after=False,
        max_retry_after=60,
        timeout_budget=25,
        max_buffer_bytes=1024,
        budget=RetryBudget(ratio=0.5, min_per_second=3, window=20),
    )
    assert env.timeout_config == TimeoutConfig(connect=1, read=2, write=3, pool=None, total=40)
    assert env.queue == QueueConfig(
        max_concurrency=16,
        max_queue_size=64,
        queue_timeout=9.5,
        aging_seconds=2,
        adaptive=False,
        min_concurrency=4,
    )


def test_the_table_of_variables_is_covered_by_this_test() -> None:
    from httpx_resilient._env import _VARIABLES

    assert {"API_" + suffix for suffix, *_ in _VARIABLES} == set(ALL)


def test_empty_means_unset_and_whitespace_is_ignored() -> None:
    assert load(**dict.fromkeys(ALL, "")) == load()
    assert load(**dict.fromkeys(ALL, "   ")) == load()
    assert load(API_RATE_LIMIT=" 20 ").rate_limit == RateLimitConfig(20, 60)


def test_api_timeout_sets_every_phase_and_phases_override_it() -> None:
    env = load(API_TIMEOUT="3", API_TIMEOUT_READ="30")
    assert env.timeout_config == TimeoutConfig(connect=3, read=30, write=3, pool=3)
    assert env.timeout_config.to_httpx() == httpx.Timeout(3, read=30)
    assert load(API_TIMEOUT="none").timeout_config.to_httpx() == httpx.Timeout(None)


def test_total_becomes_the_retry_budget_unless_set_explicitly() -> None:
    assert load(API_TIMEOUT_TOTAL="12").retry_config.timeout_budget == 12
    both = load(API_TIMEOUT_TOTAL="12", API_RETRY_TIMEOUT_BUDGET="5")
    assert (both.timeout_config.total, both.retry_config.timeout_budget) == (12, 5)
    assert load().retry_config.timeout_budget is None


def test_off_switches_a_layer_off() -> None:
    env = load(
        API_RATE_LIMIT="off", API_CB_FAILURE_THRESHOLD="OFF", API_QUEUE_MAX_CONCURRENCY="off"
    )
    assert (env.rate_limit, env.circuit_breaker, env.queue) == (None, None, None)
    assert load(API_RETRY_BUDGET="off").retry_config.budget is None


def test_prefix_and_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYAPP_RATE_LIMIT", "5")
    monkeypatch.setenv("API_RATE_LIMIT", "garbage")  # another prefix: not read
    env = EnvironmentConfig.from_environment(prefix="MYAPP_")
    assert env.rate_limit is not None
    assert env.rate_limit.max_requests == 5
    with pytest.raises(ConfigError) as info:
        EnvironmentConfig.from_environment()
    assert info.value.field == "API_RATE_LIMIT"


UNPARSABLE = [(name, "garbage!") for name in ALL] + [
    ("API_RATE_LIMIT", "nan"),
    ("API_RATE_WINDOW", "inf"),
    ("API_RATE_BURST", "2.5"),
    ("API_CB_FAILURE_THRESHOLD", "5.0"),
    ("API_RETRY_ON_STATUS", "429,abc"),
    ("API_RETRY_JITTER", "some"),
    ("API_RATE_ADAPTIVE", "maybe"),
    ("API_QUEUE_ADAPTIVE", "maybe"),
    ("API_QUEUE_MIN_CONCURRENCY", "1.5"),
]


@pytest.mark.parametrize(("name", "value"), UNPARSABLE)
def test_a_value_that_does_not_parse_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**{name: value})
    assert info.value.field == name
    assert str(info.value).startswith(f"{name}: expected ")
    assert isinstance(info.value, ValueError)


REJECTED = [
    ("API_RATE_LIMIT", "-5"),
    ("API_RATE_WINDOW", "0"),
    ("API_RATE_BURST", "0"),
    ("API_RATE_MAX_WAIT", "-1"),
    ("API_RATE_MAX_PAUSE", "0"),
    ("API_RATE_RECOVERY_SECONDS", "0"),
    ("API_CB_FAILURE_THRESHOLD", "0"),
    ("API_CB_RECOVERY_TIMEOUT", "-3"),
    ("API_CB_SUCCESS_THRESHOLD", "0"),
    ("API_CB_HALF_OPEN_MAX_CALLS", "0"),
    ("API_CB_FAILURE_RATE_THRESHOLD", "150"),
    ("API_CB_WINDOW_SECONDS", "0"),
    ("API_CB_MINIMUM_CALLS", "0"),
    ("API_CB_SLOW_CALL_DURATION", "0"),
    ("API_RETRY_MAX_RETRIES", "-1"),
    ("API_RETRY_BASE_DELAY", "-1"),
    ("API_RETRY_BACKOFF_FACTOR", "0.5"),
    ("API_RETRY_MAX_DELAY", "-1"),
    ("API_RETRY_ON_STATUS", "429,999"),
    ("API_RETRY_MAX_RETRY_AFTER", "-1"),
    ("API_RETRY_TIMEOUT_BUDGET", "0"),
    ("API_RETRY_MAX_BUFFER_BYTES", "-1"),
    ("API_RETRY_BUDGET_RATIO", "-1"),
    ("API_RETRY_BUDGET_MIN_PER_SECOND", "-1"),
    ("API_RETRY_BUDGET_WINDOW", "0"),
    ("API_TIMEOUT", "0"),
    ("API_TIMEOUT_CONNECT", "-1"),
    ("API_TIMEOUT_READ", "0"),
    ("API_TIMEOUT_WRITE", "0"),
    ("API_TIMEOUT_POOL", "-2"),
    ("API_TIMEOUT_TOTAL", "-1"),
    ("API_QUEUE_MAX_CONCURRENCY", "0"),
    ("API_QUEUE_MAX_SIZE", "-1"),
    ("API_QUEUE_TIMEOUT", "0"),
    ("API_QUEUE_AGING_SECONDS", "-1"),
    ("API_QUEUE_MIN_CONCURRENCY", "0"),
]


@pytest.mark.parametrize(("name", "value"), REJECTED)
def test_a_value_the_config_rejects_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**{name: value})
    assert info.value.field == name
    assert str(info.value).startswith(f"{name}: ")


def test_values_are_quoted_only_for_names_that_are_not_secret() -> None:
    with pytest.raises(ConfigError) as info:
        load(API_RATE_LIMIT="abc-sentinel")
    assert "abc-sentinel" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load(API_RATE_KEY="hunter2-sentinel")
    assert info.value.field == "API_RATE_KEY"
    assert "hunter2" not in str(info.value)
    assert "expected" in str(info.value)
    for prefix in ("TOKEN_", "MY_SECRET_", "AUTH_"):
        for value in ("hunter2-sentinel", "-42424242"):  # does not parse / is rejected
            with pytest.raises(ConfigError) as info:
                EnvironmentConfig.from_environment(prefix, {f"{prefix}RATE_LIMIT": value})
            assert info.value.field == f"{prefix}RATE_LIMIT"
            assert value not in str(info.value)
            assert value.strip("-") not in repr(info.value)


def test_client_kwargs() -> None:
    env = load(API_TIMEOUT_TOTAL="3")
    kwargs = env.client_kwargs()
    assert kwargs == {
        "rate_limit": env.rate_limit,
        "circuit_breaker": env.circuit_breaker,
        "retry_config": env.retry_config,
        "queue": env.queue,
        "timeout": env.timeout_config,
    }


def test_environment_config_is_frozen() -> None:
    env = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.queue = None  # type: ignore[misc]


@pytest.mark.parametrize("name", ["connect", "read", "write", "pool", "total"])
@pytest.mark.parametrize("value", [0, -1, float("inf"), float("nan"), "5", True])
def test_timeout_config_validates_each_field(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        TimeoutConfig(**{name: value})  # type: ignore[arg-type]
    assert info.value.field == f"TimeoutConfig.{name}"


def test_timeout_config_maps_onto_httpx() -> None:
    config = TimeoutConfig(connect=1, read=None, write=3, pool=4, total=9)
    assert config.to_httpx() == httpx.Timeout(connect=1, read=None, write=3, pool=4)
    assert TimeoutConfig().to_httpx() == httpx.Timeout(10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.read = 2  # type: ignore[misc]


def test_misspelled_variables_are_named_in_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="httpx_resilient"):
        env = load(
            API_RATE_LIMT="5",  # typo: ignored, but named
            API_RETRY_MAX_RETRISE="9",  # typo: ignored, but named
            API_KEY="s3cr3t-value",  # the application's own: not ours, not named
            API_RATE_LIMIT="20",
        )
    assert env.rate_limit == RateLimitConfig(20, 60)
    records = [r for r in caplog.records if r.name == "httpx_resilient"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    message = records[0].getMessage()
    assert "API_RATE_LIMT (did you mean API_RATE_LIMIT?)" in message
    assert "API_RETRY_MAX_RETRISE (did you mean API_RETRY_MAX_RETRIES?)" in message
    assert "API_KEY" not in message
    assert "s3cr3t" not in message
    assert "5" not in message.replace("API_", "")  # names only, never values


def test_known_variables_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="httpx_resilient"):
        load(**ALL)
    assert [r for r in caplog.records if r.name == "httpx_resilient"] == []
