"""Configuration from environment variables: ``EnvironmentConfig`` and ``TimeoutConfig``.

Every variable is ``<prefix><NAME>`` (prefix ``API_`` by default). An unset or empty
variable takes its default. A value that does not parse, or that the config rejects,
raises ``ConfigError`` whose ``field`` is the variable's name; the value itself is
quoted only when the name does not suggest a secret. A ``<prefix>*`` variable that is
not ours but close to one of our names (a typo such as ``API_RATE_LIMT``) is named in
one WARNING on the ``httpx_resilient`` logger (names only, never values); other
``<prefix>*`` variables (``API_KEY``) belong to the application and are left alone.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from ._breaker.config import CircuitBreakerConfig
from ._core.errors import ConfigError
from ._queue.config import QueueConfig
from ._ratelimit.config import RateLimitConfig
from ._retry.config import RetryBudget, RetryConfig

__all__ = ["EnvironmentConfig", "TimeoutConfig"]

logger = logging.getLogger("httpx_resilient")


@dataclass(frozen=True, slots=True)
class TimeoutConfig:
    """Network timeouts for httpx, plus an optional budget for the whole request.

    Attributes:
        connect: seconds to open a connection (default 10; ``None``: no limit).
        read: seconds to wait for a chunk of the response (default 10).
        write: seconds to send a chunk of the request (default 10).
        pool: seconds to wait for a free connection in the pool (default 10).
        total: seconds for the whole logical request, waits and retries included
            (the retry layer's ``timeout_budget``); default ``None``: no limit.
    """

    connect: float | None = 10.0
    read: float | None = 10.0
    write: float | None = 10.0
    pool: float | None = 10.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool", "total"):
            value = getattr(self, name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not 0 < value < math.inf
            ):
                raise ConfigError(
                    f"TimeoutConfig.{name}", f"must be a finite number > 0 or None, got {value!r}"
                )

    def to_httpx(self) -> httpx.Timeout:
        """The ``httpx.Timeout`` for ``connect``, ``read``, ``write`` and ``pool``."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


# --- parsers: text -> value; raise ValueError with what was expected -------------------

_NONE = frozenset({"none", "null"})
_OFF = "off"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "AUTH", "CREDENTIAL", "COOKIE")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError
    return value


def _int(text: str) -> int:
    return int(text)


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: str) -> Any:
        return None if text.lower() in _NONE else parse(text)

    return parse_optional


def _bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError


def _choice(*options: str) -> Callable[[str], str]:
    def parse_choice(text: str) -> str:
        if text.lower() not in options:
            raise ValueError
        return text.lower()

    return parse_choice


def _statuses(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",") if part.strip())


def _methods(text: str) -> frozenset[str]:
    methods = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    if not all(m.isascii() and m.replace("-", "").isalpha() for m in methods):
        raise ValueError
    return methods


_NUM = "a number"
_INT = "an integer"
_OPT_NUM = 'a number or "none"'
_OPT_INT = 'an integer or "none"'
_BOOL = "true/false, yes/no, on/off or 1/0"

# (variable suffix, target config, field, parser, what is expected)
_VARIABLES: tuple[tuple[str, str, str, Callable[[str], Any], str], ...] = (
    ("RATE_LIMIT", "rate", "max_requests", _float, f'{_NUM} > 0 or "off"'),
    ("RATE_WINDOW", "rate", "window_seconds", _float, _NUM),
    ("RATE_BURST", "rate", "burst", _optional(_int), _OPT_INT),
    ("RATE_KEY", "rate", "key", _choice("host", "global"), '"host" or "global"'),
    ("RATE_MAX_WAIT", "rate", "max_wait", _optional(_float), _OPT_NUM),
    ("RATE_ADAPTIVE", "rate", "adaptive", _bool, _BOOL),
    ("RATE_MAX_PAUSE", "rate", "max_pause", _float, _NUM),
    ("RATE_RECOVERY_SECONDS", "rate", "recovery_seconds", _float, _NUM),
    ("CB_FAILURE_THRESHOLD", "cb", "failure_threshold", _int, f'{_INT} >= 1 or "off"'),
    ("CB_RECOVERY_TIMEOUT", "cb", "recovery_timeout", _float, _NUM),
    ("CB_SUCCESS_THRESHOLD", "cb", "success_threshold", _int, _INT),
    ("CB_HALF_OPEN_MAX_CALLS", "cb", "half_open_max_calls", _int, _INT),
    ("CB_PER", "cb", "per", _choice("host", "global"), '"host" or "global"'),
    ("CB_FAILURE_RATE_THRESHOLD", "cb", "failure_rate_threshold", _optional(_float), _OPT_NUM),
    ("CB_WINDOW_SECONDS", "cb", "window_seconds", _float, _NUM),
    ("CB_MINIMUM_CALLS", "cb", "minimum_calls", _int, _INT),
    ("CB_SLOW_CALL_DURATION", "cb", "slow_call_duration", _optional(_float), _OPT_NUM),
    ("RETRY_MAX_RETRIES", "retry", "max_retries", _int, _INT),
    ("RETRY_BASE_DELAY", "retry", "base_delay", _float, _NUM),
    ("RETRY_BACKOFF_FACTOR", "retry", "backoff_factor", _float, _NUM),
    ("RETRY_MAX_DELAY", "retry", "max_delay", _float, _NUM),
    (
        "RETRY_JITTER",
        "retry",
        "jitter",
        _choice("full", "equal", "decorrelated", "none"),
        '"full", "equal", "decorrelated" or "none"',
    ),
    ("RETRY_ON_STATUS", "retry", "retry_on_status", _statuses, "comma-separated status codes"),
    ("RETRY_METHODS", "retry", "retry_methods", _methods, "comma-separated HTTP methods"),
    ("RETRY_RESPECT_RETRY_AFTER", "retry", "respect_retry_after", _bool, _BOOL),
    ("RETRY_MAX_RETRY_AFTER", "retry", "max_retry_after", _float, _NUM),
    ("RETRY_TIMEOUT_BUDGET", "retry", "timeout_budget", _optional(_float), _OPT_NUM),
    ("RETRY_MAX_BUFFER_BYTES", "retry", "max_buffer_bytes", _int, _INT),
    ("RETRY_BUDGET", "retry", "budget", _bool, _BOOL),
    ("RETRY_BUDGET_RATIO", "budget", "ratio", _float, _NUM),
    ("RETRY_BUDGET_MIN_PER_SECOND", "budget", "min_per_second", _float, _NUM),
    ("RETRY_BUDGET_WINDOW", "budget", "window", _float, _NUM),
    ("TIMEOUT", "timeout", "*", _optional(_float), _OPT_NUM),
    ("TIMEOUT_CONNECT", "timeout", "connect", _optional(_float), _OPT_NUM),
    ("TIMEOUT_READ", "timeout", "read", _optional(_float), _OPT_NUM),
    ("TIMEOUT_WRITE", "timeout", "write", _optional(_float), _OPT_NUM),
    ("TIMEOUT_POOL", "timeout", "pool", _optional(_float), _OPT_NUM),
    ("TIMEOUT_TOTAL", "timeout", "total", _optional(_float), _OPT_NUM),
    ("QUEUE_MAX_CONCURRENCY", "queue", "max_concurrency", _int, f'{_INT} >= 1 or "off"'),
    ("QUEUE_MAX_SIZE", "queue", "max_queue_size", _int, _INT),
    ("QUEUE_TIMEOUT", "queue", "queue_timeout", _optional(_float), _OPT_NUM),
    ("QUEUE_AGING_SECONDS", "queue", "aging_seconds", _optional(_float), _OPT_NUM),
    ("QUEUE_ADAPTIVE", "queue", "adaptive", _bool, _BOOL),
    ("QUEUE_MIN_CONCURRENCY", "queue", "min_concurrency", _int, f"{_INT} >= 1"),
)
# Defaults that differ from the config classes' own (DESIGN.md, "Names and defaults").
_DEFAULTS: dict[tuple[str, str], Any] = {
    ("rate", "max_requests"): 1000.0,
    ("rate", "window_seconds"): 60.0,
}
# Variables that switch a whole layer off when set to "off".
_SWITCHES = {"RATE_LIMIT": "rate", "CB_FAILURE_THRESHOLD": "cb", "QUEUE_MAX_CONCURRENCY": "queue"}


def _warn_unknown(prefix: str, env: Mapping[str, str]) -> None:
    """Log one WARNING naming ``<prefix>*`` variables that look like misspelled ours."""
    known = [suffix for suffix, *_ in _VARIABLES]
    suspects = []
    for var in env:
        if not var.startswith(prefix) or var[len(prefix) :] in known:
            continue
        close = difflib.get_close_matches(var[len(prefix) :], known, n=1, cutoff=0.8)
        if close:
            suspects.append(f"{var} (did you mean {prefix}{close[0]}?)")
    if suspects:
        logger.warning(
            "ignoring unknown environment variables: %s",
            ", ".join(sorted(suspects)),
            extra={"unknown_variables": sorted(suspects)},
        )


def _is_secret(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in _SECRET_WORDS)


def _bad(name: str, message: str, text: str) -> ConfigError:
    shown = "" if _is_secret(name) else f", got {text!r}"
    return ConfigError(name, f"{message}{shown}")


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvironmentConfig:
    """Every layer's config, read from environment variables.

    Attributes:
        rate_limit: ``None`` when ``API_RATE_LIMIT=off``.
        circuit_breaker: ``None`` when ``API_CB_FAILURE_THRESHOLD=off``.
        retry_config: its ``timeout_budget`` defaults to ``API_TIMEOUT_TOTAL``.
        timeout_config: httpx timeouts (``API_TIMEOUT`` and its per-phase overrides).
        queue: ``None`` when ``API_QUEUE_MAX_CONCURRENCY=off``.
    """

    rate_limit: RateLimitConfig | None
    circuit_breaker: CircuitBreakerConfig | None
    retry_config: RetryConfig
    timeout_config: TimeoutConfig
    queue: QueueConfig | None

    @classmethod
    def from_environment(
        cls, prefix: str = "API_", environ: Mapping[str, str] | None = None
    ) -> EnvironmentConfig:
        """Build every config from ``<prefix>*`` variables (the README lists them all).

        Args:
            prefix: prepended to each variable name (default ``"API_"``).
            environ: where to read; ``os.environ`` by default.

        Raises:
            ConfigError: a variable does not parse or holds a value the config rejects;
                ``field`` is the variable's name.
        """
        env = os.environ if environ is None else environ
        _warn_unknown(prefix, env)
        values: dict[str, dict[str, Any]] = {
            target: {} for target in ("rate", "cb", "retry", "budget", "timeout", "queue")
        }
        origin: dict[str, str] = {}  # "<target>.<field>" -> variable name
        off: set[str] = set()
        for suffix, target, name, parse, expected in _VARIABLES:
            var = prefix + suffix
            text = env.get(var, "").strip()
            if not text:
                continue
            if suffix in _SWITCHES and text.lower() == _OFF:
                off.add(target)
                continue
            try:
                values[target][name] = parse(text)
            except ValueError:
                raise _bad(var, f"expected {expected}", text) from None
            origin[f"{target}.{name}"] = var
        for (target, name), default in _DEFAULTS.items():
            values[target].setdefault(name, default)

        def build(target: str, kind: Callable[..., Any], **extra: Any) -> Any:
            try:
                return kind(**values[target], **extra)
            except ConfigError as exc:
                var = origin.get(f"{target}.{exc.field.partition('.')[2]}")
                if var is None:  # pragma: no cover - defaults are valid
                    raise
                message = str(exc).partition(": ")[2]
                if _is_secret(var):
                    message = message.partition(", got ")[0]
                raise ConfigError(var, message) from None

        timeout_values = values["timeout"]
        everything = timeout_values.pop("*", 10.0)
        for phase in ("connect", "read", "write", "pool"):
            if phase not in timeout_values:
                timeout_values[phase] = everything
                if "timeout.*" in origin:
                    origin[f"timeout.{phase}"] = origin["timeout.*"]
        timeout: TimeoutConfig = build("timeout", TimeoutConfig)

        retry_values = values["retry"]
        use_budget = retry_values.pop("budget", True)
        budget = build("budget", RetryBudget) if use_budget else None
        retry_values.setdefault("timeout_budget", timeout.total)
        if "retry.timeout_budget" not in origin and "timeout.total" in origin:
            origin["retry.timeout_budget"] = origin["timeout.total"]
        retry: RetryConfig = build("retry", RetryConfig, budget=budget)
        return cls(
            rate_limit=None if "rate" in off else build("rate", RateLimitConfig),
            circuit_breaker=None if "cb" in off else build("cb", CircuitBreakerConfig),
            retry_config=retry,
            timeout_config=timeout,
            queue=None if "queue" in off else build("queue", QueueConfig),
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``RateLimitedAPIClient`` (``timeout`` included)."""
        return {
            "rate_limit": self.rate_limit,
            "circuit_breaker": self.circuit_breaker,
            "retry_config": self.retry_config,
            "queue": self.queue,
            "timeout": self.timeout_config,
        }
