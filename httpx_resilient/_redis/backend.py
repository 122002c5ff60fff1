"""``RedisBackend``: rate-limit buckets and circuit breakers shared through Redis.

One ``RedisBackend`` serves ``RateLimitConfig(backend=...)`` and
``CircuitBreakerConfig(backend=...)``; ``RedisStorage`` (``storage.py``) holds cache
entries. Every state change is one Lua script (``scripts.py``) run atomically by the
server and timed by the server's clock, so any number of processes on any number of
machines share one quota and one breaker per key.

coredis is imported only when a backend is built, so the package imports without the
``[redis]`` extra. coredis 6 clients run their connections in a task group: enter the
backend (``async with backend:``) around the code that sends requests. The connection,
error policy and outage handling are ``RedisLink``'s (``link.py``).
"""

from __future__ import annotations

from .._breaker.config import CircuitBreakerConfig
from .._breaker.policy import BreakerPolicy, Transition
from .._core.clock import Clock
from .breaker import RedisBreakerStore
from .link import OnError, RedisBackendStatistics, RedisLink, text
from .ratelimit import RedisRateLimitBackend

__all__ = ["RedisBackend", "RedisBackendStatistics"]


class RedisBackend(RedisLink):
    """Rate-limit buckets and circuit-breaker state kept in Redis.

    Args:
        client_or_url: a ``redis://[:password@]host:port/db`` (``rediss://``,
            ``unix://``) URL, or a coredis client. A URL gets 1 s connect and read
            timeouts unless its query sets ``connect_timeout`` / ``stream_timeout``.
        prefix: prepended to every key (default ``"httpx_resilient:"``).
        on_error: ``"fail_open"`` (default): when Redis is unreachable, use state in
            this process and count it; ``"raise"``: raise ``ResilienceError``.
        backoff: seconds Redis is skipped after a failed call, measured from the
            failure (default: the larger of 5 s and five operation timeouts; must be
            longer than the timeout). Shared by the limiter, the breakers and a
            ``RedisStorage(backend)``: a hung Redis costs one timeout per period.
        clock: the clock that times the backoff (default: the system's).

    Raises:
        ConfigError: an argument is invalid (the message names it).

    Use it as ``async with backend:`` around the requests (it starts the client's
    connection pool; a client you pass in may be entered by you instead).
    """

    def __init__(
        self,
        client_or_url: object,
        *,
        prefix: str = "httpx_resilient:",
        on_error: OnError = "fail_open",
        backoff: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            client_or_url, prefix=prefix, on_error=on_error, backoff=backoff, clock=clock
        )
        self._rate_limit: RedisRateLimitBackend | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "httpx_resilient:",
        on_error: OnError = "fail_open",
        backoff: float | None = None,
        clock: Clock | None = None,
    ) -> RedisBackend:
        """A backend on a new coredis client for ``url`` (see the class for options)."""
        return cls(
            text(url, "RedisBackend.url"),
            prefix=prefix,
            on_error=on_error,
            backoff=backoff,
            clock=clock,
        )

    def rate_limit_backend(self) -> RedisRateLimitBackend:
        """The ``RateLimitBackend`` that ``RateLimitTransport`` uses (one per backend)."""
        if self._rate_limit is None:
            self._rate_limit = RedisRateLimitBackend(self)
        return self._rate_limit

    def circuit_breaker_store(
        self,
        config: CircuitBreakerConfig,
        *,
        policy: BreakerPolicy,
        on_transition: Transition | None = None,
    ) -> RedisBreakerStore:
        """Shared breaker state for one ``CircuitBreakerTransport``.

        Args:
            config: the transport's config.
            policy: the transport's in-process policy (serves while Redis is out).
            on_transition: called for transitions this process's calls make.
        """
        return RedisBreakerStore(self, config, policy=policy, on_transition=on_transition)
