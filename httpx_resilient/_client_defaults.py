"""Defaults of ``RateLimitedAPIClient`` that must survive a real server.

The queue is on by default with the pool's ``max_connections`` as its ceiling, and the
default timeout has no pool bound: requests wait in the queue (the bulkhead, bounded
by ``max_queue_size`` and ``queue_timeout``) rather than time out in httpx's pool, so
client-side congestion never reaches the server's circuit breaker as failures.
"""

from __future__ import annotations

from typing import Any

import httpx

from ._queue.config import QueueConfig

__all__ = ["DEFAULT_QUEUE", "DEFAULT_TIMEOUT", "NETWORK_ARGS", "default_queue"]

# httpx.AsyncClient arguments that configure the network transport. With transport=
# httpx ignores them (and would mount a proxy transport that bypasses the stack), so
# they go to the stack instead; trust_env also stays with the client (.netrc).
NETWORK_ARGS = ("verify", "cert", "http1", "http2", "limits", "proxy", "trust_env", "retries")


class _Default:
    """Marks an argument the caller did not give."""

    def __repr__(self) -> str:
        return "<default>"


DEFAULT_QUEUE: Any = _Default()

# The facade's default timeout: no pool bound, because its queue is the bulkhead.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, pool=None)


def default_queue(limits: object) -> QueueConfig:
    """A queue whose ceiling is the pool's ``max_connections`` (100 when unset/None)."""
    ceiling = limits.max_connections if isinstance(limits, httpx.Limits) else None
    return QueueConfig(max_concurrency=ceiling if ceiling is not None else 100)
