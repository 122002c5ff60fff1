"""Server rate-limit hints turned into a pause, tolerant of garbage.

Understood, on any response:

- ``RateLimit`` (IETF draft-08 and later): a list of ``"name";r=<remaining>;t=<reset>``
  items; an item with ``r=0`` and no ``t`` takes ``w`` of the same-named item of
  ``RateLimit-Policy`` (``"name";q=<quota>;w=<window>``).
- ``RateLimit`` (drafts 03-07): a dictionary ``limit=10, remaining=0, reset=5``.
- ``RateLimit-Remaining`` + ``RateLimit-Reset`` (drafts 00-02): reset in seconds.
- ``X-RateLimit-Remaining`` + ``X-RateLimit-Reset``: the reset is a delay in seconds
  when below 10^9, a Unix timestamp otherwise (in milliseconds from 10^12 on).

and on 429 and 503 responses ``Retry-After`` (``_core.headers.parse_retry_after``). A quota is
exhausted when its remaining count is 0; on a 429 a reset given without a remaining
count counts too. Malformed values are skipped, never raised.
"""

from __future__ import annotations

import re

import httpx

from .._core.headers import parse_retry_after

__all__ = ["has_hints", "hinted_pause", "server_pause"]

_NAMES = frozenset({b"ratelimit", b"ratelimit-remaining", b"x-ratelimit-remaining"})
_LENGTHS = frozenset(len(name) for name in _NAMES)
_NUMBER = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,9})?")
_EPOCH = 1e9
_EPOCH_MS = 1e12


def has_hints(headers: httpx.Headers) -> bool:
    """Whether ``headers`` carry a remaining-quota hint (one cheap pass over the names).

    This runs on every response, so it reads the lower-cased names httpx keeps in
    ``Headers._list`` (httpx 0.2x and httpx2 alike), which saves about 1 µs over
    ``.raw`` (a copy); it falls back to ``.raw`` should that ever change.
    """
    entries = getattr(headers, "_list", None)
    if isinstance(entries, list):
        try:
            for _, name, _ in entries:
                if name in _NAMES:
                    return True
        except (TypeError, ValueError):
            pass
        else:
            return False
    return any(len(name) in _LENGTHS and name.lower() in _NAMES for name, _ in headers.raw)


def number(text: str) -> float | None:
    text = text.strip()
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if _NUMBER.fullmatch(text) is None:
        return None
    return float(text)


def _spent(remaining: str | None, exhausted: bool) -> bool:
    """Whether a quota is used up: remaining 0, or none given and the status says so."""
    return exhausted if remaining is None else number(remaining) == 0


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    parts: list[str] = []
    start = 0
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _members(headers: httpx.Headers, name: str) -> list[tuple[str, dict[str, str]]]:
    """Parse a structured-field list into ``(item, {param: value})`` pairs, leniently."""
    members: list[tuple[str, dict[str, str]]] = []
    for line in headers.get_list(name):
        for member in _split(line, ","):
            item, *params = _split(member, ";")
            values: dict[str, str] = {}
            for param in params:
                key, _, value = param.partition("=")
                values[key.strip().lower()] = value.strip()
            members.append((item.strip(), values))
    return members


def _structured_pause(headers: httpx.Headers, exhausted: bool) -> float | None:
    members = _members(headers, "ratelimit")
    dictionary = {
        item.partition("=")[0].strip().lower(): item.partition("=")[2]
        for item, _ in members
        if "=" in item and not item.startswith('"')
    }
    if dictionary:  # drafts 03-07: limit=.., remaining=.., reset=..
        if not _spent(dictionary.get("remaining"), exhausted):
            return None
        return number(dictionary.get("reset", ""))
    windows: dict[str, float] | None = None
    pause: float | None = None
    for item, params in members:
        if not _spent(params.get("r"), exhausted):
            continue
        reset = number(params.get("t", ""))
        if reset is None:
            if windows is None:
                windows = {
                    name: window
                    for name, p in _members(headers, "ratelimit-policy")
                    if (window := number(p.get("w", ""))) is not None
                }
            reset = windows.get(item)
        if reset is not None and (pause is None or reset > pause):
            pause = reset
    return pause


def _reset_pause(
    headers: httpx.Headers, prefix: str, wall_now: float, exhausted: bool
) -> float | None:
    if not _spent(headers.get(f"{prefix}-remaining"), exhausted):
        return None
    reset = number(headers.get(f"{prefix}-reset", ""))
    if reset is None:
        return None
    if prefix == "x-ratelimit" and reset >= _EPOCH:
        epoch = reset / 1000.0 if reset >= _EPOCH_MS else reset
        return max(0.0, epoch - wall_now)
    return reset


def hinted_pause(
    headers: httpx.Headers, wall_now: float, *, exhausted: bool = False
) -> float | None:
    """Seconds until the server's reset if a hint shows a quota exhausted, else ``None``.

    Of several exhausted quotas the latest reset counts.

    Args:
        headers: the response headers.
        wall_now: the current Unix time, for epoch resets.
        exhausted: the status already says so (429): a reset given without a remaining
            count counts too (one with a remaining count above 0 still does not).
    """
    pause: float | None = None
    for found in (
        _structured_pause(headers, exhausted),
        _reset_pause(headers, "ratelimit", wall_now, exhausted),
        _reset_pause(headers, "x-ratelimit", wall_now, exhausted),
    ):
        if found is not None and (pause is None or found > pause):
            pause = found
    return pause


def server_pause(status: int, headers: httpx.Headers, wall_now: float) -> float | None:
    """The pause a response asks for: ``Retry-After`` (429/503) or an exhausted hint.

    Returns the longest of those found, uncapped (each limit caps it at ``max_pause``),
    or ``None`` when the response asks for none.
    """
    pause = parse_retry_after(headers, wall_now) if status in (429, 503) else None
    hinted = hinted_pause(headers, wall_now, exhausted=status == 429)
    if hinted is not None and (pause is None or hinted > pause):
        pause = hinted
    return pause
