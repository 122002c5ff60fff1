"""A caller's own conditional request, answered from a stored response (RFC 9111 4.3.2).

Pure functions, no I/O. When a GET or HEAD carries ``If-None-Match`` or
``If-Modified-Since`` and the cache holds a usable response, the cache evaluates the
precondition itself (RFC 9110 13.2.2) and answers ``304 Not Modified`` with the header
fields a 304 carries (RFC 9110 15.4.5), or the full stored response when the
precondition is true.
"""

from __future__ import annotations

import httpx

from .dates import parse_http_date
from .directives import ResponseInfo

__all__ = ["CONDITIONAL_FIELDS", "Precondition", "not_modified_headers"]

#: Request fields the cache evaluates for its caller.
CONDITIONAL_FIELDS = frozenset({b"if-none-match", b"if-modified-since"})
#: Fields a 304 repeats from the full response (RFC 9110 15.4.5), plus ``Last-Modified``
#: (it guides cache updates when there is no ``ETag``) and the cache's ``Age``.
_NOT_MODIFIED_FIELDS = frozenset(
    {
        b"cache-control",
        b"content-location",
        b"date",
        b"etag",
        b"expires",
        b"vary",
        b"last-modified",
        b"age",
    }
)


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


class Precondition:
    """The caller's ``If-None-Match`` / ``If-Modified-Since``, read once.

    Args:
        headers: the request headers.
    """

    __slots__ = ("if_modified_since", "if_none_match")

    def __init__(self, headers: httpx.Headers) -> None:
        tags = headers.get_list("if-none-match", split_commas=True)
        self.if_none_match: tuple[str, ...] | None = (
            tuple(_opaque(tag) for tag in tags if tag.strip()) if tags else None
        )
        since = headers.get("if-modified-since")
        self.if_modified_since = parse_http_date(since) if since is not None else None

    @property
    def present(self) -> bool:
        """Whether there is anything the cache must evaluate."""
        return self.if_none_match is not None or self.if_modified_since is not None

    def not_modified(self, info: ResponseInfo, response_time: float) -> bool:
        """Whether the stored response described by ``info`` answers with a 304.

        ``If-None-Match`` is evaluated with the weak comparison and, when present, the
        only one evaluated (RFC 9110 13.2.2); otherwise ``If-Modified-Since`` against the
        stored ``Last-Modified``, else its ``Date``, else when it was received (RFC 9111
        4.3.2). An invalid ``If-Modified-Since`` is ignored.
        """
        if self.if_none_match is not None:
            if "*" in self.if_none_match:
                return True
            return info.etag is not None and _opaque(info.etag) in self.if_none_match
        if self.if_modified_since is None:
            return False
        if info.last_modified is not None:
            modified = info.last_modified
        elif info.date is not None:
            modified = info.date
        else:
            modified = response_time
        return modified <= self.if_modified_since


def not_modified_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    """The header lines of a 304 built from a stored response's ``headers``."""
    return [(name, value) for name, value in headers.raw if name.lower() in _NOT_MODIFIED_FIELDS]
