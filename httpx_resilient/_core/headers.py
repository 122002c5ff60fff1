"""Parsing of server timing hints (``Retry-After``), tolerant of garbage.

Malformed values are ignored (``None``), never raised, so a bad header from a server
can't break a request.
"""

from __future__ import annotations

import email.utils
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .faces import AnyHeaders

__all__ = ["header_items", "http_date", "parse_retry_after"]


def http_date(value: str) -> float | None:
    """Parse an HTTP-date into Unix seconds, or ``None`` if it is not one."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        return parsed.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _delta_seconds(value: str) -> float | None:
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        return None
    seconds = float(int(text[:20]))  # far beyond any cap, and bounded in size
    return seconds if math.isfinite(seconds) else None


def parse_retry_after(headers: AnyHeaders, wall_now: float) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP-date), or ``None``.

    Of several ``Retry-After`` headers the first well-formed one counts. A date in the
    past means 0. The caller caps the result (``max_pause`` / ``max_retry_after``).

    Args:
        headers: the response headers.
        wall_now: the current Unix time, to turn a date into a delay.
    """
    for value in headers.get_list("retry-after"):
        delay = _delta_seconds(value)
        if delay is not None:
            return delay
        when = http_date(value.strip())
        if when is not None:
            return max(0.0, when - wall_now)
    return None


def header_items(headers: AnyHeaders) -> list[tuple[bytes, bytes, bytes]]:
    """``(raw name, lower-case name, value)`` for each header line, in order.

    httpx keeps exactly these triples; reading them saves a copy and a ``lower()`` per
    line on hot paths. Falls back to the public API if that ever changes.
    """
    items = getattr(headers, "_list", None)
    if isinstance(items, list) and (not items or len(items[0]) == 3):
        return items
    return [(name, name.lower(), value) for name, value in headers.raw]
