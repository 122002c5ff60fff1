"""Dedup keys: which requests may share one upstream call, and under which name.

Pure functions, no I/O. Two requests share a call only if their keys are equal: same
method, same URL, same values of the request headers that change the answer, and the
same credentials. Credentials enter the key only as a keyed fingerprint (never the raw
value), so callers with different credentials never share.
"""

from __future__ import annotations

import hashlib

import httpx

from ._credentials import PROCESS_KEY, fingerprint
from ._errors import ConfigError

__all__ = ["ANSWER_HEADERS", "EXTRA_CREDENTIAL_HEADERS", "DedupKey", "dedup_key"]

#: Request headers whose value changes the answer; kept (raw) in the key. The
#: conditional headers are here so a plain GET never receives a shared ``304``.
ANSWER_HEADERS = frozenset(
    {
        b"accept",
        b"accept-encoding",
        b"accept-language",
        b"range",
        b"if-none-match",
        b"if-modified-since",
        b"if-match",
        b"if-unmodified-since",
        b"if-range",
    }
)

_CREDENTIAL_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie"})

#: Widely used API-key headers; fingerprinted like ``Authorization``.
EXTRA_CREDENTIAL_HEADERS = frozenset(
    {b"x-api-key", b"api-key", b"x-auth-token", b"x-access-token", b"x-amz-security-token"}
)

_SECRET_HEADERS = _CREDENTIAL_HEADERS | EXTRA_CREDENTIAL_HEADERS

#: ``(method, URL without userinfo, credential fingerprint, answer headers)``.
DedupKey = tuple[str, str, str, tuple[tuple[bytes, bytes], ...]]


def _has_body(request: httpx.Request) -> bool:
    try:
        return bool(request.content)
    except httpx.RequestNotRead:  # a streaming body: never shared
        return True


def _secret_fingerprint(headers: httpx.Headers, extra: list[bytes], userinfo: bytes) -> str:
    """Keyed digest of every credential the request carries, or ``""`` if none."""
    standard = fingerprint(headers)
    if not extra and not userinfo:
        return standard
    digest = hashlib.blake2b(standard.encode(), key=PROCESS_KEY, digest_size=16)
    for part in sorted(extra):
        digest.update(b"\x01" + part)
    digest.update(b"\x02" + userinfo)
    return digest.hexdigest()


def dedup_key(request: httpx.Request, methods: frozenset[str]) -> DedupKey | None:
    """Return the key under which ``request`` may share a call, or ``None`` if it may not.

    A request is never shared when its method is not in ``methods``, when it has a body
    (non-empty content or a streaming body), or when its extensions say
    ``{"dedup": False}`` or ``{"stream": True}``.

    Raises:
        ConfigError: the ``dedup`` extension is not a bool.
    """
    method = request.method
    if method not in methods:
        return None
    extensions = request.extensions
    flag = extensions.get("dedup", True)
    if flag is not True:
        if flag is False:
            return None
        raise ConfigError("extensions.dedup", f"must be True or False, got {flag!r}")
    if extensions.get("stream") is True or _has_body(request):
        return None
    answer: list[tuple[bytes, bytes]] = []
    extra: list[bytes] = []
    has_secret = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered in ANSWER_HEADERS:
            answer.append((lowered, value))
        elif lowered in _SECRET_HEADERS:
            has_secret = True
            if lowered in EXTRA_CREDENTIAL_HEADERS:
                extra.append(lowered + b"\x00" + value)
    url = request.url
    userinfo = url.userinfo
    if userinfo:
        url = url.copy_with(username=None, password=None)
    secret = _secret_fingerprint(request.headers, extra, userinfo) if has_secret or userinfo else ""
    return (method, str(url), secret, tuple(answer))
