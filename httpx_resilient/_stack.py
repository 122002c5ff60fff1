"""``ResilientTransport``: builds the layer stack from config objects.

Order, outermost first (the reasons are in the README's "Layer order" section)::

    MetricsTransport        sees every logical request once, end to end
    CacheTransport          a fresh hit costs no token, no queue slot, no network
    DedupTransport          identical in-flight GET/HEAD share one upstream call
    PriorityQueueTransport  bounded concurrency, priority order, queue timeout
    RetryTransport          each attempt below is a real request
    CircuitBreakerTransport fails fast before waiting for a token
    RateLimitTransport      token bucket per key, adapts to server hints
    inner                   httpx.AsyncHTTPTransport() by default

A layer that is not configured is left out, so it costs nothing.

Lifecycle: ``aclose()`` (or leaving ``async with``) closes the layers at once, which
fails queued waiters with ``ClientClosedError``, waits up to ``close_grace`` seconds for
the requests in flight (an open response body counts), cancels what is left (those
callers get ``ClientClosedError``) and then closes the inner transport. A closed stack
reopens on its next request or when entered again, as ``httpx.AsyncHTTPTransport``
serves a second client after the first closed it.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import httpx

from ._arguments import grace_of, layer_config, rate_limits_of, refuse_network_with_inner
from ._breaker.config import CircuitBreakerConfig
from ._build import build_layers, redis_resources
from ._cache.config import CacheConfig
from ._core.clock import SYSTEM_CLOCK, Clock
from ._core.deadline import call_within, deadline_of
from ._core.errors import ClientClosedError, ConfigError
from ._core.faces import mismatch
from ._core.layer import Layer
from ._dedup.config import DedupConfig
from ._lifecycle import Flights
from ._metrics.health import HealthStatus, assess_health
from ._metrics.transport import ClientMetrics, collect_metrics
from ._network import network_transport
from ._queue.config import QueueConfig
from ._ratelimit.config import RateLimitConfig
from ._redis.backend import RedisBackend
from ._redis.storage import RedisStorage
from ._retry.config import RetryConfig

if TYPE_CHECKING:
    from httpx._types import CertTypes, ProxyTypes

__all__ = ["ResilientTransport"]

L = TypeVar("L", bound=Layer)
_OPEN, _CLOSING, _CLOSED = "open", "closing", "closed"
_SYNC_USE = (
    "ResilientTransport is an async transport: use it with httpx.AsyncClient, not httpx.Client"
)


class ResilientTransport(httpx.AsyncBaseTransport):
    """Rate limiting, circuit breaking, retries, de-duplication, caching, a priority
    queue and metrics for any ``httpx.AsyncClient``: pass it as ``transport=``.

    With ``transport=`` httpx ignores the client's own network settings, so they are
    given here: ``verify``, ``cert``, ``http1``, ``http2``, ``limits``, ``proxy``,
    ``trust_env`` and ``retries`` build the default inner ``httpx.AsyncHTTPTransport``
    (with ``trust_env=True`` and no ``proxy``, requests are routed by ``HTTP_PROXY`` /
    ``HTTPS_PROXY`` / ``ALL_PROXY`` / ``NO_PROXY`` as httpx's client would route them).

    Args:
        rate_limit: a ``RateLimitConfig`` or a non-empty list of them (all must allow
            a request).
        circuit_breaker: a ``CircuitBreakerConfig`` (``True`` for defaults).
        retry: a ``RetryConfig`` (``True`` for defaults).
        cache: a ``CacheConfig``; ``True`` means ``CacheConfig()``.
        dedup: a ``DedupConfig``; ``True`` means ``DedupConfig()``.
        queue: a ``QueueConfig`` (``True`` for defaults).
        metrics: keep request metrics (default True).
        inner: the transport that does the I/O; by default an
            ``httpx.AsyncHTTPTransport`` built from the network settings below.
        clock: one clock for every layer (tests pass ``testing.FakeClock``).
        close_grace: seconds ``aclose()`` waits for requests in flight (default 5.0).
        verify: TLS verification, as for httpx (default True).
        cert: a client certificate, as for httpx (default None).
        http1: allow HTTP/1.1 (default True).
        http2: allow HTTP/2 (default False; needs ``httpx[http2]``).
        limits: the connection pool's ``httpx.Limits``; None: httpx's default
            (100 connections, 20 kept alive).
        proxy: a proxy URL or ``httpx.Proxy`` for every request (default None).
        trust_env: read ``SSL_CERT_FILE``/``SSL_CERT_DIR`` and the proxy variables
            from the environment (default True).
        retries: connection retries of the pool (default 0).

    Raises:
        ConfigError: an argument is not of the expected type, or a network setting
            is given together with ``inner`` (it would be ignored).
    """

    def __init__(
        self,
        *,
        rate_limit: RateLimitConfig | Sequence[RateLimitConfig] | None = None,
        circuit_breaker: CircuitBreakerConfig | bool | None = None,
        retry: RetryConfig | bool | None = None,
        cache: CacheConfig | bool | None = None,
        dedup: DedupConfig | bool | None = None,
        queue: QueueConfig | bool | None = None,
        metrics: bool = True,
        inner: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        close_grace: float = 5.0,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        proxy: ProxyTypes | None = None,
        trust_env: bool = True,
        retries: int = 0,
    ) -> None:
        network: dict[str, object] = {
            "verify": verify,
            "cert": cert,
            "http1": http1,
            "http2": http2,
            "limits": limits,
            "proxy": proxy,
            "trust_env": trust_env,
            "retries": retries,
        }
        if inner is not None:
            if not isinstance(inner, httpx.AsyncBaseTransport):
                foreign = mismatch("inner", inner, httpx.__name__)
                raise ConfigError(
                    "ResilientTransport.inner", foreign or "must be an httpx.AsyncBaseTransport"
                )
            refuse_network_with_inner(network)
        if not isinstance(metrics, bool):
            raise ConfigError("ResilientTransport.metrics", "must be a bool")
        if limits is not None and not isinstance(limits, httpx.Limits):
            raise ConfigError("ResilientTransport.limits", "must be an httpx.Limits or None")
        self._grace = grace_of(close_grace)
        clock = clock if clock is not None else SYSTEM_CLOCK
        rate_limits = rate_limits_of(rate_limit)
        breaker = layer_config("circuit_breaker", circuit_breaker, CircuitBreakerConfig)
        retry_config = layer_config("retry", retry, RetryConfig)
        queue_config = layer_config("queue", queue, QueueConfig)
        dedup_config = layer_config("dedup", dedup, DedupConfig)
        cache_config = layer_config("cache", cache, CacheConfig)

        if inner is None:
            inner = network_transport(
                verify=verify,
                cert=cert,
                http1=http1,
                http2=http2,
                limits=limits,
                proxy=proxy,
                trust_env=trust_env,
                retries=retries,
            )
        self._inner = inner
        self._top, self._metrics = build_layers(
            inner,
            rate_limits=rate_limits,
            breaker=breaker,
            retry=retry_config,
            queue=queue_config,
            dedup=dedup_config,
            cache=cache_config,
            metrics=metrics,
            clock=clock,
        )
        self._clock = clock
        # Redis clients run their connections in a task group that must be entered:
        # the stack enters each distinct backend or storage with itself.
        self._resources = redis_resources(rate_limits, breaker, cache_config)
        self._budget = retry_config.timeout_budget if retry_config is not None else None
        self._bound_here = retry_config is None  # else the retry layer enforces deadlines
        self._state = _OPEN
        self._flights = Flights()

    @property
    def inner(self) -> httpx.AsyncBaseTransport:
        """The transport that does the I/O (the default one, or ``inner=``)."""
        return self._inner

    @property
    def close_grace(self) -> float:
        """Seconds ``aclose()`` waits for requests in flight before cancelling them."""
        return self._grace

    @property
    def layers(self) -> tuple[Layer, ...]:
        """The layers of the stack, outermost first (the inner transport excluded)."""
        found: list[Layer] = []
        t = self._top
        while isinstance(t, Layer):
            found.append(t)
            t = t.inner
        return tuple(found)

    def get_layer(self, kind: type[L]) -> L | None:
        """Return the layer of type ``kind`` in this stack, or ``None`` if left out."""
        for layer in self.layers:
            if isinstance(layer, kind):
                return layer
        return None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Refuse sync use (``httpx.Client``) with a ``TypeError``: the layers await."""
        raise TypeError(_SYNC_USE)

    def __enter__(self) -> ResilientTransport:
        """Refuse ``with httpx.Client(transport=...)``: see ``handle_request``."""
        raise TypeError(_SYNC_USE)

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to undo: a sync client never got to use the stack."""

    def close(self) -> None:
        """Nothing to close for a sync client: it never got to use the stack."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request, httpx.Request):  # a client of the other face
            raise TypeError(mismatch("request", request, httpx.__name__) or repr(request))
        if self._state is not _OPEN:
            if self._state is _CLOSING:
                raise ClientClosedError("the transport is closing", request=request)
            self._reopen()
        if self._budget is not None or "timeout_budget" in request.extensions:
            # Fix the deadline here so queue and token waits count against the budget too.
            deadline = deadline_of(request, self._clock, self._budget)
            if deadline is not None and self._bound_here:
                send = lambda r: self._flights.send(self._top, r, self._grace)  # noqa: E731
                return await call_within(send, request, deadline, self._clock)
        return await self._flights.send(self._top, request, self._grace)

    def get_metrics(self) -> ClientMetrics:
        """A snapshot of request metrics and every layer's counters."""
        if self._metrics is not None:
            return self._metrics.get_metrics()
        return collect_metrics(self._top)

    def assess_health(self) -> HealthStatus:
        """Judge the current metrics against the alert thresholds."""
        if self._metrics is not None:
            return self._metrics.assess_health()
        return assess_health(collect_metrics(self._top))

    def statistics(self) -> tuple[object, ...]:
        """Each layer's ``statistics()`` snapshot, outermost first."""
        return tuple(layer.statistics() for layer in self.layers)

    def _reopen(self) -> None:
        """Serve again after a close: every layer drops its closed state."""
        for layer in self.layers:
            layer.reopen()
        self._state = _OPEN

    async def __aenter__(self) -> ResilientTransport:
        if self._state is _CLOSED:
            self._reopen()
        entered: list[RedisBackend | RedisStorage] = []
        try:
            for resource in self._resources:
                await resource.__aenter__()
                entered.append(resource)
            await self._top.__aenter__()
        except BaseException:
            for resource in reversed(entered):
                await resource.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            if self._state is _OPEN:  # not already closed by aclose()
                await self._shut(self._grace, exiting=True)
        finally:
            for resource in reversed(self._resources):
                await resource.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self, *, grace: float | None = None) -> None:
        """Close: fail queued waiters with ``ClientClosedError`` at once, wait up to
        ``grace`` (default ``close_grace``) seconds for requests in flight, cancel the
        rest (they fail with ``ClientClosedError``), then close the inner transport.

        The transport reopens on its next request or when entered again.
        """
        if self._state is not _OPEN:
            return
        await self._shut(self._grace if grace is None else grace_of(grace), exiting=False)

    async def _shut(self, grace: float, *, exiting: bool) -> None:
        self._state = _CLOSING
        try:
            for layer in self.layers:
                layer.begin_close()  # queued waiters fail now
            await self._flights.drain(self._clock, grace)
            if exiting:
                await self._top.__aexit__(None, None, None)
            else:
                await self._top.aclose()
        finally:
            self._state = _CLOSED
