"""RFC 9111 freshness rules as plain functions of parsed headers and float times.

No I/O, no awaits. The transport asks this module whether a response may be stored
(``storable``), how old and how fresh a stored response is (``Stored``), what to do with
it for a request (``decide``) and whether a stale one may stand in for an error
(``stale_if_error_allows``). Header-field rules (what is stored, what a 304 updates,
validators, invalidation) live in ``_fields``. Times are wall seconds (Unix epoch), so
entries written by one process make sense to another. Doubtful values err towards
"stale".
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .directives import ResponseInfo, delta_seconds, parse_directives

__all__ = [
    "CACHEABLE_METHODS",
    "ERROR_STATUSES",
    "HEURISTIC_STATUSES",
    "NO_DIRECTIVES",
    "SAFE_METHODS",
    "Decision",
    "RequestDirectives",
    "Stored",
    "decide",
    "error_must_be_504",
    "storable",
    "stale_if_error_allows",
]

CACHEABLE_METHODS = frozenset({"GET", "HEAD"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Statuses cacheable by default (RFC 9110 15.1): eligible for heuristic freshness.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
#: Statuses this cache understands (RFC 9110 15): what ``must-understand`` asks about.
UNDERSTOOD_STATUSES = frozenset(
    {200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308}
    | set(range(400, 418))
    | {421, 422, 426}
    | set(range(500, 506))
)
#: Statuses that count as an error for ``stale-if-error`` (RFC 5861 4).
ERROR_STATUSES = frozenset({500, 502, 503, 504})


class Decision(enum.Enum):
    """What to do with a stored response for one request."""

    FRESH = "fresh"  # serve it
    STALE = "stale"  # serve it although stale: the request's max-stale allows it
    STALE_WHILE_REVALIDATE = "stale-while-revalidate"  # serve it, refresh in background
    REVALIDATE = "revalidate"  # validate with the origin first


@dataclass(frozen=True, slots=True)
class RequestDirectives:
    """The request's ``Cache-Control`` (and ``Pragma: no-cache``), RFC 9111 5.2.1."""

    no_cache: bool = False
    no_store: bool = False
    max_age: float | None = None
    max_stale: float | None = None  # math.inf for a bare ``max-stale``
    min_fresh: float | None = None
    only_if_cached: bool = False
    stale_if_error: float | None = None

    @classmethod
    def parse(cls, cache_control: str | None, pragma: str | None = None) -> RequestDirectives:
        """Parse the request's header values; an invalid number errs towards validating."""
        cc = parse_directives(cache_control)
        no_cache = "no-cache" in cc
        if cache_control is None and pragma is not None:
            no_cache = "no-cache" in parse_directives(pragma)
        max_stale: float | None = None
        if "max-stale" in cc:
            raw = cc["max-stale"]
            max_stale = math.inf if raw is None else delta_seconds(raw)
        min_fresh = delta_seconds(cc["min-fresh"]) if "min-fresh" in cc else None
        return cls(
            no_cache=no_cache,
            no_store="no-store" in cc,
            max_age=(_or_zero(delta_seconds(cc["max-age"])) if "max-age" in cc else None),
            max_stale=max_stale,
            min_fresh=math.inf if "min-fresh" in cc and min_fresh is None else min_fresh,
            only_if_cached="only-if-cached" in cc,
            stale_if_error=(
                delta_seconds(cc["stale-if-error"]) if "stale-if-error" in cc else None
            ),
        )


NO_DIRECTIVES = RequestDirectives()


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value


@dataclass(slots=True)
class Stored:
    """A stored (or storable) response as the rules see it: status, headers, times.

    Attributes:
        status: the response status.
        info: its parsed headers.
        request_time: wall time the request that produced it was sent.
        response_time: wall time the response was received.
    """

    status: int
    info: ResponseInfo
    request_time: float
    response_time: float

    @property
    def initial_age(self) -> float:
        """``corrected_initial_age`` of RFC 9111 4.2.3."""
        info = self.info
        date = info.date if info.date is not None else self.response_time
        apparent_age = max(0.0, self.response_time - date)
        response_delay = max(0.0, self.response_time - self.request_time)
        return max(apparent_age, info.age + response_delay)

    def age(self, now: float) -> float:
        """``current_age`` at wall time ``now`` (RFC 9111 4.2.3)."""
        return self.initial_age + max(0.0, now - self.response_time)

    def lifetime(self, *, shared: bool, heuristic_fraction: float) -> float:
        """Freshness lifetime in seconds (RFC 9111 4.2.1 and 4.2.2)."""
        info = self.info
        if shared and info.s_maxage is not None:
            return info.s_maxage
        if info.max_age is not None:
            return info.max_age
        if info.expires_invalid:
            return 0.0
        date = info.date if info.date is not None else self.response_time
        if info.expires is not None:
            return max(0.0, info.expires - date)
        if info.last_modified is not None and (self.status in HEURISTIC_STATUSES or info.public):
            return max(0.0, (date - info.last_modified) * heuristic_fraction)
        return 0.0

    def fresh_until(self, *, shared: bool, heuristic_fraction: float) -> float:
        """Wall time until which it is fresh for a request without directives.

        ``-inf`` if it is never served without validation. For such requests,
        ``decide`` returns ``FRESH`` exactly when ``now < fresh_until``.
        """
        if self.info.no_cache:
            return -math.inf
        margin = self.lifetime(shared=shared, heuristic_fraction=heuristic_fraction)
        margin -= self.initial_age
        return self.response_time + margin if margin > 0 else -math.inf

    def stale_prohibited(self, *, shared: bool) -> bool:
        """Whether it may never be served stale (RFC 9111 4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10)."""
        info = self.info
        return (
            info.no_cache
            or info.must_revalidate
            or (shared and (info.proxy_revalidate or info.s_maxage is not None))
        )


def decide(
    stored: Stored,
    request: RequestDirectives,
    now: float,
    *,
    shared: bool,
    heuristic_fraction: float,
) -> Decision:
    """Choose between serving ``stored`` and validating it first (RFC 9111 4.2, 5.2)."""
    if request.no_cache or stored.info.no_cache:
        return Decision.REVALIDATE
    age = stored.age(now)
    if request.max_age is not None and age > request.max_age:
        return Decision.REVALIDATE
    remaining = stored.lifetime(shared=shared, heuristic_fraction=heuristic_fraction) - age
    if request.min_fresh is not None and remaining < request.min_fresh:
        return Decision.REVALIDATE
    if remaining > 0:
        return Decision.FRESH
    if stored.stale_prohibited(shared=shared):
        return Decision.REVALIDATE
    staleness = -remaining
    if request.max_stale is not None and staleness <= request.max_stale:
        return Decision.STALE
    swr = stored.info.stale_while_revalidate
    if swr is not None and staleness <= swr:
        return Decision.STALE_WHILE_REVALIDATE
    return Decision.REVALIDATE


def stale_if_error_allows(
    stored: Stored,
    request: RequestDirectives,
    now: float,
    *,
    shared: bool,
    heuristic_fraction: float,
) -> bool:
    """Whether ``stored`` may answer in place of an error (RFC 5861 4)."""
    if request.no_cache or stored.stale_prohibited(shared=shared):
        return False
    windows = [w for w in (stored.info.stale_if_error, request.stale_if_error) if w is not None]
    if not windows:
        return False
    lifetime = stored.lifetime(shared=shared, heuristic_fraction=heuristic_fraction)
    return stored.age(now) - lifetime <= max(windows)


def error_must_be_504(stored: Stored, *, shared: bool) -> bool:
    """Whether an unreachable origin must become a 504 for ``stored`` (RFC 9111 4.2.4).

    True for ``must-revalidate`` and, in a shared cache, ``proxy-revalidate`` and
    ``s-maxage`` (5.2.2.2, 5.2.2.8, 5.2.2.10): the cache must not serve it stale and
    must answer with an error. Other stale responses let the network error through
    unchanged, as the layers below raised it.
    """
    info = stored.info
    return info.must_revalidate or (shared and (info.proxy_revalidate or info.s_maxage is not None))


def storable(
    method: str,
    stored: Stored,
    request: RequestDirectives,
    *,
    shared: bool,
    has_authorization: bool,
    heuristic_fraction: float,
) -> bool:
    """Whether a response may be stored (RFC 9111 3, 3.5) and is worth storing.

    Worth storing: it is fresh for a while, or it can be revalidated.
    """
    info = stored.info
    status = stored.status
    if method not in CACHEABLE_METHODS or status < 200 or status in (206, 304):
        return False
    if "must-understand" in info.directives:
        # RFC 9111 5.2.2.3: store only statuses we understand, and then no-store yields.
        if status not in UNDERSTOOD_STATUSES:
            return False
    elif info.no_store:
        return False
    if request.no_store or "*" in info.vary:
        return False
    if shared and info.private:
        return False
    if (
        shared
        and has_authorization
        and not (info.public or info.must_revalidate or info.s_maxage is not None)
    ):
        return False
    allowed = (
        info.public
        or (info.private and not shared)
        or info.expires is not None
        or info.expires_invalid
        or info.max_age is not None
        or (shared and info.s_maxage is not None)
        or status in HEURISTIC_STATUSES
    )
    if not allowed:
        return False
    lifetime = stored.lifetime(shared=shared, heuristic_fraction=heuristic_fraction)
    return lifetime > 0 or info.etag is not None or info.last_modified is not None
