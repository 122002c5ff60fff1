"""Redaction of URLs, headers and messages before they reach a log, label or error.

Rules: userinfo and fragments are dropped from URLs; query parameters whose names look
like credentials (``api_key``, ``token``, ``access_token``, ``key``, ``secret``,
``password``, ``signature``, ``sig``, ``auth`` and anything containing ``token``,
``secret``, ``password``, ``auth``...) keep their name and lose their value; the
``Authorization``, ``Proxy-Authorization``, ``Cookie`` and ``Set-Cookie`` headers (and
API-key style headers) are never shown. ``scrub`` removes a request's secrets from
arbitrary text, such as an exception message from a lower layer.

Every log record of ours goes through ``RedactingFilter`` (installed on each of the
package's loggers by ``install_log_redaction``): its message, its string ``extra``
fields and its traceback are passed through ``redact_text``, which rewrites URLs (as
``redact_url``), credential-like ``name=value`` pairs, ``Bearer``/``Basic`` tokens and
``Header: value`` pairs of credential headers. A traceback is formatted and redacted
once and kept as ``exc_text``; the raw ``exc_info`` is dropped from the record, so a
handler can't format the unredacted exception message itself.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, unquote_to_bytes, urlsplit

if TYPE_CHECKING:
    import httpx
    import httpx2

    from .faces import AnyHeaders, AnyRequest

from .credentials import is_credential

__all__ = [
    "LOGGERS",
    "REDACTED",
    "RedactingFilter",
    "install_log_redaction",
    "redact_text",
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


def redact_url(url: httpx.URL | httpx2.URL | str) -> str:
    """``url`` without userinfo or fragment, credential-like query values replaced.

    A URL object of either face is read through the attributes both have; a string is
    split with the standard library, so this module imports neither package.
    """
    try:
        if isinstance(url, str):
            split = urlsplit(url)
            split.port  # noqa: B018 (raises ValueError on a bad port, as httpx.URL does)
            scheme, netloc = split.scheme, split.netloc.rpartition("@")[2].lower()
            path = quote(split.path, safe="/%:@!$&'()*+,;=~") or ("/" if netloc else "")
            query = quote(split.query, safe="/%:@!$&'()*+,;=?~").encode("ascii")
        else:
            scheme = url.scheme
            netloc = url.netloc.decode("ascii", "replace")
            path, _, _ = url.raw_path.decode("ascii", "replace").partition("?")
            query = url.query
    except (ValueError, TypeError, AttributeError):
        return "<invalid URL>"
    text = f"{scheme}://{netloc}{path}" if scheme else f"{netloc}{path}"
    return f"{text}?{_redact_query(query)}" if query else text


def redact_headers(headers: AnyHeaders | dict[str, str]) -> dict[str, str]:
    """Headers as a plain dict with lower-case names, secrets replaced by ``[REDACTED]``."""
    items = headers.items() if isinstance(headers, dict) else headers.multi_items()
    out: dict[str, str] = {}
    for name, value in items:
        lowered = name.lower()
        shown = REDACTED if is_sensitive_header(lowered) else value
        out[lowered] = f"{out[lowered]}, {shown}" if lowered in out else shown
    return out


def _secrets_of(request: AnyRequest) -> set[str]:
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


def scrub(text: str, request: AnyRequest | None) -> str:
    """``text`` with every secret of ``request`` (credential headers, password,
    credential-like query values) replaced by ``[REDACTED]``."""
    if request is None:
        return text
    for secret in sorted(_secrets_of(request), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
_USERINFO = re.compile(r"(://)[^/@\s]*@")
_PAIR = re.compile(r"(?<![\w%\-])([A-Za-z0-9_.\-]+)=([^\s&'\",;)\]}]+)")
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{4,}")
_SCHEMES = frozenset({"bearer", "basic", "token"})
_HEADER = re.compile(r"(?i)(?<![\w\-])([A-Za-z0-9\-]+)(['\"]?\s*:\s*['\"]?)([^\s'\",}]+)")


def _url(match: re.Match[str]) -> str:
    text = match.group(0)
    cleaned = redact_url(text)
    return cleaned if cleaned != "<invalid URL>" else _USERINFO.sub(r"\1", text)


def _pair(match: re.Match[str]) -> str:
    name, value = match.groups()
    if value.startswith("[REDACTED") or not is_sensitive_param(name):
        return match.group(0)
    return f"{name}={REDACTED}"


def _header(match: re.Match[str]) -> str:
    name, glue, value = match.groups()
    if value.startswith("[REDACTED") or value.lower() in _SCHEMES:
        return match.group(0)  # done already, or "Bearer [REDACTED]"
    if not is_sensitive_header(name):
        return match.group(0)
    return f"{name}{glue}{REDACTED}"


def redact_text(text: str) -> str:
    """``text`` with URLs redacted and credential-looking values replaced, wherever they
    stand (a log message, an exception message, a formatted traceback)."""
    if "://" in text:
        text = _URL.sub(_url, text)
    if "=" in text:
        text = _PAIR.sub(_pair, text)
    text = _SCHEME_TOKEN.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if ":" in text:
        text = _HEADER.sub(_header, text)
    return text


_FORMATTER = logging.Formatter()
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class RedactingFilter(logging.Filter):
    """Redacts a record's message, string extras and traceback (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_httpx_resilient_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to logging's own report
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info is not None and record.exc_info[0] is not None:
            record.exc_text = redact_text(_FORMATTER.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD and isinstance(value, str):
                setattr(record, name, redact_text(value))
        record._httpx_resilient_redacted = True
        return True


#: The package's loggers (a filter applies only to records logged on its own logger,
#: not to those propagated from a child, so each gets one).
LOGGERS = ("httpx_resilient", "httpx_resilient.cache", "httpx_resilient.chaos")

_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Put ``RedactingFilter`` on each of ``LOGGERS`` (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
