"""Between entries and messages: build an entry from a response, a response from an entry.

No storage or network I/O here (the transport and ``Origin`` do it; only
``close_response`` awaits, to close a response being dropped). ``view_of`` parses a
stored entry once and memoises the result on it, so a memory hit parses no header;
``serve`` builds the independent ``httpx.Response`` a hit returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import anyio
import httpx

from .._core.body import ReplayStream, replay_response
from .directives import ResponseInfo, response_info
from .fields import stored_headers
from .keys import url_key, variant_key
from .policy import Stored
from .storage import CacheEntry

__all__ = [
    "EntryView",
    "close_response",
    "gateway_timeout",
    "make_entry",
    "mark",
    "serve",
    "view_of",
    "with_headers",
]

HIT, MISS, STALE, REVALIDATED = "hit", "miss", "stale", "revalidated"


@dataclass(slots=True)
class EntryView:
    """What serving an entry needs, parsed once and memoised on the entry.

    ``fresh_until`` is the wall time the entry stays fresh for requests without
    directives, computed for the ``(shared, heuristic_fraction)`` in ``token``.
    """

    stored: Stored
    headers: httpx.Headers  # the stored headers without Age (set per response)
    initial_age: float
    token: object = None
    fresh_until: float = -math.inf
    aged: tuple[int, httpx.Headers] | None = None  # the headers with the last Age served

    def age(self, now: float) -> float:
        """The entry's current age at wall time ``now`` (RFC 9111 4.2.3)."""
        return self.initial_age + max(0.0, now - self.stored.response_time)

    def fresh_until_for(self, token: tuple[bool, float]) -> float:
        """``fresh_until`` for a transport's ``(shared, heuristic_fraction)``."""
        if self.token is not token:
            self.token = token
            self.fresh_until = self.stored.fresh_until(shared=token[0], heuristic_fraction=token[1])
        return self.fresh_until


def view_of(entry: CacheEntry) -> EntryView:
    """The entry's parsed view (memoised on the entry)."""
    view = entry.memo
    if view is None:
        headers = httpx.Headers([line for line in entry.headers if line[0].lower() != b"age"])
        info = response_info(httpx.Headers(entry.headers))
        stored = Stored(entry.status, info, entry.request_time, entry.response_time)
        view = entry.memo = EntryView(stored, headers, stored.initial_age)
    assert isinstance(view, EntryView)
    return view


def serve(
    entry: CacheEntry,
    view: EntryView,
    request: httpx.Request,
    now: float,
    status: str,
    *,
    revalidated: bool = False,
) -> httpx.Response:
    """A new response replaying ``entry``, with its current ``Age`` (RFC 9111 4, 5.1).

    The response gets its own copy of the headers (httpx copies them), so hits within
    the same second share one prepared header set.
    """
    age = int(view.age(now))
    aged = view.aged
    if aged is None or aged[0] != age:
        headers = httpx.Headers(view.headers)
        headers["Age"] = str(age)
        view.aged = aged = (age, headers)
    return httpx.Response(
        entry.status,
        headers=aged[1],
        stream=ReplayStream(entry.body),
        request=request,
        extensions={"from_cache": True, "revalidated": revalidated, "cache_status": status},
    )


def make_entry(
    key: str,
    secret: bytes,
    request: httpx.Request,
    response: httpx.Response,
    info: ResponseInfo,
    body: bytes,
    request_time: float,
    response_time: float,
    *,
    shared: bool,
    store_set_cookie: bool,
) -> CacheEntry:
    """The entry to store for ``response``: no request header, only keyed hashes."""
    return CacheEntry(
        key=key,
        variant=variant_key(secret, request.headers, info.vary),
        url_key=url_key(secret, request.url),
        vary=info.vary,
        status=response.status_code,
        headers=stored_headers(
            response.headers, info, shared=shared, store_set_cookie=store_set_cookie
        ),
        body=body,
        request_time=request_time,
        response_time=response_time,
    )


def mark(response: httpx.Response, status: str = MISS) -> httpx.Response:
    """Record on a response from upstream that it did not come from the cache."""
    extensions = response.extensions
    extensions["from_cache"] = False
    extensions["revalidated"] = False
    extensions["cache_status"] = status
    return response


def with_headers(
    request: httpx.Request,
    extra: list[tuple[str, str]],
    *,
    detached: bool = False,
    drop: tuple[str, ...] = (),
) -> httpx.Request:
    """A copy of ``request`` without the ``drop`` headers and with ``extra`` ones set.

    It shares the caller's extensions (one deadline for the logical request), unless
    ``detached``: a background task gets a copy without per-request state.
    """
    headers = request.headers.copy()
    for name in drop:
        if name in headers:
            del headers[name]
    for name, value in extra:
        headers[name] = value
    extensions = request.extensions
    if detached:
        extensions = {
            name: value
            for name, value in extensions.items()
            if not name.startswith("httpx_resilient.") and name != "timeout_budget"
        }
    try:
        content = request.content  # known: the copy says so too (dedup may then share it)
    except httpx.RequestNotRead:
        return httpx.Request(
            request.method,
            request.url,
            headers=headers,
            stream=request.stream,
            extensions=extensions,
        )
    return httpx.Request(
        request.method, request.url, headers=headers, content=content or None, extensions=extensions
    )


async def close_response(response: httpx.Response) -> None:
    """Close a response we drop, even while being cancelled."""
    with anyio.CancelScope(shield=True):
        await response.aclose()


def gateway_timeout(request: httpx.Request) -> httpx.Response:
    """The answer to ``only-if-cached`` with nothing usable stored (RFC 9111 5.2.1.7)."""
    return replay_response(
        504,
        [(b"Content-Length", b"0")],
        b"",
        request=request,
        extensions={"from_cache": False, "revalidated": False, "cache_status": MISS},
    )
