"""The cache's exchanges with the origin: fetch and store, revalidate, freshen.

``Origin`` holds what these need (the inner transport, the storage, the config, the
clock) and counts stores and revalidations; ``CacheTransport`` decides when to call it.
A cold response streams to its caller while a copy is kept (``TeeStream``); it is
stored only once its whole body was read within ``max_entry_bytes``, in one storage
call, so a cancelled or abandoned read leaves no half-written entry.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable

import httpx

from .._core.body import ReplayStream, read_bounded
from .._core.clock import Clock, wall_time
from .._core.errors import ClientClosedError
from .config import CacheConfig
from .directives import ResponseInfo, response_info
from .entries import (
    REVALIDATED,
    STALE,
    EntryView,
    close_response,
    gateway_timeout,
    make_entry,
    mark,
    serve,
    view_of,
    with_headers,
)
from .fields import SET_COOKIE, conditional_headers, head_matches, merge_headers, validators_match
from .guard import GuardedStorage
from .keys import variant_key
from .policy import (
    ERROR_STATUSES,
    RequestDirectives,
    Stored,
    error_must_be_504,
    stale_if_error_allows,
    storable,
)
from .storage import CacheEntry, CacheStorage
from .tee import TeeStream

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
        storage: GuardedStorage,
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
        if not storable(
            request.method,
            stored,
            exchange.directives,
            shared=self._shared,
            has_authorization=exchange.authorization,
            heuristic_fraction=self._fraction,
        ):
            await self._drop(replacing)
            return response

        async def put(data: bytes) -> None:
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
            if await self._storage.write(lambda storage: storage.put(entry)):
                self.stores += 1

        stream = response.stream
        if isinstance(stream, (ReplayStream, httpx.ByteStream)):  # in memory: store now
            data = await read_bounded(response, self._max_entry_bytes)
            if data is None:
                await self._drop(replacing)
            else:
                await put(data)
            return response
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_entry_bytes:
            await self._drop(replacing)  # too large: handed on as it is
            return response
        if not isinstance(stream, httpx.AsyncByteStream):
            return response  # not an async stream: handed on untouched, never stored
        response.stream = TeeStream(
            stream, self._max_entry_bytes, put, lambda: self._drop(replacing)
        )
        return response

    async def _drop(self, replacing: CacheEntry | None) -> None:
        """Remove the entry a response that will not be stored replaces."""
        if replacing is not None:
            key, variant = replacing.key, replacing.variant
            await self._storage.write(lambda storage: storage.delete(key, variant))

    async def revalidate(
        self, exchange: Exchange, entry: CacheEntry, view: EntryView
    ) -> httpx.Response:
        """Validate ``entry`` with the origin, then answer (RFC 9111 4.3, RFC 5861 4)."""
        self.revalidations += 1
        request = exchange.request
        # The caller's own preconditions are answered by the cache afterwards; the
        # origin sees only those that validate the stored response (RFC 9111 4.3.2).
        conditional = with_headers(
            request,
            conditional_headers(view.stored.info),
            drop=("if-none-match", "if-modified-since"),
        )
        request_time = wall_time(self._clock)
        try:
            response = await self._inner.handle_async_request(conditional)
        except httpx.TransportError as exc:
            if self._stale_if_error(exchange, view):
                return serve(entry, view, request, wall_time(self._clock), STALE)
            if isinstance(exc, ClientClosedError) or not error_must_be_504(
                view.stored, shared=self._shared
            ):
                raise
            # must-revalidate (or proxy-revalidate / s-maxage, shared) and the origin
            # is unreachable: an error response, never the stale one (RFC 9111 4.2.4).
            logger.info("origin unreachable for a must-revalidate response: 504")
            return gateway_timeout(request)
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
            await self._drop(entry)
        elif await self._storage.write(lambda storage: storage.put(updated)):
            self.stores += 1
        served = serve(updated, view, request, response_time, REVALIDATED, revalidated=True)
        cookies = [
            line for line in response.headers.raw if line[0].decode("latin-1").lower() in SET_COOKIE
        ]
        if cookies and not self._store_set_cookie:
            # Not stored, but this caller still gets what the 304 said (RFC 9111 4.3.4).
            served.headers = httpx.Headers([*served.headers.raw, *cookies])
        return served

    async def freshen_from_head(
        self,
        get_key: str,
        exchange: Exchange,
        response: httpx.Response,
        request_time: float,
    ) -> None:
        """Update or invalidate the stored GET responses a HEAD's 200 describes (4.3.5).

        A stored response whose validators and ``Content-Length`` agree with the HEAD
        response takes its header fields (as for a 304); one that disagrees is removed,
        since it can no longer be assumed current.
        """
        response_time = wall_time(self._clock)
        head = response_info(response.headers)
        length = response.headers.get("content-length")
        request = exchange.request
        for entry in await self._storage.get(get_key):
            if entry.vary and variant_key(exchange.secret, request.headers, entry.vary) != (
                entry.variant
            ):
                continue
            view = view_of(entry)
            if not head_matches(view.stored.info, head, length, view.headers, len(entry.body)):
                await self._drop(entry)
                continue
            updated = dataclasses.replace(
                entry,
                headers=merge_headers(
                    entry.headers,
                    response.headers,
                    head,
                    shared=self._shared,
                    store_set_cookie=self._store_set_cookie,
                ),
                request_time=request_time,
                response_time=response_time,
                memo=None,
            )
            if await self._storage.write(_putter(updated)):
                self.stores += 1


def _putter(entry: CacheEntry) -> Callable[[CacheStorage], Awaitable[None]]:
    """A storage write of ``entry`` (bound now, not when a loop variable changes)."""

    async def put(storage: CacheStorage) -> None:
        await storage.put(entry)

    return put
