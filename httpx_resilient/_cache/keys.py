"""Cache keys: which stored responses may answer a request.

The primary key is a keyed BLAKE2b of the method, the normalised URL (userinfo
included) and the fingerprint of the request's credentials (``Authorization``,
``Proxy-Authorization``, ``Cookie``, every header whose name contains ``token``, ``key``,
``auth``... and ``CacheConfig.credential_headers``: the rule of ``_core.credentials``),
so one credential's response is never served to
another, in any mode, and no key reveals a URL or a credential. The
secondary key (variant) hashes the request headers named by the response's ``Vary``.
All hashes use the storage's secret, so processes sharing a SQLite file agree on keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._core.credentials import CREDENTIAL_HEADERS, DEFAULT_RULE, CredentialRule, fingerprint
from .directives import header_items

if TYPE_CHECKING:  # shared by both faces: URLs and headers of httpx or httpx2
    from .._core.faces import AnyHeaders, AnyURL

__all__ = [
    "RequestScan",
    "primary_key",
    "scan_request",
    "url_key",
    "url_text",
    "variant_key",
]

_CREDENTIAL, _CACHE_CONTROL, _PRAGMA, _BYPASS, _CONDITIONAL = range(5)
_WATCHED = {
    **dict.fromkeys(CREDENTIAL_HEADERS, _CREDENTIAL),
    b"cache-control": _CACHE_CONTROL,
    b"pragma": _PRAGMA,
    # The cache does not store partial content (see the README's conformance table), and
    # preconditions that only an origin server can evaluate go there (RFC 9111 4.3.2).
    b"range": _BYPASS,
    b"if-range": _BYPASS,
    b"if-match": _BYPASS,
    b"if-unmodified-since": _BYPASS,
    # A caller's own validation: answered from a fresh stored response (RFC 9111 4.3.2).
    b"if-none-match": _CONDITIONAL,
    b"if-modified-since": _CONDITIONAL,
}


@dataclass(slots=True)
class RequestScan:
    """The request headers that matter to the cache, found in one pass."""

    credentials: bool = False
    authorization: bool = False
    cache_control: str | None = None
    pragma: str | None = None
    bypass: bool = False
    conditional: bool = False


def scan_request(headers: AnyHeaders, rule: CredentialRule = DEFAULT_RULE) -> RequestScan | None:
    """Look through the request headers once; ``None`` if none of them matters.

    ``rule`` says which headers carry a credential (``_core.credentials``).
    """
    scan: RequestScan | None = None
    watched = _WATCHED
    for _, name, value in header_items(headers):
        kind = watched.get(name)
        if kind is None:
            if not rule(name):
                continue
            kind = _CREDENTIAL
        if scan is None:
            scan = RequestScan()
        if kind == _CREDENTIAL:
            scan.credentials = True
            scan.authorization = scan.authorization or name == b"authorization"
        elif kind == _BYPASS:
            scan.bypass = True
        elif kind == _CONDITIONAL:
            scan.conditional = True
        elif kind == _CACHE_CONTROL:
            text = value.decode("latin-1")
            scan.cache_control = (
                text if scan.cache_control is None else f"{scan.cache_control}, {text}"
            )
        else:
            text = value.decode("latin-1")
            scan.pragma = text if scan.pragma is None else f"{scan.pragma}, {text}"
    return scan


def url_text(url: AnyURL) -> str:
    """The URL as the cache compares it (httpx's normal form), without any fragment."""
    text = str(url)
    return text.partition("#")[0] if "#" in text else text


def _digest(secret: bytes, text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=secret, digest_size=16).hexdigest()


def primary_key(
    secret: bytes,
    method: str,
    url: AnyURL,
    headers: AnyHeaders,
    credentials: bool,
    rule: CredentialRule = DEFAULT_RULE,
) -> str:
    """Keyed hash of method, URL and credential fingerprint (``credentials``: any present)."""
    identity = ""
    if credentials:
        identity = fingerprint(headers, key=secret, rule=rule)
    return _digest(secret, f"{method}\x00{url_text(url)}\x00{identity}")


def url_key(secret: bytes, url: AnyURL) -> str:
    """Keyed hash of the URL alone: what an unsafe request invalidates."""
    return _digest(secret, url_text(url))


def variant_key(secret: bytes, headers: AnyHeaders, vary: tuple[str, ...]) -> str:
    """Keyed hash of the request headers named by ``vary`` (RFC 9111 4.1); ``""`` if none.

    Values are normalised (lines joined, whitespace collapsed); an absent header differs
    from an empty one.
    """
    if not vary:
        return ""
    parts = []
    for name in vary:
        values = headers.get_list(name)
        if values:
            parts.append(f"{name}:{' '.join(', '.join(values).split())}")
        else:
            parts.append(f"{name}\x00")
    return _digest(secret, "\n".join(parts))
