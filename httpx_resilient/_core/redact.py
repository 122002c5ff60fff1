"""Redaction of URLs, headers and messages before they reach a log, label or error.

Rules: userinfo and fragments are dropped from URLs; query parameters whose names look
like credentials (``api_key``, ``token``, ``access_token``, ``key``, ``secret``,
``password``, ``signature``, ``sig``, ``auth`` and anything containing ``token``,
``secret``, ``password``, ``auth``...) keep their name and lose their value; the
``Authorization``, ``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie`` headers (and
API-key style headers) are never shown. ``scrub`` removes a request's secrets from
arbitrary text, such as an exception message from a lower layer.
"""

from __future__ import annotations

from urllib.parse import unquote, unquote_to_bytes

import httpx

from .credentials import is_credential

__all__ = [
    "REDACTED",
    "SENSITIVE_HEADERS",
    "is_sensitive_header",
    "is_sensitive_param",
    "redact_headers",
    "redact_url",
    "scrub",
]

REDACTED = "[REDACTED]"

_SENSITIVE_NAMES = frozenset(
    {"key", "sig", "pwd", "pass", "code", "jwt", "otp", "pin", "ssn", "hmac", "nonce"}
)
_SENSITIVE_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "apikey",
    "api_key",
    "api-key",
    "auth",
    "credential",
    "session",
    "private",
    "cookie",
    "access_key",
    "accesskey",
)

SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "x-csrf-token",
        "x-xsrf-token",
        "x-amz-security-token",
    }
)


def is_sensitive_header(name: str) -> bool:
    """Whether a header of this name may carry a secret (never shown, scrubbed from text)."""
    lowered = name.lower()
    return lowered in SENSITIVE_HEADERS or is_credential(lowered)


def is_sensitive_param(name: str) -> bool:
    """Whether a query parameter of this name may carry a credential."""
    lowered = name.lower()
    return lowered in _SENSITIVE_NAMES or any(part in lowered for part in _SENSITIVE_PARTS)


def _redact_query(query: bytes) -> str:
    parts: list[str] = []
    for pair in query.decode("ascii", "replace").split("&"):
        name, sep, _ = pair.partition("=")
        if sep and is_sensitive_param(unquote(name)):
            parts.append(f"{name}={REDACTED}")
        else:
            parts.append(pair)
    return "&".join(parts)


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo or fragment, credential-like query values replaced."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        netloc = parsed.netloc.decode("ascii", "replace")
        path, _, _ = parsed.raw_path.decode("ascii", "replace").partition("?")
        query = parsed.query
    except (httpx.InvalidURL, ValueError, TypeError):
        return "<invalid URL>"
    text = f"{parsed.scheme}://{netloc}{path}" if parsed.scheme else f"{netloc}{path}"
    return f"{text}?{_redact_query(query)}" if query else text


def redact_headers(headers: httpx.Headers | dict[str, str]) -> dict[str, str]:
    """Headers as a plain dict with lower-case names, secrets replaced by ``[REDACTED]``."""
    items = headers.multi_items() if isinstance(headers, httpx.Headers) else headers.items()
    out: dict[str, str] = {}
    for name, value in items:
        lowered = name.lower()
        shown = REDACTED if is_sensitive_header(lowered) else value
        out[lowered] = f"{out[lowered]}, {shown}" if lowered in out else shown
    return out


def _secrets_of(request: httpx.Request) -> set[str]:
    secrets: set[str] = set()
    for name, value in request.headers.multi_items():
        if not is_sensitive_header(name):
            continue
        secrets.add(value)
        secrets.update(v for v in value.split(" ", 1)[1:])  # "Bearer <token>"
        for crumb in value.split(";"):  # cookies: name=value; name2=value2
            secrets.add(crumb.strip())
            secrets.add(crumb.partition("=")[2].strip())
    url = request.url
    password = url.password
    if password:
        secrets.add(password)
    for pair in url.query.decode("ascii", "replace").split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and is_sensitive_param(unquote(name)):
            secrets.add(value)
            secrets.add(unquote_to_bytes(value).decode("utf-8", "replace"))
    return {s for s in secrets if len(s) >= 4}


def scrub(text: str, request: httpx.Request | None) -> str:
    """``text`` with every secret of ``request`` (credential headers, password,
    credential-like query values) replaced by ``[REDACTED]``."""
    if request is None:
        return text
    for secret in sorted(_secrets_of(request), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
