"""Parsing of the response headers the cache rules read, tolerant of garbage.

``response_info`` reads a response's ``Cache-Control``, ``Date``, ``Age``, ``Expires``,
``Last-Modified``, ``ETag`` and ``Vary`` once into a ``ResponseInfo``; the rules in
``_policy`` then work on plain values. Nothing here raises on a bad header: an
unreadable number or date is taken in the sense that keeps a response from being
served fresh by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .._core.headers import header_items
from .dates import parse_http_date

if TYPE_CHECKING:  # shared by both faces: headers of httpx or httpx2
    from .._core.faces import AnyHeaders

__all__ = [
    "MAX_DELTA",
    "ResponseInfo",
    "delta_seconds",
    "header_items",
    "parse_directives",
    "response_info",
]

#: RFC 9111 1.2.2: delta-seconds too large to represent count as 2**31.
MAX_DELTA = 2_147_483_648.0


def _split(value: str) -> list[str]:
    """Split a directive list on commas that are not inside a quoted string."""
    if '"' not in value:
        return value.split(",")
    parts: list[str] = []
    start = 0
    quoted = escaped = False
    for i, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        escaped = False
        for char in inner:
            if char == "\\" and not escaped:
                escaped = True
                continue
            out.append(char)
            escaped = False
        return "".join(out)
    return value


def parse_directives(value: str | None) -> dict[str, str | None]:
    """Parse a ``Cache-Control`` value into ``{name: argument or None}``.

    Names are lower-cased; of repeated directives the first counts (RFC 9111 4.2.1).
    """
    directives: dict[str, str | None] = {}
    if not value:
        return directives
    for part in _split(value):
        name, sep, argument = part.partition("=")
        name = name.strip().lower()
        if not name or name in directives:
            continue
        directives[name] = _unquote(argument.strip()) if sep else None
    return directives


def delta_seconds(value: str | None) -> float | None:
    """A non-negative integer number of seconds, capped at 2**31; ``None`` if invalid."""
    if value is None:
        return None
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    return min(float(int(text[:12])), MAX_DELTA)


def _field_names(argument: str | None) -> tuple[str, ...]:
    if not argument:
        return ()
    return tuple(name.strip().lower() for name in argument.split(",") if name.strip())


_WANTED = frozenset(
    {b"cache-control", b"date", b"age", b"expires", b"last-modified", b"etag", b"vary"}
)


def _collect(headers: AnyHeaders) -> dict[bytes, list[str]]:
    found: dict[bytes, list[str]] = {}
    for _, name, value in header_items(headers):
        if name in _WANTED:
            found.setdefault(name, []).append(value.decode("latin-1"))
    return found


@dataclass(slots=True)
class ResponseInfo:
    """What the cache rules need from a response's headers (times in Unix seconds).

    Treated as read-only once built (not frozen: a frozen dataclass of this size costs
    several microseconds to build, on every miss).

    ``max_age`` / ``s_maxage`` are 0 when present but invalid (stale); ``expires_invalid``
    marks an ``Expires`` that is not exactly one strict HTTP-date (``0``, a lenient
    form such as ``UTC`` for ``GMT``, or several ``Expires`` lines), which means
    already expired. ``Date`` and ``Last-Modified`` are parsed as strictly; an invalid
    one counts as absent.
    """

    date: float | None = None
    age: float = 0.0
    max_age: float | None = None
    s_maxage: float | None = None
    expires: float | None = None
    expires_invalid: bool = False
    last_modified: float | None = None
    last_modified_raw: str | None = None
    etag: str | None = None
    vary: tuple[str, ...] = ()
    no_store: bool = False
    no_cache: bool = False
    no_cache_fields: tuple[str, ...] = ()
    private: bool = False
    private_fields: tuple[str, ...] = ()
    public: bool = False
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    stale_while_revalidate: float | None = None
    stale_if_error: float | None = None
    directives: dict[str, str | None] = field(default_factory=dict)


def _delta_or_zero(directives: dict[str, str | None], name: str) -> float | None:
    if name not in directives:
        return None
    value = delta_seconds(directives[name])
    return 0.0 if value is None else value


def _vary(lines: list[str] | None) -> tuple[str, ...]:
    if not lines:
        return ()
    names = {name.strip().lower() for line in lines for name in line.split(",") if name.strip()}
    return tuple(sorted(names))


def _first(found: dict[bytes, list[str]], name: bytes) -> str | None:
    values = found.get(name)
    return values[0].strip() if values else None


_NOTHING = ResponseInfo()


def response_info(headers: AnyHeaders) -> ResponseInfo:
    """Parse the caching-related headers of a response."""
    found = _collect(headers)
    if not found:
        return _NOTHING
    cc_lines = found.get(b"cache-control")
    cc = parse_directives(", ".join(cc_lines) if cc_lines else None)
    expires_lines = found.get(b"expires")
    # Several Expires lines are not one valid HTTP-date: already expired (RFC 9111 5.3).
    expires_raw = expires_lines[0] if expires_lines and len(expires_lines) == 1 else None
    expires = parse_http_date(expires_raw) if expires_raw is not None else None
    last_modified_raw = _first(found, b"last-modified")
    date_raw = _first(found, b"date")
    age_raw = _first(found, b"age")
    etag = _first(found, b"etag")
    no_cache_arg = cc.get("no-cache")
    private_arg = cc.get("private")
    swr = cc.get("stale-while-revalidate")
    sie = cc.get("stale-if-error")
    return ResponseInfo(
        date=parse_http_date(date_raw) if date_raw is not None else None,
        age=(delta_seconds(age_raw.split(",")[0]) or 0.0) if age_raw is not None else 0.0,
        max_age=_delta_or_zero(cc, "max-age"),
        s_maxage=_delta_or_zero(cc, "s-maxage"),
        expires=expires,
        expires_invalid=bool(expires_lines) and expires is None,
        last_modified=parse_http_date(last_modified_raw) if last_modified_raw else None,
        last_modified_raw=last_modified_raw or None,
        etag=etag or None,
        vary=_vary(found.get(b"vary")),
        no_store="no-store" in cc,
        no_cache="no-cache" in cc and not _field_names(no_cache_arg),
        no_cache_fields=_field_names(no_cache_arg),
        private="private" in cc and not _field_names(private_arg),
        private_fields=_field_names(private_arg),
        public="public" in cc,
        must_revalidate="must-revalidate" in cc,
        proxy_revalidate="proxy-revalidate" in cc,
        stale_while_revalidate=delta_seconds(swr) if "stale-while-revalidate" in cc else None,
        stale_if_error=delta_seconds(sie) if "stale-if-error" in cc else None,
        directives=cc,
    )
