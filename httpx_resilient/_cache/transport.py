"""``CacheTransport``: the I/O glue around the RFC 9111 rules of ``policy``.

It looks a request up, asks the policy what to do, then serves a stored response,
revalidates it (in the background for ``stale-while-revalidate``), or fetches and maybe
stores a new one. Bodies are stored raw (still content-encoded): a cold response streams
to its caller while a copy of up to ``max_entry_bytes`` is kept, and stored responses
replay in 16 KiB chunks; every served response is a new, independent ``httpx.Response``.
"""

from __future__ import annotations

import dataclasses
import logging
from types import TracebackType

import httpx

from .._core.clock import Clock, wall_time
from .._core.credentials import CredentialRule
from .._core.layer import Layer
from .._core.outcomes import ConfigError
from .._core.snapshots import CacheStatistics
from .background import Background
from .conditional import Precondition, not_modified_headers
from .config import CacheConfig
from .directives import response_info
from .entries import (
    HIT,
    MISS,
    STALE,
    EntryView,
    close_response,
    gateway_timeout,
    mark,
    serve,
    view_of,
    with_headers,
)
from .fields import invalidation_targets
from .guard import GuardedStorage
from .keys import RequestScan, primary_key, scan_request, url_key, variant_key
from .memory import MemoryStorage
from .origin import Exchange, Origin
from .policy import (
    CACHEABLE_METHODS,
    NO_DIRECTIVES,
    SAFE_METHODS,
    Decision,
    RequestDirectives,
    decide,
)
from .storage import CacheEntry, CacheStorage
from .tee import TeeStream

__all__ = ["CacheTransport"]

logger = logging.getLogger("httpx_resilient.cache")

_MODES = frozenset({"no-store", "no-cache", "only-if-cached"})
_NO_SCAN = RequestScan()


class CacheTransport(Layer):
    """An HTTP cache (RFC 9111) in front of ``inner``; private unless ``config.shared``.

    Responses carry ``extensions["from_cache"]`` (served from storage),
    ``["revalidated"]`` (a stored response confirmed by a 304) and ``["cache_status"]``:
    ``"hit"``, ``"stale"``, ``"revalidated"`` or ``"miss"``. Per request,
    ``extensions={"cache": "no-store" | "no-cache" | "only-if-cached"}``.

    ``stale-while-revalidate`` refreshes run as detached tasks of the running event loop
    (at most 32 at once; beyond that a request revalidates inline), so no task group is
    held between calls: the transport may be entered in one task and closed in another,
    and serve as ``transport=`` and as a mount at once. ``aclose()`` / ``__aexit__``
    cancel pending refreshes; the transport works again on its next request.

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
        self._storage: CacheStorage = storage
        self._guard = GuardedStorage(storage, self._clock)
        self._origin = Origin(inner, self._guard, config, self._clock)
        self._shared = config.shared
        self._credentials = CredentialRule(config.credential_headers)
        self._fraction = config.heuristic_fraction
        self._token = (config.shared, config.heuristic_fraction)
        self._secret: bytes | None = None
        self._background = Background()
        self._refreshing: set[tuple[str, str]] = set()
        self._hits = self._misses = self._stale = self._refreshes = 0

    @property
    def storage(self) -> CacheStorage:
        """Where entries are kept."""
        return self._storage

    @property
    def refreshes_in_flight(self) -> int:
        """Background ``stale-while-revalidate`` refreshes still running."""
        return len(self._refreshing)

    @property
    def storage_failures(self) -> int:
        """Storage calls that failed so far (each opens or extends a skip period)."""
        return self._guard.outage.failures

    def statistics(self) -> CacheStatistics:
        """Counts so far; ``hits`` include stale and revalidated answers from storage."""
        return CacheStatistics(
            hits=self._hits,
            misses=self._misses,
            revalidations=self._origin.revalidations,
            stores=self._origin.stores,
            stale_served=self._stale,
            background_refreshes=self._refreshes,
        )

    async def __aenter__(self) -> CacheTransport:
        await super().__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            await self._background.aclose()
        finally:
            await super().__aexit__(exc_type, exc_value, traceback)

    def reopen(self) -> None:
        """Serve requests again after a close."""
        self._closed = False

    async def aclose(self) -> None:
        try:
            await self._background.aclose()
        finally:
            await super().aclose()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        mode = request.extensions.get("cache")
        if mode is not None and mode not in _MODES:
            raise ConfigError(
                "extensions.cache",
                f'must be "no-store", "no-cache" or "only-if-cached", got {mode!r}',
            )
        method = request.method
        if method not in CACHEABLE_METHODS:
            return await self._forward(request)
        scan = scan_request(request.headers, self._credentials) or _NO_SCAN
        secret = self._secret if self._secret is not None else await self._load_secret()
        if mode == "no-store" or scan.bypass or secret is None:
            self._misses += 1
            return mark(await self._inner.handle_async_request(request))
        key = primary_key(
            secret, method, request.url, request.headers, scan.credentials, self._credentials
        )
        directives = NO_DIRECTIVES
        if scan.cache_control is not None or scan.pragma is not None:
            directives = RequestDirectives.parse(scan.cache_control, scan.pragma)
        if mode == "no-cache":
            directives = dataclasses.replace(directives, no_cache=True)
        elif mode == "only-if-cached":
            directives = dataclasses.replace(directives, only_if_cached=True)
        precondition = Precondition(request.headers) if scan.conditional else None

        entry = await self._lookup(key, request, secret)
        if entry is not None:
            view = view_of(entry)
            now = wall_time(self._clock)
            if directives is NO_DIRECTIVES and now < view.fresh_until_for(self._token):
                self._hits += 1
                return self._answer(precondition, serve(entry, view, request, now, HIT), view)
            decision = decide(
                view.stored, directives, now, shared=self._shared, heuristic_fraction=self._fraction
            )
            if decision is Decision.FRESH:
                self._hits += 1
                return self._answer(precondition, serve(entry, view, request, now, HIT), view)
            if decision is Decision.STALE or (
                decision is Decision.STALE_WHILE_REVALIDATE and self._refresh_later(request, entry)
            ):
                self._hits += 1
                self._stale += 1
                return self._answer(precondition, serve(entry, view, request, now, STALE), view)
        if directives.only_if_cached:
            self._misses += 1
            return gateway_timeout(request)
        exchange = Exchange(request, key, secret, directives, scan.authorization)
        request_time = wall_time(self._clock)
        if entry is None:
            response = await self._origin.fetch(exchange)
        else:
            response = await self._origin.revalidate(exchange, entry, view)
        status = response.extensions.get("cache_status")
        if status == MISS:
            self._misses += 1
            if method == "HEAD" and response.status_code == 200:
                get_key = primary_key(secret, "GET", request.url, request.headers, scan.credentials)
                await self._origin.freshen_from_head(get_key, exchange, response, request_time)
            return response
        self._hits += 1
        if status == STALE:
            self._stale += 1
        return self._answer(precondition, response, None)

    def _answer(
        self, precondition: Precondition | None, response: httpx.Response, view: EntryView | None
    ) -> httpx.Response:
        """A 304 instead of a stored 200 when the caller's precondition says so (4.3.2).

        ``view`` is the entry served as it was stored; ``None`` for one just validated
        with the origin (its headers are then the freshened ones, received now).
        """
        if precondition is None or response.status_code != 200:
            return response
        if view is not None:
            info, received = view.stored.info, view.stored.response_time
        else:
            info, received = response_info(response.headers), wall_time(self._clock)
        if not precondition.not_modified(info, received):
            return response
        return httpx.Response(
            304,
            headers=not_modified_headers(response.headers),
            request=response.request,
            extensions=response.extensions,
        )

    async def _load_secret(self) -> bytes | None:
        self._secret = await self._guard.secret()
        return self._secret

    async def _lookup(self, key: str, request: httpx.Request, secret: bytes) -> CacheEntry | None:
        """The stored response matching ``request``'s variant, newest first (RFC 9111 4.1)."""
        best: CacheEntry | None = None
        for entry in await self._guard.get(key):
            if entry.vary and variant_key(secret, request.headers, entry.vary) != entry.variant:
                continue
            if best is None or entry.response_time > best.response_time:
                best = entry
        return best

    def _refresh_later(self, request: httpx.Request, entry: CacheEntry) -> bool:
        """Have ``entry`` refreshed in the background; False to revalidate inline instead."""
        token = (entry.key, entry.variant)
        if token in self._refreshing:
            return True
        detached = with_headers(
            request, [], detached=True, drop=("if-none-match", "if-modified-since")
        )

        async def refresh() -> None:
            await self._refresh(detached, entry, token)

        self._refreshing.add(token)
        if not self._background.spawn(refresh):
            self._refreshing.discard(token)
            return False
        return True

    async def _refresh(
        self, request: httpx.Request, entry: CacheEntry, token: tuple[str, str]
    ) -> None:
        try:
            scan = scan_request(request.headers, self._credentials) or _NO_SCAN
            secret = self._secret
            assert secret is not None
            exchange = Exchange(request, entry.key, secret, NO_DIRECTIVES, scan.authorization)
            response = await self._origin.revalidate(exchange, entry, view_of(entry))
            try:
                stream = response.stream  # raw, undecoded; reading it to the end stores it
                if isinstance(stream, httpx.AsyncByteStream):
                    async for _ in stream:
                        if isinstance(stream, TeeStream) and not stream.keeping:
                            break  # over max_entry_bytes: nothing to store, stop reading
            finally:
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
                    doomed = url_key(secret, target)

                    async def invalidate(storage: CacheStorage, doomed: str = doomed) -> None:
                        await storage.invalidate(doomed)

                    await self._guard.write(invalidate)
        return response
