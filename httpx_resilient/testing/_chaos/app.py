"""The chaos server's behaviour: routing and seeded faults, with no I/O.

``ChaosApp.handle(method, target, headers, now)`` returns a ``Reply`` that says what to
send (status, headers, body), how long to wait first, how to dribble the body, or to
drop the connection; ``server.py`` does the sockets. Each endpoint draws from its own
``random.Random`` seeded from the app's seed and the endpoint's name, so one seed gives
the same behaviour per endpoint whatever other traffic interleaves.

Endpoints (any method; every query parameter is optional):

- ``/ok``: 200.
- ``/latency?ms=N``: 200 after N ms (default 100).
- ``/flaky?fail=P``: 502/503/504 with probability P (default 0.3), else 200.
- ``/burst?every=N&length=M``: of every N requests, the last M get 503 (20, 5).
- ``/ratelimited``: a server-side token bucket (``rate``/s, ``rate_burst``); 429 with
  ``Retry-After`` when empty; ``RateLimit``, ``RateLimit-Policy`` and ``X-RateLimit-*``
  headers on every answer.
- ``/reset?p=P``: drops the connection with probability P (default 1), else 200.
- ``/cacheable?max_age=N``: 200 with ``Cache-Control: max-age=N`` (default 60); the
  body counts the hits that reached the server.
- ``/etag?key=K``: 200 with an ``ETag`` and ``Cache-Control: no-cache``; 304 when
  ``If-None-Match`` matches.
- ``/slow-body?chunks=N&delay_ms=D&size=S``: S bytes (1024) in N chunks (8), D ms
  (50) apart.
- ``/items/{id}``: JSON for the item (fixed by seed and id), after a seeded 5-30 ms.
- ``/stats``: JSON of what the server saw (not counted itself); ``/`` lists endpoints.

With ``quota=`` the whole server also takes only so many requests per second: beyond
it every endpoint answers 429 with ``Retry-After`` and RateLimit headers.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

from ..._core.outcomes import ConfigError
from ..._core.validate import int_at_least, positive
from .reply import BadRequest, Reply, TokenBucket, json_reply, param

__all__ = ["ENDPOINTS", "ChaosApp"]

ENDPOINTS = (
    "/ok",
    "/latency",
    "/flaky",
    "/burst",
    "/ratelimited",
    "/reset",
    "/cacheable",
    "/etag",
    "/slow-body",
    "/items/{id}",
    "/stats",
)
_ITEM_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_MS = 30_000


class _Call(NamedTuple):
    """One request as a route sees it."""

    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    now: float


def _dispatch(route: Callable[[_Call], Reply] | None, call: _Call) -> Reply:
    if route is None:
        return json_reply(404, {"error": "no such endpoint", "endpoints": ENDPOINTS})
    try:
        return route(call)
    except BadRequest as exc:
        return json_reply(400, {"error": str(exc)})


class ChaosApp:
    """Routing and seeded behaviour of the chaos server; counts what it saw.

    Args:
        seed: seeds every endpoint's random draws (default 0).
        rate: ``/ratelimited`` tokens per second (default 10).
        rate_burst: ``/ratelimited`` bucket capacity (default 5); the bucket starts full.
        quota: if set, requests per second the whole server accepts (every endpoint
            but ``/stats``); beyond it, 429 with ``Retry-After`` and RateLimit headers.
        quota_burst: the quota's bucket capacity (default: ``quota``, at least 1).

    Raises:
        ConfigError: an argument is out of range.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        rate: float = 10.0,
        rate_burst: int = 5,
        quota: float | None = None,
        quota_burst: int | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError("ChaosApp.seed", f"must be an integer, got {seed!r}")
        positive("ChaosApp", "rate", rate)
        int_at_least("ChaosApp", "rate_burst", rate_burst, 1)
        self.seed = seed
        self._bucket = TokenBucket("ratelimited", float(rate), rate_burst)
        self._quota: TokenBucket | None = None
        if quota is not None:
            positive("ChaosApp", "quota", quota)
            if quota_burst is None:
                quota_burst = max(1, math.ceil(quota))
            int_at_least("ChaosApp", "quota_burst", quota_burst, 1)
            self._quota = TokenBucket("quota", float(quota), quota_burst)
        self._random: dict[str, random.Random] = {}
        self.requests = 0
        self.connections = 0
        self.endpoints: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.resets = 0
        self.rate_limited = 0
        self.not_modified = 0
        self._routes: dict[str, Callable[[_Call], Reply]] = {
            "/ok": self._ok,
            "/latency": self._latency,
            "/flaky": self._flaky,
            "/burst": self._burst,
            "/ratelimited": self._ratelimited,
            "/reset": self._reset,
            "/cacheable": self._cacheable,
            "/etag": self._etag,
            "/slow-body": self._slow_body,
            "/items": self._item,
        }

    def rng(self, endpoint: str) -> random.Random:
        """The random stream of one endpoint, seeded from the seed and its name."""
        stream = self._random.get(endpoint)
        if stream is None:
            stream = self._random[endpoint] = random.Random(f"{self.seed}:{endpoint}")
        return stream

    def stats(self) -> dict[str, object]:
        """What the server saw: totals, per endpoint and per status (``/stats`` sends it)."""
        return {
            "requests": self.requests,
            "connections": self.connections,
            "endpoints": dict(sorted(self.endpoints.items())),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "resets": self.resets,
            "rate_limited": self.rate_limited,
            "not_modified": self.not_modified,
        }

    def handle(self, method: str, target: str, headers: Mapping[str, str], now: float) -> Reply:
        """Decide the reply to one request.

        Args:
            method: the request method (every endpoint accepts any method).
            target: the request target, path and query.
            headers: request headers, names in lower case.
            now: the server's monotonic time in seconds (for the rate limiter).
        """
        split = urlsplit(target)
        path = split.path
        if path == "/stats":
            return json_reply(200, self.stats(), ("cache-control", "no-store"))
        if path == "/":
            return json_reply(200, {"endpoints": ENDPOINTS})
        endpoint = "/items" if path.startswith("/items/") else path
        route = self._routes.get(endpoint)
        if route is None:
            endpoint = "(unknown)"
        self.requests += 1
        self.endpoints[endpoint] += 1
        reply = self._over_quota(now) or _dispatch(
            route, _Call(path, parse_qs(split.query), headers, now)
        )
        if reply.reset:
            self.resets += 1
        else:
            self.statuses[reply.status] += 1
        return reply

    def _ok(self, call: _Call) -> Reply:
        return json_reply(200, {"status": "ok"})

    def _latency(self, call: _Call) -> Reply:
        ms = param(call.query, "ms", 100, 0, _MAX_MS)
        return replace(json_reply(200, {"latency_ms": int(ms)}), delay=ms / 1000)

    def _flaky(self, call: _Call) -> Reply:
        fail = param(call.query, "fail", 0.3, 0, 1)
        rng = self.rng("/flaky")
        failed, status = rng.random() < fail, rng.choice((502, 503, 504))
        if failed:
            return json_reply(status, {"error": "flaky upstream"})
        return json_reply(200, {"status": "ok"})

    def _burst(self, call: _Call) -> Reply:
        every = int(param(call.query, "every", 20, 1, 1_000_000))
        length = min(every, int(param(call.query, "length", 5, 0, 1_000_000)))
        n = self.endpoints["/burst"] - 1  # this request's number, from 0
        if n % every >= every - length:
            return json_reply(503, {"error": "burst of failures"})
        return json_reply(200, {"status": "ok"})

    def _over_quota(self, now: float) -> Reply | None:
        """A 429 when the server-wide quota is spent, else ``None``."""
        if self._quota is None:
            return None
        allowed, headers = self._quota.take(now)
        if allowed:
            return None
        self.rate_limited += 1
        return json_reply(429, {"error": "over the server's quota"}, *headers)

    def _ratelimited(self, call: _Call) -> Reply:
        allowed, headers = self._bucket.take(call.now)
        if allowed:
            return json_reply(200, {"status": "ok"}, *headers)
        self.rate_limited += 1
        return json_reply(429, {"error": "rate limited"}, *headers)

    def _reset(self, call: _Call) -> Reply:
        p = param(call.query, "p", 1.0, 0, 1)
        if self.rng("/reset").random() < p:
            return Reply(reset=True)
        return json_reply(200, {"status": "ok"})

    def _cacheable(self, call: _Call) -> Reply:
        max_age = int(param(call.query, "max_age", 60, 0, 31_536_000))
        hits = self.endpoints["/cacheable"]
        return json_reply(200, {"hits": hits}, ("cache-control", f"max-age={max_age}"))

    def _etag(self, call: _Call) -> Reply:
        key = call.query.get("key", [""])[0][:64]
        digest = hashlib.blake2b(f"{self.seed}:{key}".encode(), digest_size=8).hexdigest()
        etag = f'"{digest}"'
        validators = (("etag", etag), ("cache-control", "no-cache"))
        candidates = {
            c.strip().removeprefix("W/") for c in call.headers.get("if-none-match", "").split(",")
        }
        if etag in candidates or "*" in candidates:
            self.not_modified += 1
            return Reply(304, validators)
        return json_reply(200, {"key": key, "version": digest}, *validators)

    def _slow_body(self, call: _Call) -> Reply:
        chunks = int(param(call.query, "chunks", 8, 1, 1000))
        delay_ms = param(call.query, "delay_ms", 50, 0, 10_000)
        size = int(param(call.query, "size", 1024, 0, 1_048_576))
        body = b"x" * size
        content_type = ("content-type", "application/octet-stream")
        return Reply(200, (content_type,), body, chunks=chunks, chunk_delay=delay_ms / 1000)

    def _item(self, call: _Call) -> Reply:
        item_id = call.path[len("/items/") :]
        if not _ITEM_ID.fullmatch(item_id):
            return json_reply(404, {"error": "no such item"})
        seeded = random.Random(f"{self.seed}:item:{item_id}")
        item = {
            "id": item_id,
            "name": f"item {item_id}",
            "price": round(seeded.uniform(1, 500), 2),
            "stock": seeded.randrange(0, 1000),
        }
        delay = self.rng("/items").uniform(0.005, 0.030)
        return replace(json_reply(200, item), delay=delay)
