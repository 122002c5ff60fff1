"""The coredis client behind the Redis backend and storage, and what counts as its failure.

coredis is imported only here and only when a client is built from a URL, so the package
imports without the ``[redis]`` extra. A client built from a URL gets
``DEFAULT_TIMEOUT`` connect and read timeouts (unless the URL's query sets
``connect_timeout`` / ``stream_timeout``) and no automatic retries: the scripts are not
idempotent (they take tokens). Its password never reaches a ``repr``, a log or an error
message of ours.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .._core.clock import SYSTEM_CLOCK, Clock
from .._core.outcomes import ConfigError
from .._core.redact import REDACTED, redact_url
from .outage import DEFAULT_BACKOFF, Outage, shared_outage

__all__ = ["DEFAULT_TIMEOUT", "BackendError", "RedisConnection", "is_redis_error"]

logger = logging.getLogger("httpx_resilient")

_SCHEMES = ("redis", "rediss", "unix")
DEFAULT_TIMEOUT = 1.0
"""Connect and read timeout (seconds) of a client built from a URL without its own."""


def is_redis_error(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis failed (coredis error, socket error, timeout)."""
    return isinstance(exc, (OSError, TimeoutError)) or type(exc).__module__.startswith("coredis")


class RedisConnection:
    """A coredis client, built from a URL (owned) or given (borrowed), and its scripts.

    Args:
        client_or_url: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a coredis
            client (``coredis.Redis``).
        owner: the public class name, for error messages (``"RedisBackend"``).
        backoff: seconds to skip Redis after a failure (``None``: the larger of
            ``DEFAULT_BACKOFF`` and five operation timeouts); must exceed the timeout.
        clock: the clock the outage state reads.

    Raises:
        ConfigError: the URL is malformed, the object is no coredis client, or
            ``backoff`` is not longer than the operation timeout.
        ImportError: a URL was given and coredis is not installed.
    """

    def __init__(
        self,
        client_or_url: object,
        owner: str,
        *,
        backoff: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        field = f"{owner}.client_or_url"
        self._password: str | None = None
        self._entered = 0
        self._shas: dict[str, str] = {}
        if isinstance(client_or_url, str):
            self.description = redact_url(client_or_url)
            self.client: Any = self._from_url(client_or_url, field)
            self.owned = True
        elif callable(getattr(client_or_url, "register_script", None)):
            self.description = repr(client_or_url)
            self.client = client_or_url
            self.owned = False
        else:
            raise ConfigError(field, "must be a redis:// URL or a coredis client")
        self.timeout = self._read_timeout()
        if backoff is None:
            backoff = max(DEFAULT_BACKOFF, 5 * self.timeout)
        elif isinstance(backoff, bool) or not isinstance(backoff, (int, float)):
            raise ConfigError(f"{owner}.backoff", f"must be a number of seconds, got {backoff!r}")
        elif not backoff > self.timeout:
            raise ConfigError(
                f"{owner}.backoff",
                f"must be longer than the operation timeout ({self.timeout:g} s), got {backoff!r}",
            )
        outage = Outage(
            backoff=float(backoff),
            timeout=self.timeout,
            clock=SYSTEM_CLOCK if clock is None else clock,
            description=self.description,
        )
        self.outage = outage if self.owned else shared_outage(self.client, outage)

    def _from_url(self, url: str, field: str) -> Any:
        try:
            parts = urlsplit(url)
            self._password = parts.password
        except ValueError:
            raise ConfigError(field, f"is not a valid URL: {self.description}") from None
        if parts.scheme not in _SCHEMES:
            raise ConfigError(field, f"needs a redis://, rediss:// or unix:// URL: {self}")
        try:
            import coredis  # optional: imported when used
            from coredis.retry import NoRetryPolicy
        except ImportError as exc:
            raise ImportError(
                "the Redis backend needs coredis: pip install 'httpx_resilient[redis]'"
            ) from exc
        # Scripts are not idempotent (they take tokens): never re-sent by the client.
        # Timeouts given in the URL's query win over these defaults.
        try:
            return coredis.Redis.from_url(
                url,
                retry_policy=NoRetryPolicy(),
                connect_timeout=DEFAULT_TIMEOUT,
                stream_timeout=DEFAULT_TIMEOUT,
            )
        except (ValueError, TypeError) as exc:
            raise ConfigError(field, f"is not a usable Redis URL: {self}") from exc

    def _read_timeout(self) -> float:
        """The client's operation (``stream_timeout``) timeout; warn if it has none."""
        pool = getattr(self.client, "connection_pool", None)
        kwargs = getattr(pool, "connection_kwargs", None)
        value = kwargs.get("stream_timeout") if isinstance(kwargs, dict) else DEFAULT_TIMEOUT
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
        logger.warning(
            "the coredis client for %s has no stream_timeout: a hung Redis would hold "
            "requests without limit (give the client one)",
            self.description,
        )
        return DEFAULT_TIMEOUT

    def __str__(self) -> str:
        return self.description

    def redact(self, text: str) -> str:
        """``text`` with the URL's password (if any) replaced."""
        if self._password and self._password in text:
            return text.replace(self._password, REDACTED)
        return text

    async def enter(self) -> None:
        """Start the client's connection pool (coredis 6 clients need it).

        Nested entries (the user's ``async with backend`` and the stack's own) share
        one pool: only the first enters the client and only the last leaves it.
        """
        if self._entered == 0:
            enter = getattr(self.client, "__aenter__", None)
            if enter is not None:
                await enter()
        self._entered += 1

    async def exit(self, exc: tuple[Any, Any, Any]) -> None:
        """Stop the pool started by ``enter`` once the last entry leaves."""
        self._entered -= 1
        if self._entered == 0:
            leave = getattr(self.client, "__aexit__", None)
            if leave is not None:
                await leave(*exc)

    def check_open(self, owner: str) -> None:
        """Raise ``RuntimeError`` if a client we built was never entered."""
        if self.owned and self._entered <= 0:
            raise RuntimeError(
                f"{owner} is not open: use `async with {owner.lower()}:` around the code "
                "that sends requests (coredis runs its connections in a task group)"
            )

    async def run(
        self, name: str, source: str, keys: Sequence[str], args: Sequence[str | bytes]
    ) -> Any:
        """Run a Lua script: EVALSHA, loading the script first if the server lacks it."""
        sha = self._shas.get(name)
        if sha is None:
            sha = self._shas[name] = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324
        try:
            return await self.client.evalsha(sha, keys=keys, args=args)
        except Exception as exc:
            if type(exc).__name__ != "NoScriptError":  # coredis.exceptions, not imported
                raise
        await self.client.script_load(source)
        return await self.client.evalsha(sha, keys=keys, args=args)


class BackendError(Exception):
    """Redis could not run a script (wraps the coredis or socket error)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
