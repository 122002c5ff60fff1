"""``DedupTransport``: identical in-flight requests share one upstream call.

The first eligible request for a key becomes the *leader*: it makes the call and reads
the raw body (bounded by ``DedupConfig.max_body_bytes``). Identical requests arriving
meanwhile are *followers*: they wait for the leader's outcome and each get their own
``httpx.Response`` replaying the same status, headers and bytes, or a copy of the
leader's exception. The key leaves the in-flight table as soon as the outcome is known:
this is not a cache.

Only a body that can be read without holding up a streaming caller is shared: one whose
``Content-Length`` is declared and within ``max_body_bytes``, never a
``text/event-stream`` (``read_at_once``). Any other response is handed to the leader's
caller at once, unread, so ``client.stream()`` gets first bytes as soon as the server
sends them; a response that is not buffered is not shared, so its followers wake as the
leader gets its headers and each makes its own request (nobody waits on a stream that
may never end).

Requests share only when their per-request options agree (``retry``,
``timeout_budget``, ``timeout`` and ``cache`` are in the key), so a leader's tighter
settings never fail its followers. If the leader's own ``timeout_budget`` ran out anyway
(it started earlier), its followers do not inherit that: one of them makes the call.

A follower does not share, and makes its own request instead, when the body was over
the bound, the response sets a cookie (an anonymous session must not be handed to
another caller) or its ``Vary`` names a header on which follower and leader differ. If
the leader's caller goes away (cancellation), the first follower to run takes over and
makes the call; the others follow it. A cancelled follower holds nothing.
"""

from __future__ import annotations

import copy
from typing import NoReturn

import anyio
import httpx

from .._core.body import read_at_once, read_bounded, replay_response
from .._core.clock import Clock
from .._core.credentials import CredentialRule
from .._core.deadline import deadline_of
from .._core.errors import TimeoutBudgetExceeded
from .._core.layer import Layer
from .._core.snapshots import DedupStatistics
from .config import DedupConfig
from .key import DedupKey, dedup_key

__all__ = ["DedupTransport"]

_PENDING, _DONE, _FAILED, _ABANDONED = range(4)

#: What a follower's response copies from the leader's extensions: facts about the
#: HTTP exchange. Not the connection (``network_stream``), and not what layers below
#: reported about the leader's own request (``attempts``, ``rate_limit_wait``): the
#: follower made no attempt and waited for no token.
_COPIED_EXTENSIONS = ("http_version", "reason_phrase")


class _Flight:
    """One upstream call in progress and, once known, its outcome.

    Plain class attributes are the defaults, so the leader's hot path sets only two.
    """

    event: anyio.Event | None = None  # created by the first follower only
    state = _PENDING
    status = 0
    headers: httpx.Headers | None = None
    extensions: dict[str, object] = {}  # noqa: RUF012  (never mutated)
    data: bytes | None = None  # None: the body was over the bound (or no one waits)
    sets_cookie = False
    vary: tuple[str, ...] = ()
    error: Exception | None = None

    def __init__(self, request: httpx.Request) -> None:
        self.request = request

    def record(self, response: httpx.Response, data: bytes | None) -> None:
        """Keep what the waiting followers need (the leader's response is its own)."""
        self.data = data
        if data is not None:
            self.status = response.status_code
            headers = self.headers = httpx.Headers(response.headers)  # a snapshot
            self.sets_cookie = "set-cookie" in headers
            self.vary = tuple(v.strip() for v in headers.get_list("vary", split_commas=True))
            extensions = response.extensions
            self.extensions = {k: extensions[k] for k in _COPIED_EXTENSIONS if k in extensions}


class DedupTransport(Layer):
    """Shares one upstream call among identical in-flight GET/HEAD requests.

    Args:
        inner: the transport requests are passed to.
        config: which methods share and the largest body shared.
        clock: the time source (for ``timeout_budget`` while a follower waits).

    Responses carry ``extensions["deduplicated"]``: ``True`` for a follower served
    from a leader's call, ``False`` for a leader or a follower that went alone.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: DedupConfig,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(inner, clock=clock)
        if not isinstance(config, DedupConfig):
            raise TypeError(f"config must be a DedupConfig, got {config!r}")
        self._config = config
        self._methods = config.methods
        self._credentials = CredentialRule(config.credential_headers)
        self._max_body = config.max_body_bytes
        self._flights: dict[DedupKey, _Flight] = {}
        self._followers_waiting = 0
        self._shared = 0
        self._leaders = 0

    @property
    def config(self) -> DedupConfig:
        """The configuration this transport was built with."""
        return self._config

    def statistics(self) -> DedupStatistics:
        """A snapshot: keys in flight, followers waiting, followers served, leaders."""
        return DedupStatistics(
            in_flight_keys=len(self._flights),
            followers_waiting=self._followers_waiting,
            shared=self._shared,
            leaders=self._leaders,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method not in self._methods:
            return await self._inner.handle_async_request(request)
        key = dedup_key(request, self._methods, self._credentials)
        if key is None:
            return await self._inner.handle_async_request(request)
        flights = self._flights
        flight = _Flight(request)
        while (current := flights.setdefault(key, flight)) is not flight:
            response = await self._follow(current, request)
            if response is not None:
                return response
            # The leader's caller went away: take over, or follow whoever already did.
        self._leaders += 1
        try:
            response = await self._inner.handle_async_request(request)
            data = None
            if read_at_once(response, self._max_body, request.method):
                try:
                    data = await read_bounded(response, self._max_body)
                except BaseException:
                    with anyio.CancelScope(shield=True):  # a deadline may have fired
                        await response.aclose()
                    raise
            flight.state = _DONE
            if flight.event is not None:  # someone is waiting
                flight.record(response, data)
            response.extensions["deduplicated"] = False
            return response
        except Exception as exc:
            flight.state = _FAILED
            flight.error = exc
            raise
        finally:
            # Only this leader removes its entry (nobody replaces an entry that exists).
            del flights[key]
            # A cancellation (bare, or inside an exception group) leaves the state pending.
            if flight.state == _PENDING:
                flight.state = _ABANDONED
            if flight.event is not None:
                flight.event.set()

    async def _follow(self, flight: _Flight, request: httpx.Request) -> httpx.Response | None:
        """Wait for ``flight``'s outcome and make it this request's own.

        Returns ``None`` if the leader was abandoned or its budget ran out; raises a
        copy of any other exception of the leader.
        """
        await self._wait(flight, request)
        if flight.state == _FAILED:
            if isinstance(flight.error, TimeoutBudgetExceeded):
                return None  # the leader's deadline, not ours: take over
            _raise_copy(flight.error, request)
        if flight.state == _ABANDONED:
            return None
        if _shareable(flight, request):
            self._shared += 1
            return _replay(flight, request)
        response = await self._inner.handle_async_request(request)
        response.extensions["deduplicated"] = False
        return response

    async def _wait(self, flight: _Flight, request: httpx.Request) -> None:
        """Wait until ``flight`` has an outcome (or the request's budget runs out)."""
        event = flight.event
        if event is None:
            event = flight.event = anyio.Event()
        self._followers_waiting += 1
        try:
            deadline = deadline_of(request, self._clock)
            if deadline is None:
                await event.wait()
                return
            left = deadline - self._clock.now()
            if left > 0:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._alarm, left, group.cancel_scope)
                    await event.wait()
                    group.cancel_scope.cancel()
            if flight.state == _PENDING:
                raise TimeoutBudgetExceeded(
                    "timeout_budget ran out while waiting for an identical request",
                    request=request,
                )
        finally:
            self._followers_waiting -= 1

    async def _alarm(self, seconds: float, scope: anyio.CancelScope) -> None:
        await self._clock.sleep(seconds)
        scope.cancel()


def _shareable(flight: _Flight, request: httpx.Request) -> bool:
    """Whether a follower may take the leader's response as its own."""
    if flight.data is None or flight.sets_cookie:
        return False
    if flight.vary:
        leader = flight.request.headers
        mine = request.headers
        for name in flight.vary:
            if name == "*" or leader.get_list(name) != mine.get_list(name):
                return False
    return True


def _replay(flight: _Flight, request: httpx.Request) -> httpx.Response:
    assert flight.data is not None
    assert flight.headers is not None
    extensions = dict(flight.extensions)
    extensions["deduplicated"] = True
    return replay_response(
        flight.status, flight.headers, flight.data, request=request, extensions=extensions
    )


def _raise_copy(error: Exception | None, request: httpx.Request) -> NoReturn:
    """Raise a copy of the leader's exception naming this follower's request.

    Each follower raises its own object (tracebacks are not shared between tasks), of
    the same type, chained to the leader's original. An exception that cannot be copied
    is raised as is.
    """
    assert error is not None
    try:
        clone: Exception | None = copy.copy(error)
    except Exception:
        clone = None
    if clone is None:
        raise error
    if isinstance(clone, httpx.RequestError):
        clone.request = request
    raise clone from error
