"""``RedisLink``: one Redis connection, its key prefix, its error policy and its outage state.

``RedisBackend`` (``backend.py``) adds the factories for the rate-limit backend and the
breaker store; the adapters (``ratelimit.py``, ``breaker.py``) need only this link, so
neither imports the backend that builds them.

When Redis cannot be reached, ``on_error="fail_open"`` (default) serves each call from
state in this process (a local bucket or breaker, starting fresh), counts it in
``statistics()`` and logs one WARNING per outage (and an INFO when Redis answers again).
The outage state (``outage.py``) is the connection's: the limiter, the breaker and a
``RedisStorage`` built on the same backend all skip Redis for one backoff period after
any of them saw it fail, so a hung Redis costs one timeout per period, not one per
request or per adapter. ``on_error="raise"`` raises
``ResilienceError("rate limit backend unavailable")`` (or ``"circuit breaker backend
unavailable"``) with the Redis error as its cause. A URL's password never reaches a log,
an error message or a ``repr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, TypeVar

from .._core.clock import Clock
from .._core.outcomes import ConfigError, Refused
from .client import BackendError, RedisConnection, is_redis_error

__all__ = ["Guard", "OnError", "RedisBackendStatistics", "RedisLink", "text"]

_L = TypeVar("_L", bound="RedisLink")
OnError = Literal["fail_open", "raise"]


def text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"must be a non-empty str, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class RedisBackendStatistics:
    """``RedisBackend.statistics()``.

    Attributes:
        errors: Redis calls that failed (connection refused, timeout, server error).
        fallbacks: calls served from local state instead (fail-open mode).
        outages: times Redis went from reachable to unreachable.
        available: whether the last call reached Redis.
    """

    errors: int = 0
    fallbacks: int = 0
    outages: int = 0
    available: bool = True


class RedisLink:
    """A Redis connection with a key prefix, an error policy and outage bookkeeping.

    Args: as ``RedisBackend``.
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
        self.prefix = text(prefix, "RedisBackend.prefix")
        if on_error not in ("fail_open", "raise"):
            raise ConfigError(
                "RedisBackend.on_error", f"must be 'fail_open' or 'raise', got {on_error!r}"
            )
        self.on_error: OnError = on_error
        self.connection = RedisConnection(
            client_or_url, "RedisBackend", backoff=backoff, clock=clock
        )
        self.outage = self.connection.outage
        self._fallbacks = 0
        self._use_caller_time = False  # tests: time scripts by the caller's clock

    async def __aenter__(self: _L) -> _L:
        await self.connection.enter()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.connection.exit((exc_type, exc_value, traceback))

    @property
    def fail_open(self) -> bool:
        """Whether an unreachable Redis falls back to state in this process."""
        return self.on_error == "fail_open"

    def now_arg(self, now: float) -> str:
        """The scripts' time argument: empty (server time) unless a test set caller time."""
        return repr(now) if self._use_caller_time else ""

    async def run(
        self, name: str, source: str, keys: Sequence[str], args: Sequence[str | bytes]
    ) -> Any:
        """Run one script; raise ``BackendError`` (cause chained) when Redis fails."""
        self.connection.check_open("RedisBackend")
        started = self.outage.started()
        try:
            result = await self.connection.run(name, source, keys, args)
        except Exception as exc:
            if is_redis_error(exc):
                raise BackendError(exc) from exc
            raise
        self.outage.succeeded(started)
        return result

    def failed(self, error: BackendError, what: str) -> None:
        """Count a failed call: Redis is skipped for a backoff period from now; log it."""
        cause = error.cause
        self.outage.failed(cause, self.connection.redact(str(cause)), what)

    def unavailable(self, what: str) -> Refused | None:
        """The error to raise while Redis is out (``"raise"`` mode); else count a fallback.

        A face-neutral ``Refused``: the face's transport raises it as its own
        ``ResilienceError``, so one backend serves the httpx and httpx2 faces alike.
        """
        if self.fail_open:
            self._fallbacks += 1
            return None
        return Refused("ResilienceError", f"{what} backend unavailable")

    def statistics(self) -> RedisBackendStatistics:
        """Counts of failed calls, local fallbacks and outages so far."""
        outage = self.outage
        return RedisBackendStatistics(
            errors=outage.errors,
            fallbacks=self._fallbacks,
            outages=outage.outages,
            available=not outage.down,
        )

    def __repr__(self) -> str:
        return (
            f"RedisBackend({self.connection}, prefix={self.prefix!r}, on_error={self.on_error!r})"
        )


class Guard:
    """One adapter's use of the shared outage state, with its own error message.

    While the backend's connection is in a backoff period, ``skip`` serves locally
    (or raises in ``"raise"`` mode) without touching Redis. ``now`` arguments are the
    caller's clock and unused: the outage is timed by the connection's own clock, after
    the failed call returned (a ``now`` read before it would hide the timeout).
    """

    __slots__ = ("_backend", "_what")

    def __init__(self, backend: RedisLink, what: str) -> None:
        self._backend = backend
        self._what = what

    def skip(self, now: float) -> bool:
        """Whether to serve locally without trying Redis (raises in ``"raise"`` mode)."""
        outage = self._backend.outage
        if not outage.skip():
            return False
        error = self._backend.unavailable(self._what)
        if error is not None:
            last = outage.last
            raise error from last
        return True

    def failed(self, error: BackendError, now: float) -> None:
        """Redis failed: raise in ``"raise"`` mode, else count the fallback."""
        self._backend.failed(error, self._what)
        raised = self._backend.unavailable(self._what)
        if raised is not None:
            raise raised from error.cause
