"""Header-field rules of the cache, as plain functions: no I/O, no awaits.

Which response fields are stored (RFC 9111 3.1) and which a 304 updates (3.2, 4.3.4);
the precondition fields that revalidate a stored response and whether a 304 describes
it (4.3.1, 4.3.4); and which URLs an unsafe request invalidates (4.4).
"""

from __future__ import annotations

import httpx

from .directives import ResponseInfo

__all__ = [
    "HOP_BY_HOP",
    "conditional_headers",
    "head_matches",
    "invalidation_targets",
    "merge_headers",
    "stored_headers",
    "validators_match",
]

#: Never stored (RFC 9111 3.1, RFC 9110 7.6.1): hop-by-hop and proxy-specific fields.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "proxy-authenticate",
        "proxy-authentication-info",
        "proxy-authorization",
    }
)
#: Kept from the stored response when a 304 freshens it (RFC 9111 3.2): they describe
#: the stored body, which the 304 does not carry.
NOT_UPDATED = frozenset({"content-length", "content-encoding", "content-range"})
SET_COOKIE = frozenset({"set-cookie", "set-cookie2"})


def _connection_listed(headers: httpx.Headers) -> set[str]:
    return {
        name.strip().lower()
        for name in headers.get_list("connection", split_commas=True)
        if name.strip()
    }


def stored_headers(
    headers: httpx.Headers, info: ResponseInfo, *, shared: bool, store_set_cookie: bool
) -> tuple[tuple[bytes, bytes], ...]:
    """The response's header lines that may be stored (RFC 9111 3.1)."""
    drop = set(HOP_BY_HOP)
    drop.update(_connection_listed(headers))
    drop.update(info.no_cache_fields)
    if shared:
        drop.update(info.private_fields)
    if not store_set_cookie:
        drop.update(SET_COOKIE)
    return tuple(
        (name, value) for name, value in headers.raw if name.decode("latin-1").lower() not in drop
    )


def merge_headers(
    stored: tuple[tuple[bytes, bytes], ...],
    fresh: httpx.Headers,
    fresh_info: ResponseInfo,
    *,
    shared: bool,
    store_set_cookie: bool,
) -> tuple[tuple[bytes, bytes], ...]:
    """Freshen stored header lines with a 304's (RFC 9111 3.2, 4.3.4)."""
    new = [
        (name, value)
        for name, value in stored_headers(
            fresh, fresh_info, shared=shared, store_set_cookie=store_set_cookie
        )
        if name.decode("latin-1").lower() not in NOT_UPDATED
    ]
    replaced = {name.lower() for name, _ in new}
    kept = [(name, value) for name, value in stored if name.lower() not in replaced]
    return (*kept, *new)


def conditional_headers(info: ResponseInfo) -> list[tuple[str, str]]:
    """Precondition headers that validate a stored response (RFC 9111 4.3.1)."""
    headers: list[tuple[str, str]] = []
    if info.etag is not None:
        headers.append(("If-None-Match", info.etag))
    if info.last_modified is not None and info.last_modified_raw is not None:
        headers.append(("If-Modified-Since", info.last_modified_raw))
    return headers


def _opaque(etag: str) -> str:
    return etag[2:] if etag.startswith(("W/", "w/")) else etag


def validators_match(stored: ResponseInfo, fresh: ResponseInfo) -> bool:
    """Whether a 304 describes the stored response (RFC 9111 4.3.4, weak comparison)."""
    if fresh.etag is not None:
        return stored.etag is not None and _opaque(stored.etag) == _opaque(fresh.etag)
    if fresh.last_modified is not None and stored.last_modified is not None:
        return fresh.last_modified == stored.last_modified
    return True


def head_matches(
    stored: ResponseInfo,
    head: ResponseInfo,
    head_length: str | None,
    stored_headers: httpx.Headers,
    body_length: int,
) -> bool:
    """Whether a HEAD's 200 may freshen a stored GET response (RFC 9111 4.3.5).

    Every validator the HEAD response carries (``ETag``, ``Last-Modified``) and its
    ``Content-Length``, if any, must match the stored response's.
    """
    if head.etag is not None and (stored.etag is None or stored.etag != head.etag):
        return False
    if head.last_modified is not None and stored.last_modified != head.last_modified:
        return False
    if head_length is not None:
        stored_length = stored_headers.get("content-length")
        if stored_length is None:
            stored_length = str(body_length)
        if head_length.strip() != stored_length.strip():
            return False
    return True


def invalidation_targets(url: httpx.URL, status: int, headers: httpx.Headers) -> list[httpx.URL]:
    """URLs to invalidate after an unsafe request (RFC 9111 4.4); none after an error.

    The target URL always; ``Location`` and ``Content-Location`` only on the same origin.
    """
    if not 200 <= status < 400:
        return []
    targets = [url]
    for name in ("location", "content-location"):
        value = headers.get(name)
        if not value:
            continue
        try:
            other = url.join(value.strip())
        except (httpx.InvalidURL, ValueError, TypeError):
            continue
        if (other.scheme, other.host, other.port) == (url.scheme, url.host, url.port):
            targets.append(other)
    return targets
