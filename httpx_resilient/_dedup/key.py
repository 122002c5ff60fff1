"""Dedup keys: which requests may share one upstream call, and under which name.

Pure functions, no I/O. Two requests share a call only if their keys are equal: same
method, same URL, same values of the request headers that change the answer, and the
same credentials, and the same per-request options that change the outcome (``retry``,
``timeout_budget``, ``timeout``, ``cache``). Credentials enter the key only as a keyed
fingerprint (never the raw value), so callers with different credentials never share.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable

import httpx

from .._core.credentials import DEFAULT_RULE, PROCESS_KEY, CredentialRule, fingerprint
from .._core.outcomes import ConfigError

__all__ = ["ANSWER_HEADERS", "DedupKey", "dedup_key"]

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

#: ``(method, URL without userinfo, credential fingerprint, answer headers, options)``.
DedupKey = tuple[str, Hashable, str, tuple[tuple[bytes, bytes], ...], Hashable]


#: What ``_options`` returns for an option that cannot be hashed.
_ODD = object()
_PLAIN = (tuple, type(None))


def _options(extensions: dict[str, object]) -> Hashable:
    """The options that change the outcome, hashable; ``_ODD`` if one cannot be hashed.

    A leader's ``retry=False``, shorter ``timeout_budget`` or ``timeout``, or ``cache``
    directive must not decide the outcome of followers that asked for something else.
    """
    timeout = extensions.get("timeout")
    if isinstance(timeout, dict):
        timeout = tuple(timeout.items())  # httpx's {connect, read, write, pool}: floats
    get = extensions.get
    retry, budget, cache = get("retry"), get("timeout_budget"), get("cache")
    if retry is None and budget is None and cache is None and type(timeout) in _PLAIN:
        return timeout  # the usual case: only httpx's own timeout
    options = ("options", timeout, retry, budget, cache)
    try:
        hash(options)
    except TypeError:  # an odd value: the layer that reads it will refuse it
        return _ODD
    return options


def _internals_usable() -> bool:
    """Whether httpx keeps the parsed URL as a tuple and headers as lowered triples.

    Reading those two private attributes builds a key about three times faster than
    ``str(url)`` and ``headers.raw``; if a version of httpx changes them, the public
    (slower) path is used instead.
    """
    try:
        reference = httpx.URL("http://user@host/p")._uri_reference
        items = httpx.Headers({"X-A": "b"})._list
    except AttributeError:
        return False
    return (
        isinstance(reference, tuple)
        and getattr(reference, "userinfo", None) == "user"
        and items == [(b"X-A", b"x-a", b"b")]
    )


_INTERNALS = _internals_usable()


def _secret_fingerprint(headers: httpx.Headers, userinfo: bytes, rule: CredentialRule) -> str:
    """Keyed digest of every credential the request carries, or ``""`` if none."""
    standard = fingerprint(headers, rule=rule)
    if not userinfo:
        return standard
    digest = hashlib.blake2b(standard.encode(), key=PROCESS_KEY, digest_size=16)
    digest.update(b"\x02" + userinfo)
    return digest.hexdigest()


def dedup_key(
    request: httpx.Request, methods: frozenset[str], rule: CredentialRule = DEFAULT_RULE
) -> DedupKey | None:
    """Return the key under which ``request`` may share a call, or ``None`` if it may not.

    ``rule`` says which headers carry a credential (``_core.credentials``).

    A request is never shared when its method is not in ``methods``, when it has a body
    (non-empty content or a streaming body), when its extensions say
    ``{"dedup": False}`` or ``{"stream": True}``, or when an option in the key cannot
    be hashed.

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
    if extensions.get("stream") is True:
        return None
    try:
        if request.content:
            return None
    except httpx.RequestNotRead:  # a streaming body
        return None
    headers = request.headers
    # (raw name, lowercased name, value) triples.
    items = headers._list if _INTERNALS else [(n, n.lower(), v) for n, v in headers.raw]
    answer: list[tuple[bytes, bytes]] = []
    has_secret = False
    for _, lowered, value in items:
        if lowered in ANSWER_HEADERS:
            answer.append((lowered, value))
        elif rule(lowered):
            has_secret = True
    url = request.url
    where: Hashable
    userinfo = b""
    if _INTERNALS and not url._uri_reference.userinfo:
        where = url._uri_reference  # a tuple of the URL's parts: hashing it is cheap
    else:
        userinfo = url.userinfo
        where = str(url.copy_with(username=None, password=None) if userinfo else url)
    options = _options(extensions)
    if options is _ODD:
        return None
    secret = _secret_fingerprint(headers, userinfo, rule) if has_secret or userinfo else ""
    return (method, where, secret, tuple(answer), options)
