"""The cache's exchanges with the origin: fetch and store, revalidate, freshen.

``Origin`` holds what these need (the inner transport, the storage, the config, the
clock) and counts stores and revalidations; ``CacheTransport`` decides when to call it.
A response is stored only once its whole body was read within ``max_entry_bytes``, and
the write is one storage call, so a cancelled request leaves no half-written entry.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable

import httpx

from .._core.body import read_bounded
from .._core.clock import Clock, wall_time
from .config import CacheConfig
from .directives import ResponseInfo, response_info
from .entries import (
    REVALIDATED,
    STALE,
    EntryView,
    close_response,
    make_entry,
    mark,
    serve,
    view_of,
    with_headers,
)
from .fields import conditional_headers, merge_headers, validators_match
from .policy import ERROR_STATUSES, RequestDirectives, Stored, stale_if_error_allows, storable
from .storage import CacheEntry, CacheStorage

__all__ = ["Exchange", "Origin"]

logger = logging.getLogger("httpx_resilient.cache")


@dataclasses.dataclass(slots=True)
class Exchange:
    """One request on its way past the cache to the origin."""

    request: httpx.Request
    key: str
    secret: bytes
    directives: RequestDirectives
    authorization: bool


class Origin:
    """Fetches from ``inner`` on the cache's behalf and keeps ``storage`` up to date."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        storage: CacheStorage,
        config: CacheConfig,
        clock: Clock,
    ) -> None:
        self._inner = inner
        self._storage = storage
        self._clock = clock
        self._shared = config.shared
        self._fraction = config.heuristic_fraction
        self._max_entry_bytes = config.max_entry_bytes
        self._store_set_cookie = config.store_set_cookie
        self.stores = 0
        self.revalidations = 0

    async def fetch(
        self, exchange: Exchange, replacing: CacheEntry | None = None
    ) -> httpx.Response:
        """Send the request as is; store the response if the rules allow."""
        request_time = wall_time(self._clock)
        response = await self._inner.handle_async_request(exchange.request)
        return await self._store(exchange, response, request_time, replacing)

    async def _store(
        self,
        exchange: Exchange,
        response: httpx.Response,
        request_time: float,
        replacing: CacheEntry | None,
    ) -> httpx.Response:
        """Store ``response`` if the rules allow; return it, its body intact."""
        response_time = wall_time(self._clock)
        mark(response)
        request = exchange.request
        if request.extensions.get("stream") is True:
            return response
        info = response_info(response.headers)
        stored = Stored(response.status_code, info, request_time, response_time)
        data = None
        if storable(
            request.method,
            stored,
            exchange.directives,
            shared=self._shared,
            has_authorization=exchange.authorization,
            heuristic_fraction=self._fraction,
        ):
            try:
                data = await read_bounded(response, self._max_entry_bytes)
            except BaseException:
                await close_response(response)
                raise
        if data is None:  # not storable, or too large: handed on as a stream
            if replacing is not None:
                await self.safely(self._storage.delete(replacing.key, replacing.variant))
            return response
        entry = make_entry(
            exchange.key,
            exchange.secret,
            request,
            response,
            info,
            data,
            request_time,
            response_time,
            shared=self._shared,
            store_set_cookie=self._store_set_cookie,
        )
        if await self.safely(self._storage.put(entry)):
            self.stores += 1
        return response

    async def revalidate(
        self, exchange: Exchange, entry: CacheEntry, view: EntryView
    ) -> httpx.Response:
        """Validate ``entry`` with the origin, then answer (RFC 9111 4.3, RFC 5861 4)."""
        self.revalidations += 1
        request = exchange.request
        conditional = with_headers(request, conditional_headers(view.stored.info))
        request_time = wall_time(self._clock)
        try:
            response = await self._inner.handle_async_request(conditional)
        except httpx.TransportError:
            if not self._stale_if_error(exchange, view):
                raise
            return serve(entry, view, request, wall_time(self._clock), STALE)
        if response.status_code == 304:
            await close_response(response)
            fresh = response_info(response.headers)
            if validators_match(view.stored.info, fresh):
                return await self._freshen(request, entry, response, fresh, request_time)
            return await self.fetch(exchange, entry)  # the 304 matches nothing we hold
        if response.status_code in ERROR_STATUSES and self._stale_if_error(exchange, view):
            await close_response(response)
            return serve(entry, view, request, wall_time(self._clock), STALE)
        return await self._store(exchange, response, request_time, entry)

    def _stale_if_error(self, exchange: Exchange, view: EntryView) -> bool:
        return stale_if_error_allows(
            view.stored,
            exchange.directives,
            wall_time(self._clock),
            shared=self._shared,
            heuristic_fraction=self._fraction,
        )

    async def _freshen(
        self,
        request: httpx.Request,
        entry: CacheEntry,
        response: httpx.Response,
        fresh: ResponseInfo,
        request_time: float,
    ) -> httpx.Response:
        """Merge a 304 into ``entry`` (RFC 9111 4.3.4), store the result and serve it."""
        response_time = wall_time(self._clock)
        updated = dataclasses.replace(
            entry,
            headers=merge_headers(
                entry.headers,
                response.headers,
                fresh,
                shared=self._shared,
                store_set_cookie=self._store_set_cookie,
            ),
            request_time=request_time,
            response_time=response_time,
            memo=None,
        )
        view = view_of(updated)
        if view.stored.info.no_store:
            await self.safely(self._storage.delete(entry.key, entry.variant))
        elif await self.safely(self._storage.put(updated)):
            self.stores += 1
        return serve(updated, view, request, response_time, REVALIDATED, revalidated=True)

    async def safely(self, operation: Awaitable[None]) -> bool:
        """Await a storage write; a storage failure must not fail the request."""
        try:
            await operation
        except Exception as exc:
            logger.warning("cache storage write failed (%s)", type(exc).__name__)
            return False
        return True
