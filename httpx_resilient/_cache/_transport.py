"""``CacheTransport``: the I/O glue around the RFC 9111 rules of ``_policy``.

It looks a request up, asks the policy what to do, then serves a stored response,
revalidates it (in the background for ``stale-while-revalidate``), or fetches and maybe
stores a new one. Bodies are stored raw (still content-encoded), buffered up to
``max_entry_bytes`` and replayed in 64 KiB chunks; every served response is a new,
independent ``httpx.Response``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable
from types import TracebackType

import anyio
import httpx
from anyio.abc import TaskGroup

from .._body import read_bounded
from .._clock import Clock, wall_time
from .._config import CacheConfig
from .._errors import ClientClosedError, ConfigError
from .._layer import Layer
from .._snapshots import CacheStatistics
from ._directives import ResponseInfo, response_info
from ._entries import (
    HIT,
    MISS,
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
from ._keys import RequestScan, primary_key, scan_request, url_key, variant_key
from ._memory import MemoryStorage
from ._policy import (
    CACHEABLE_METHODS,
    ERROR_STATUSES,
    NO_DIRECTIVES,
    SAFE_METHODS,
    Decision,
    RequestDirectives,
    Stored,
    conditional_headers,
    decide,
    invalidation_targets,
    merge_headers,
    stale_if_error_allows,
    storable,
    validators_match,
)
from ._storage import CacheEntry, CacheStorage

__all__ = ["CacheTransport"]

logger = logging.getLogger("httpx_resilient.cache")

_MODES = frozenset({"no-store", "no-cache", "only-if-cached"})
_NO_SCAN = RequestScan()


@dataclasses.dataclass(slots=True)
class _Exchange:
    """One request on its way past the cache to the origin."""

    request: httpx.Request
    key: str
    secret: bytes
    directives: RequestDirectives
    authorization: bool


class CacheTransport(Layer):
    """An HTTP cache (RFC 9111) in front of ``inner``; private unless ``config.shared``.

    Responses carry ``extensions["from_cache"]`` (served from storage),
    ``["revalidated"]`` (a stored response confirmed by a 304) and ``["cache_status"]``:
    ``"hit"``, ``"stale"``, ``"revalidated"`` or ``"miss"``. Per request,
    ``extensions={"cache": "no-store" | "no-cache" | "only-if-cached"}``.

    ``stale-while-revalidate`` refreshes run in a task group opened by ``__aenter__``
    (``async with httpx.AsyncClient(transport=...)`` does that) and cancelled by
    ``__aexit__``; a transport that was never entered revalidates inline instead.

    Args:
        inner: the transport to fetch from.
        config: a ``CacheConfig``; ``storage=None`` means a ``MemoryStorage`` bounded by
            ``max_entries`` and ``max_bytes``. The transport never closes a storage
            it was given.
        clock: the time source (its wall time judges ages and HTTP dates).
    """

    def __init__(
        self, inner: httpx.AsyncBaseTransport, config: CacheConfig, *, clock: Clock | None = None
    ) -> None:
        super().__init__(inner, clock=clock)
        if not isinstance(config, CacheConfig):
            raise TypeError(f"config must be a CacheConfig, got {config!r}")
        storage = config.storage
        if storage is None:
            storage = MemoryStorage(max_entries=config.max_entries, max_bytes=config.max_bytes)
        elif not isinstance(storage, CacheStorage):
            raise ConfigError("CacheConfig.storage", "must implement the CacheStorage protocol")
        self._config = config
        self._storage: CacheStorage = storage
        self._shared = config.shared
        self._fraction = config.heuristic_fraction
        self._token = (config.shared, config.heuristic_fraction)
        self._secret: bytes | None = None
        self._group: TaskGroup | None = None
        self._refreshing: set[tuple[str, str]] = set()
        self._closed = False
        self._hits = self._misses = self._revalidations = 0
        self._stores = self._stale = self._refreshes = 0

    @property
    def storage(self) -> CacheStorage:
        """Where entries are kept."""
        return self._storage

    @property
    def refreshes_in_flight(self) -> int:
        """Background ``stale-while-revalidate`` refreshes still running."""
        return len(self._refreshing)

    def statistics(self) -> CacheStatistics:
        """Counts so far; ``hits`` include stale and revalidated answers from storage."""
        return CacheStatistics(
            hits=self._hits,
            misses=self._misses,
            revalidations=self._revalidations,
            stores=self._stores,
            stale_served=self._stale,
            background_refreshes=self._refreshes,
        )

    async def __aenter__(self) -> CacheTransport:
        await super().__aenter__()
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self._closed = True
        group, self._group = self._group, None
        try:
            if group is not None:
                group.cancel_scope.cancel()
                await group.__aexit__(None, None, None)
        finally:
            await super().__aexit__(exc_type, exc_value, traceback)

    async def aclose(self) -> None:
        self._closed = True
        if self._group is not None:
            self._group.cancel_scope.cancel()
        await super().aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise ClientClosedError("the cache transport is closed", request=request)
        mode = request.extensions.get("cache")
        if mode is not None and mode not in _MODES:
            raise ConfigError(
                "extensions.cache",
                f'must be "no-store", "no-cache" or "only-if-cached", got {mode!r}',
            )
        method = request.method
        if method not in CACHEABLE_METHODS:
            return await self._forward(request)
        scan = scan_request(request.headers) or _NO_SCAN
        secret = self._secret if self._secret is not None else await self._load_secret()
        if mode == "no-store" or scan.bypass or secret is None:
            self._misses += 1
            return mark(await self._inner.handle_async_request(request))
        key = primary_key(secret, method, request.url, request.headers, scan.credentials)
        directives = NO_DIRECTIVES
        if scan.cache_control is not None or scan.pragma is not None:
            directives = RequestDirectives.parse(scan.cache_control, scan.pragma)
        if mode == "no-cache":
            directives = dataclasses.replace(directives, no_cache=True)
        elif mode == "only-if-cached":
            directives = dataclasses.replace(directives, only_if_cached=True)

        entry = await self._lookup(key, request, secret)
        if entry is not None:
            view = view_of(entry)
            now = wall_time(self._clock)
            if directives is NO_DIRECTIVES and now < view.fresh_until_for(self._token):
                self._hits += 1
                return serve(entry, view, request, now, HIT)
            decision = decide(
                view.stored, directives, now, shared=self._shared, heuristic_fraction=self._fraction
            )
            if decision is Decision.FRESH:
                self._hits += 1
                return serve(entry, view, request, now, HIT)
            if decision is Decision.STALE or (
                decision is Decision.STALE_WHILE_REVALIDATE and self._refresh_later(request, entry)
            ):
                self._hits += 1
                self._stale += 1
                return serve(entry, view, request, now, STALE)
        if directives.only_if_cached:
            self._misses += 1
            return gateway_timeout(request)
        exchange = _Exchange(request, key, secret, directives, scan.authorization)
        if entry is None:
            response = await self._fetch(exchange)
        else:
            response = await self._revalidate(exchange, entry, view)
        status = response.extensions.get("cache_status")
        if status == MISS:
            self._misses += 1
        else:
            self._hits += 1
            self._stale += status == STALE
        return response

    async def _load_secret(self) -> bytes | None:
        try:
            self._secret = await self._storage.secret()
        except Exception as exc:
            logger.warning("cache storage unavailable (%s); not caching", type(exc).__name__)
            return None
        return self._secret

    async def _lookup(self, key: str, request: httpx.Request, secret: bytes) -> CacheEntry | None:
        """The stored response matching ``request``'s variant, newest first (RFC 9111 4.1)."""
        try:
            entries = await self._storage.get(key)
        except Exception as exc:
            logger.warning("cache storage lookup failed (%s)", type(exc).__name__)
            return None
        best: CacheEntry | None = None
        for entry in entries:
            if entry.vary and variant_key(secret, request.headers, entry.vary) != entry.variant:
                continue
            if best is None or entry.response_time > best.response_time:
                best = entry
        return best

    async def _fetch(
        self, exchange: _Exchange, replacing: CacheEntry | None = None
    ) -> httpx.Response:
        request_time = wall_time(self._clock)
        response = await self._inner.handle_async_request(exchange.request)
        return await self._store(exchange, response, request_time, replacing)

    async def _store(
        self,
        exchange: _Exchange,
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
                data = await read_bounded(response, self._config.max_entry_bytes)
            except BaseException:
                await close_response(response)
                raise
        if data is None:  # not storable, or too large: handed on as a stream
            if replacing is not None:
                await self._safely(self._storage.delete(replacing.key, replacing.variant))
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
            store_set_cookie=self._config.store_set_cookie,
        )
        if await self._safely(self._storage.put(entry)):
            self._stores += 1
        return response

    async def _revalidate(
        self, exchange: _Exchange, entry: CacheEntry, view: EntryView
    ) -> httpx.Response:
        """Validate ``entry`` with the origin, then answer (RFC 9111 4.3, RFC 5861 4)."""
        self._revalidations += 1
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
            return await self._fetch(exchange, entry)  # the 304 matches nothing we hold
        if response.status_code in ERROR_STATUSES and self._stale_if_error(exchange, view):
            await close_response(response)
            return serve(entry, view, request, wall_time(self._clock), STALE)
        return await self._store(exchange, response, request_time, entry)

    def _stale_if_error(self, exchange: _Exchange, view: EntryView) -> bool:
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
                store_set_cookie=self._config.store_set_cookie,
            ),
            request_time=request_time,
            response_time=response_time,
            memo=None,
        )
        view = view_of(updated)
        if view.stored.info.no_store:
            await self._safely(self._storage.delete(entry.key, entry.variant))
        elif await self._safely(self._storage.put(updated)):
            self._stores += 1
        return serve(updated, view, request, response_time, REVALIDATED, revalidated=True)

    def _refresh_later(self, request: httpx.Request, entry: CacheEntry) -> bool:
        """Start one background refresh of ``entry``; False if there is no task group."""
        group = self._group
        if group is None:
            return False
        token = (entry.key, entry.variant)
        if token not in self._refreshing:
            self._refreshing.add(token)
            detached = with_headers(request, [], detached=True)
            group.start_soon(self._refresh, detached, entry, token)
        return True

    async def _refresh(
        self, request: httpx.Request, entry: CacheEntry, token: tuple[str, str]
    ) -> None:
        try:
            scan = scan_request(request.headers) or _NO_SCAN
            secret = self._secret
            assert secret is not None
            exchange = _Exchange(request, entry.key, secret, NO_DIRECTIVES, scan.authorization)
            response = await self._revalidate(exchange, entry, view_of(entry))
            await close_response(response)
            self._refreshes += 1
        except Exception as exc:
            logger.info("background cache refresh failed (%s)", type(exc).__name__)
        finally:
            self._refreshing.discard(token)

    async def _forward(self, request: httpx.Request) -> httpx.Response:
        """Pass another method on; invalidate after an unsafe one (RFC 9111 4.4)."""
        response = mark(await self._inner.handle_async_request(request))
        if request.method in SAFE_METHODS:
            return response
        targets = invalidation_targets(request.url, response.status_code, response.headers)
        if targets:
            secret = self._secret if self._secret is not None else await self._load_secret()
            if secret is not None:
                for target in targets:
                    await self._safely(self._storage.invalidate(url_key(secret, target)))
        return response

    async def _safely(self, operation: Awaitable[None]) -> bool:
        """Await a storage write; a storage failure must not fail the request."""
        try:
            await operation
        except Exception as exc:
            logger.warning("cache storage write failed (%s)", type(exc).__name__)
            return False
        return True
