"""``RateLimitTransport``: token buckets per key, adapting to the server's hints.

Every attempt that passes this layer pays one token on every configured limit, taken
from all of them at once or from none (one backend call). A request that finds no
token queues behind the key's other waiters, by priority then arrival; only the head
of a queue sleeps on the clock, until its token is due. With the in-process backend a
request that finds a token awaits nothing but the inner transport.

Server hints (adaptive limits): a 429, a 503 with ``Retry-After``, or ``RateLimit`` /
``X-RateLimit`` headers showing a quota exhausted pause the request's buckets until the
server's reset (capped at ``max_pause``); each 429 also cuts the refill rate by 30 %, and
later successes (responses below 500 that are no throttling signal) raise it back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from types import TracebackType

import anyio
import httpx

from .._core.clock import Clock, wall_time
from .._core.errors import ClientClosedError, ConfigError, refusal
from .._core.keys import key_function
from .._core.layer import Layer
from .._core.outcomes import Refused
from .._core.snapshots import RateLimitStatistics
from .backend import InProcessBackend, RateLimitBackend
from .bucket import Limit
from .config import RateLimitConfig
from .hints import has_hints, server_pause
from .wait import Keys, WaitingRoom

__all__ = ["RateLimitTransport"]

logger = logging.getLogger("httpx_resilient")


def _configs(config: object) -> tuple[RateLimitConfig, ...]:
    if isinstance(config, RateLimitConfig):
        return (config,)
    if isinstance(config, Sequence) and not isinstance(config, (str, bytes)):
        configs = tuple(config)
        if configs and all(isinstance(c, RateLimitConfig) for c in configs):
            return configs
    raise ConfigError(
        "RateLimitTransport.config",
        f"expected a RateLimitConfig or a non-empty list of them, got {config!r}",
    )


def _backend(configs: tuple[RateLimitConfig, ...]) -> RateLimitBackend:
    chosen = configs[0].backend
    if any(c.backend is not chosen for c in configs):
        raise ConfigError(
            "RateLimitConfig.backend", "all limits of one transport must use the same backend"
        )
    if chosen is None:
        return InProcessBackend()
    adapter = getattr(chosen, "rate_limit_backend", None)
    backend = adapter() if callable(adapter) else chosen
    if not isinstance(backend, RateLimitBackend):
        raise ConfigError(
            "RateLimitConfig.backend", f"must be None or a rate-limit backend, got {chosen!r}"
        )
    return backend


class RateLimitTransport(Layer):
    """Token-bucket rate limiting per key, with priority-ordered waiting.

    Args:
        inner: the transport requests are passed to.
        config: one ``RateLimitConfig``, or several that must all allow each request.
        clock: the time source; the event loop's clock by default.

    Raises:
        ConfigError: ``config`` is not a config or a non-empty list of them, or the
            limits name different backends.

    Per request, ``extensions["rate_limit_key"]`` (a str) replaces the key of every
    limit and ``extensions["priority"]`` (an int, default 0, higher first) orders
    waiters. Responses get ``extensions["rate_limit_wait"]``: seconds waited for a token.
    Closing the transport (``aclose()`` or leaving ``async with``) fails waiting
    requests at once with ``ClientClosedError``, as it does any request sent after.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: RateLimitConfig | Sequence[RateLimitConfig],
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(inner, clock=clock)
        configs = _configs(config)
        self._backend = _backend(configs)
        self._sync = self._backend if isinstance(self._backend, InProcessBackend) else None
        self._limits = tuple(Limit.from_config(i, c) for i, c in enumerate(configs))
        self._key_funcs = tuple(key_function(c.key) for c in configs)
        self._key_func = self._key_funcs[0] if len(configs) == 1 else None
        self._adaptive = tuple(i for i, limit in enumerate(self._limits) if limit.adaptive)
        self._adaptive_limits = tuple(self._limits[i] for i in self._adaptive)
        self._all_adaptive = len(self._adaptive) == len(self._limits)
        waits = [c.max_wait for c in configs if c.max_wait is not None]
        self._room = WaitingRoom(self._clock, min(waits) if waits else None, self._try)
        self._queues = self._room.queues
        self._backend_errors = 0

    @property
    def limits(self) -> tuple[Limit, ...]:
        """The configured limits, in config order."""
        return self._limits

    @property
    def backend(self) -> RateLimitBackend:
        """Where this transport's buckets live."""
        return self._backend

    def statistics(self) -> RateLimitStatistics:
        """A snapshot: buckets (tokens as of now), waiters, waits and refusals."""
        room = self._room
        return RateLimitStatistics(
            buckets=self._backend.buckets(self._limits, self._clock.now()),
            waiters=room.waiting,
            waits=room.waits,
            total_wait=room.total_wait,
            rejected=room.rejected,
            backend_errors=self._backend_errors,
        )

    def _keys(self, request: httpx.Request, override: object) -> Keys:
        if override is not None:
            if not isinstance(override, str):
                raise ConfigError(
                    "extensions.rate_limit_key", f"must be a str, got {type(override).__name__}"
                )
            return (override,) * len(self._limits)
        keys = []
        for func in self._key_funcs:  # no comprehension: one more call before 3.12
            keys.append(func(request))  # noqa: PERF401
        return tuple(keys)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._room.closed:
            raise ClientClosedError("the transport is closed", request=request)
        override = request.extensions.get("rate_limit_key")
        key_func = self._key_func
        if override is None and key_func is not None:
            keys: Keys = (key_func(request),)
        else:
            keys = self._keys(request, override)
        sync = self._sync
        if sync is not None and keys not in self._queues:
            wait: float | None = sync.acquire_now(self._limits, keys, 1.0, self._clock.now())
        else:
            wait = None
        waited = 0.0 if wait == 0.0 else await self._room.acquire(request, keys, wait)
        response = await self._inner.handle_async_request(request)
        response.extensions["rate_limit_wait"] = waited
        if self._adaptive:
            status = response.status_code
            if status == 429 or status == 503 or has_hints(response.headers):
                await self._observe(response, keys)
            elif status < 500 and self._backend.recovering:
                await self._recover(response, keys)
        return response

    def begin_close(self) -> None:
        """Fail waiting requests with ``ClientClosedError`` at once."""
        self._room.close()

    def reopen(self) -> None:
        """Admit requests again after a close."""
        self._room.closed = False

    async def aclose(self) -> None:
        """Fail waiting requests with ``ClientClosedError``, then close the inner transport."""
        self._room.close()
        await super().aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._room.close()
        await super().__aexit__(exc_type, exc_value, traceback)

    async def _try(self, keys: Keys, cost: float, take: bool) -> float:
        """The one backend call of an attempt (``take=False`` only asks how long)."""
        now = self._clock.now()
        sync = self._sync
        if sync is not None:
            return (sync.acquire_now if take else sync.wait_time_now)(self._limits, keys, cost, now)
        call = self._backend.try_acquire if take else self._backend.wait_time
        try:
            return await call(self._limits, keys, cost, now)
        except Refused as refused:  # a shared backend refuses; this face names the error
            self._backend_errors += 1
            raise refusal(refused) from refused.__cause__
        except Exception:
            self._backend_errors += 1
            raise

    # -- server hints --------------------------------------------------------------------

    def _adaptive_keys(self, keys: Keys) -> Keys:
        return keys if self._all_adaptive else tuple(keys[i] for i in self._adaptive)

    async def _observe(self, response: httpx.Response, keys: Keys) -> None:
        status = response.status_code
        pause = server_pause(status, response.headers, wall_time(self._clock))
        decrease = status == 429
        if pause is None and not decrease:
            if status < 500 and self._backend.recovering:
                await self._recover(response, keys)
            return
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "rate limit: server asked to slow down (status %d, pause %s)",
                status,
                "none" if pause is None else f"{pause:.3f} s",
                extra={"status_code": status, "pause": pause, "rate_decrease": decrease},
            )
        limits, now = self._adaptive_limits, self._clock.now()
        if self._sync is not None:
            self._sync.throttle_now(
                limits, self._adaptive_keys(keys), now, pause=pause, decrease=decrease
            )
        else:
            await self._report(
                response,
                self._backend.throttle(
                    limits, self._adaptive_keys(keys), now, pause=pause, decrease=decrease
                ),
            )
        if pause:  # waiters with max_wait or a budget must not wait out a long pause
            self._room.recheck()

    async def _recover(self, response: httpx.Response, keys: Keys) -> None:
        limits, now = self._adaptive_limits, self._clock.now()
        if self._sync is not None:
            self._sync.recover_now(limits, self._adaptive_keys(keys), now)
            return
        await self._report(response, self._backend.recover(limits, self._adaptive_keys(keys), now))

    async def _report(self, response: httpx.Response, call: Awaitable[None]) -> None:
        """Await a backend update; its failure is counted, never the caller's problem."""
        try:
            await call
        except Exception:
            self._backend_errors += 1
            logger.warning("rate limit: backend update failed", exc_info=True)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await response.aclose()
            raise
