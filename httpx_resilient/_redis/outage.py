"""``Outage``: one Redis server's reachability, shared by everything that talks to it.

A frozen Redis (SIGSTOP, a partition) does not refuse: each call waits for the client's
operation timeout. So after a failure every user of the same connection (the rate
limiter, the breaker and the cache storage built on one ``RedisBackend``) skips Redis
for a backoff period measured from the moment the failure was seen (after the timeout,
not before it), and only one caller at a time probes Redis once the period is over.
A frozen Redis then costs one timeout window per backoff period, whatever the request
rate; a killed Redis (connection refused) costs nothing more than before.

Times are this object's own clock (the system's by default): the failure is timed
after the network wait, which a caller's ``now`` taken before the call cannot tell.
"""

from __future__ import annotations

import logging
import weakref

from .._core.clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_BACKOFF", "Outage", "shared_outage"]

logger = logging.getLogger("httpx_resilient")

DEFAULT_BACKOFF = 5.0
"""Seconds Redis is skipped after a failure, unless configured (at least 5x the timeout)."""


class Outage:
    """Whether to call Redis now, and the bookkeeping of failures and recoveries.

    Args:
        backoff: seconds to skip Redis after a failed call (measured from the failure).
        timeout: the operation timeout (seconds): how long a probe may take before
            another caller may probe in its place.
        clock: where time is read (tests pass a ``FakeClock``).
        description: the server, for logs (never with a password).
    """

    __slots__ = (
        "backoff",
        "clock",
        "description",
        "down",
        "errors",
        "failed_at",
        "last",
        "outages",
        "retry_at",
        "timeout",
    )

    def __init__(
        self, *, backoff: float, timeout: float, clock: Clock = SYSTEM_CLOCK, description: str
    ) -> None:
        self.backoff = backoff
        self.timeout = timeout
        self.clock = clock
        self.description = description
        self.down = False
        self.retry_at = float("-inf")
        self.failed_at = float("-inf")
        self.errors = 0
        self.outages = 0
        self.last: BaseException | None = None

    def skip(self) -> bool:
        """Whether to leave Redis alone now; ``False`` makes the caller this period's probe.

        While another caller probes, everyone else skips until the probe has had its
        timeout (a probe that is cancelled frees the turn by then).
        """
        if not self.down:
            return False
        now = self.clock.now()
        if now < self.retry_at:
            return True
        self.retry_at = now + self.timeout * 1.5
        return False

    def started(self) -> float:
        """Mark the start of a call (pass it to ``succeeded``)."""
        return self.clock.now()

    def failed(self, cause: BaseException, redacted: str, what: str) -> None:
        """A call failed: skip Redis for ``backoff`` seconds from now; log it.

        One WARNING when an outage starts, one INFO per failed probe after that (at
        most one per backoff period).
        """
        now = self.clock.now()
        self.errors += 1
        self.last = cause
        self.failed_at = now
        self.retry_at = now + self.backoff
        if not self.down:
            self.down = True
            self.outages += 1
            logger.warning(
                "Redis %s unreachable (%s: %s); skipping it for %.3g s at a time until it answers",
                self.description,
                type(cause).__name__,
                redacted,
                self.backoff,
                extra={"event": "redis_down", "what": what},
            )
        else:
            logger.info(
                "Redis %s still unreachable (%s); skipping it for %.3g s",
                self.description,
                type(cause).__name__,
                self.backoff,
                extra={"event": "redis_still_down", "what": what},
            )

    def succeeded(self, started: float) -> None:
        """A call that started at ``started`` was answered: the outage (if any) is over.

        A call that started before the last failure proves nothing (it may have been
        answered just before Redis froze).
        """
        if self.down and started >= self.failed_at:
            self.down = False
            self.retry_at = float("-inf")
            logger.info(
                "Redis %s is reachable again", self.description, extra={"event": "redis_up"}
            )


# Borrowed coredis clients: a backend and a storage given the same client share one
# outage state, as they share the connection.
_BY_CLIENT: weakref.WeakKeyDictionary[object, Outage] = weakref.WeakKeyDictionary()


def shared_outage(client: object, make: Outage) -> Outage:
    """The outage state already kept for ``client``, else ``make`` (remembered)."""
    try:
        found = _BY_CLIENT.get(client)
        if found is None:
            _BY_CLIENT[client] = found = make
    except TypeError:  # not weakly referenceable: keep it unshared
        return make
    return found
