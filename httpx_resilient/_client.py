"""``RateLimitedAPIClient``: an ``httpx.AsyncClient`` with the resilience stack built in.

It builds a ``ResilientTransport`` from config objects, adds ``priority=`` to every
request method (as ``request.extensions["priority"]``) and reports metrics and health.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import httpx

from ._breaker.config import CircuitBreakerConfig
from ._cache.config import CacheConfig
from ._client_defaults import DEFAULT_QUEUE, DEFAULT_TIMEOUT, NETWORK_ARGS, default_queue
from ._core.clock import SYSTEM_CLOCK, Clock, wall_time
from ._core.errors import ClientClosedError, ConfigError
from ._dedup.config import DedupConfig
from ._env import EnvironmentConfig, TimeoutConfig
from ._queue.config import QueueConfig
from ._ratelimit.config import RateLimitConfig
from ._retry.config import RetryConfig
from ._stack import ResilientTransport

if TYPE_CHECKING:
    from typing import TypedDict

    from httpx import _types as t
    from httpx._client import UseClientDefault
    from typing_extensions import Unpack

    from ._metrics.health import HealthStatus
    from ._metrics.transport import ClientMetrics

    class _Options(TypedDict, total=False):
        params: t.QueryParamTypes | None
        headers: t.HeaderTypes | None
        cookies: t.CookieTypes | None
        auth: t.AuthTypes | UseClientDefault | None
        follow_redirects: bool | UseClientDefault
        timeout: t.TimeoutTypes | UseClientDefault
        extensions: t.RequestExtensions | None

    class _BodyOptions(_Options, total=False):
        content: t.RequestContent | None
        data: t.RequestData | None
        files: t.RequestFiles | None
        json: Any


__all__ = ["RateLimitedAPIClient"]


class RateLimitedAPIClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose requests pass through a ``ResilientTransport``.

    Its defaults survive a real server: a priority queue bounds concurrency to the
    pool's ``max_connections`` (100 when unset or None), and the default timeout is
    ``httpx.Timeout(10.0, pool=None)``: requests wait in the queue (bounded by
    ``max_queue_size`` and ``queue_timeout``) rather than time out in httpx's pool,
    so client-side congestion never counts against the server's circuit breaker.

    Args:
        base_url: prefix for relative request URLs.
        rate_limit: a ``RateLimitConfig`` or a list of them; ``None``: no limiter.
        circuit_breaker: a ``CircuitBreakerConfig``; ``None``: no breaker.
        retry_config: a ``RetryConfig``; ``None``: no retries.
        cache: a ``CacheConfig`` (``True`` for defaults); ``None``: no cache.
        dedup: a ``DedupConfig`` (``True`` for defaults); ``None``: no de-duplication.
        queue: a ``QueueConfig``, used as given; by default
            ``QueueConfig(max_concurrency=<limits.max_connections, or 100>)``;
            ``None`` turns the queue off.
        clock: one clock for every layer (tests pass ``testing.FakeClock``).
        close_grace: seconds ``aclose()`` waits for requests in flight (default 5.0).
        **httpx_kwargs: anything ``httpx.AsyncClient`` takes. ``transport=`` becomes the
            stack's inner transport (a ready ``ResilientTransport`` is used as is, when no
            layer config is given). ``verify``, ``cert``, ``http1``, ``http2``,
            ``limits``, ``proxy``, ``trust_env`` and ``retries`` go to the stack's default
            inner transport, so every request, proxied or not, goes through the stack
            (environment proxies are honoured when ``trust_env`` is true). ``timeout=``
            also takes a ``TimeoutConfig``, whose ``total`` becomes each request's
            ``timeout_budget``.

    Raises:
        ConfigError: a bad argument (``field`` names it), or network settings given
            together with a ``transport=`` that would ignore them.

    Metrics are always kept: ``get_metrics()``, ``assess_health()``, ``health_check()``.
    """

    def __init__(
        self,
        base_url: httpx.URL | str = "",
        *,
        rate_limit: RateLimitConfig | Sequence[RateLimitConfig] | None = None,
        circuit_breaker: CircuitBreakerConfig | None = None,
        retry_config: RetryConfig | None = None,
        cache: CacheConfig | bool | None = None,
        dedup: DedupConfig | bool | None = None,
        queue: QueueConfig | None = DEFAULT_QUEUE,
        clock: Clock | None = None,
        close_grace: float | None = None,
        **httpx_kwargs: Any,
    ) -> None:
        inner = httpx_kwargs.pop("transport", None)
        network = {k: httpx_kwargs.pop(k) for k in NETWORK_ARGS if k in httpx_kwargs}
        if "trust_env" in network:
            httpx_kwargs["trust_env"] = network["trust_env"]
        self._budget: float | None = None
        timeout = httpx_kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, TimeoutConfig):
            httpx_kwargs["timeout"] = timeout.to_httpx()
            self._budget = timeout.total
        layers = (rate_limit, circuit_breaker, retry_config, cache, dedup)
        if isinstance(inner, ResilientTransport):
            given = bool(network) or close_grace is not None or clock is not None
            if any(layer is not None for layer in layers) or given:
                raise ConfigError(
                    "RateLimitedAPIClient.transport",
                    "a ResilientTransport is used as is: pass layer configs and network "
                    "settings to it, not here",
                )
            if queue is not DEFAULT_QUEUE:
                raise ConfigError(
                    "RateLimitedAPIClient.transport",
                    "a ResilientTransport is used as is: pass queue= to it, not here",
                )
            stack = inner
        else:
            if queue is DEFAULT_QUEUE:
                queue = default_queue(network.get("limits"))
            try:
                stack = ResilientTransport(
                    rate_limit=rate_limit,
                    circuit_breaker=circuit_breaker,
                    retry=retry_config,
                    cache=cache,
                    dedup=dedup,
                    queue=queue,
                    inner=inner,
                    clock=clock,
                    close_grace=5.0 if close_grace is None else close_grace,
                    **network,
                )
            except ConfigError as exc:
                if exc.field in {f"ResilientTransport.{name}" for name in network}:
                    name = exc.field.rpartition(".")[2]
                    raise ConfigError(
                        f"RateLimitedAPIClient.{name}",
                        "configures the default network transport, so it cannot be "
                        "combined with transport=: set it on your own transport",
                    ) from exc
                raise
        self._stack = stack
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._closing = False
        super().__init__(base_url=base_url, transport=stack, **httpx_kwargs)

    @classmethod
    def from_environment(
        cls,
        base_url: httpx.URL | str = "",
        prefix: str = "API_",
        environ: Mapping[str, str] | None = None,
        **httpx_kwargs: Any,
    ) -> RateLimitedAPIClient:
        """A client configured by ``EnvironmentConfig.from_environment(prefix, environ)``.

        Explicit ``httpx_kwargs`` (``timeout=`` included) win over the environment.

        Raises:
            ConfigError: a variable does not parse; ``field`` names it.
        """
        env = EnvironmentConfig.from_environment(prefix, os.environ if environ is None else environ)
        return cls(base_url, **{**env.client_kwargs(), **httpx_kwargs})

    @property
    def resilient_transport(self) -> ResilientTransport:
        """The stack every request passes through (for ``statistics()``, ``get_layer()``)."""
        return self._stack

    def get_metrics(self) -> ClientMetrics:
        """A ``ClientMetrics`` snapshot."""
        return self._stack.get_metrics()

    def assess_health(self) -> HealthStatus:
        """A ``HealthStatus`` judged against the alert thresholds."""
        return self._stack.assess_health()

    async def health_check(self) -> dict[str, Any]:
        """Health as plain data for a health endpoint (JSON-serialisable).

        Returns:
            ``{"status": "healthy" | "degraded" | "unhealthy", "reasons": [...],
            "metrics": {...}, "timestamp": "<ISO-8601 UTC>"}``.
        """
        health = self.assess_health()
        stamp = datetime.fromtimestamp(wall_time(self._clock), tz=timezone.utc)
        return {
            "status": health.status.value,
            "reasons": list(health.reasons),
            "metrics": self.get_metrics().as_dict(),
            "timestamp": stamp.isoformat(),
        }

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: t.AuthTypes | UseClientDefault | None = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: bool | UseClientDefault = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        if self._closing or self.is_closed:
            raise ClientClosedError("the client is closed", request=request)
        return await super().send(
            request, stream=stream, auth=auth, follow_redirects=follow_redirects
        )

    async def aclose(self, *, grace: float | None = None) -> None:
        """Close the client and its stack: new requests are refused, queued waiters
        fail with ``ClientClosedError`` at once, requests in flight (an open streamed
        body counts) get up to ``grace`` seconds on the client's clock (default: the
        stack's ``close_grace``, 5.0) and then fail with ``ClientClosedError``.
        """
        self._closing = True
        if not self.is_closed:
            await self._stack.aclose(grace=grace)
        await super().aclose()

    def _extensions(self, given: Mapping[str, Any] | None, priority: int | None) -> dict[str, Any]:
        """The caller's extensions (never modified) plus ``priority`` and the budget."""
        extensions = dict(given or {})
        if priority is not None:
            if isinstance(priority, bool) or not isinstance(priority, int):
                raise ConfigError("priority", f"must be an int, got {type(priority).__name__}")
            extensions["priority"] = priority
        if self._budget is not None:
            extensions.setdefault("timeout_budget", self._budget)
        return extensions

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        priority: int | None = None,
        **kwargs: Unpack[_BodyOptions],
    ) -> httpx.Response:
        """Send a request; ``priority`` (int, higher first) orders it in the queue."""
        if priority is not None or self._budget is not None:
            kwargs["extensions"] = self._extensions(kwargs.get("extensions"), priority)
        return await super().request(method, url, **kwargs)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        priority: int | None = None,
        **kwargs: Unpack[_BodyOptions],
    ) -> AsyncIterator[httpx.Response]:
        """Stream a response; ``priority`` as for ``request()``."""
        if priority is not None or self._budget is not None:
            kwargs["extensions"] = self._extensions(kwargs.get("extensions"), priority)
        async with super().stream(method, url, **kwargs) as response:
            yield response

    async def get(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_Options]
    ) -> httpx.Response:
        return await self.request("GET", url, priority=priority, **kwargs)

    async def head(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_Options]
    ) -> httpx.Response:
        return await self.request("HEAD", url, priority=priority, **kwargs)

    async def options(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_Options]
    ) -> httpx.Response:
        return await self.request("OPTIONS", url, priority=priority, **kwargs)

    async def delete(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_Options]
    ) -> httpx.Response:
        return await self.request("DELETE", url, priority=priority, **kwargs)

    async def post(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_BodyOptions]
    ) -> httpx.Response:
        return await self.request("POST", url, priority=priority, **kwargs)

    async def put(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_BodyOptions]
    ) -> httpx.Response:
        return await self.request("PUT", url, priority=priority, **kwargs)

    async def patch(
        self, url: httpx.URL | str, *, priority: int | None = None, **kwargs: Unpack[_BodyOptions]
    ) -> httpx.Response:
        return await self.request("PATCH", url, priority=priority, **kwargs)
