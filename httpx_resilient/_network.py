"""The default inner transport: the network settings ``httpx.AsyncClient`` would apply.

When ``transport=`` is given, httpx ignores the client's ``verify``, ``cert``,
``http1``, ``http2``, ``limits`` and environment proxies, so ``ResilientTransport``
takes them itself and builds what the client would have built: one
``httpx.AsyncHTTPTransport``, plus, with ``trust_env=True`` and no ``proxy``, one proxy
transport per ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` entry, with ``NO_PROXY``
exclusions, chosen per request by httpx's own environment reading and URL patterns.
Routing happens below every layer, so proxied requests are rate limited, retried and
counted like the rest.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import httpx
from httpx._utils import URLPattern, get_environment_proxies

__all__ = ["NETWORK_DEFAULTS", "ProxyRouter", "network_transport"]

# Argument defaults of ResilientTransport for the inner transport (limits: None means
# httpx's default, 100 connections with 20 kept alive).
NETWORK_DEFAULTS: dict[str, object] = {
    "verify": True,
    "cert": None,
    "http1": True,
    "http2": False,
    "limits": None,
    "proxy": None,
    "trust_env": True,
    "retries": 0,
}


class ProxyRouter(httpx.AsyncBaseTransport):
    """Sends each request to the transport httpx's client would pick for its URL:
    the first matching mount (most specific first), ``default`` when none matches or
    the match is a ``NO_PROXY`` exclusion (``None``)."""

    def __init__(
        self,
        default: httpx.AsyncBaseTransport,
        mounts: dict[str, httpx.AsyncBaseTransport | None],
    ) -> None:
        self.default = default
        self.mounts: dict[URLPattern, httpx.AsyncBaseTransport | None] = dict(
            sorted((URLPattern(key), t) for key, t in mounts.items())
        )

    def transport_for_url(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        """The transport a request to ``url`` goes through."""
        for pattern, transport in self.mounts.items():
            if pattern.matches(url):
                return self.default if transport is None else transport
        return self.default

    def _all(self) -> list[httpx.AsyncBaseTransport]:
        return [self.default, *(t for t in self.mounts.values() if t is not None)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport_for_url(request.url).handle_async_request(request)

    async def __aenter__(self) -> ProxyRouter:
        for transport in self._all():
            await transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        for transport in self._all():
            await transport.__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        for transport in self._all():
            await transport.aclose()


def network_transport(
    *,
    verify: ssl.SSLContext | str | bool = True,
    cert: httpx._types.CertTypes | None = None,
    http1: bool = True,
    http2: bool = False,
    limits: httpx.Limits | None = None,
    proxy: httpx._types.ProxyTypes | None = None,
    trust_env: bool = True,
    retries: int = 0,
) -> httpx.AsyncBaseTransport:
    """An ``httpx.AsyncHTTPTransport`` with these settings, routed through the
    environment's proxies as ``httpx.AsyncClient(trust_env=True)`` would route it."""
    pool_limits = (
        limits
        if limits is not None
        else httpx.Limits(max_connections=100, max_keepalive_connections=20)
    )

    def make(through: httpx._types.ProxyTypes | None) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            http1=http1,
            http2=http2,
            limits=pool_limits,
            proxy=through,
            retries=retries,
        )

    if proxy is not None or not trust_env:
        return make(proxy)
    env = get_environment_proxies()
    if not env:
        return make(None)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        key: None if url is None else make(url) for key, url in env.items()
    }
    return ProxyRouter(make(None), mounts)
