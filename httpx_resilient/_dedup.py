"""``DedupTransport``: identical in-flight requests share one upstream call.

The first eligible request for a key becomes the *leader*: it makes the call and reads
the raw body (bounded by ``DedupConfig.max_body_bytes``). Identical requests arriving
meanwhile are *followers*: they wait for the leader's outcome and each get their own
``httpx.Response`` replaying the same status, headers and bytes, or a copy of the
leader's exception. The key leaves the in-flight table as soon as the outcome is known:
this is not a cache.

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

from ._body import read_bounded, replay_response
from ._clock import Clock
from ._config import DedupConfig
from ._deadline import deadline_of
from ._dedup_key import DedupKey, dedup_key
from ._errors import TimeoutBudgetExceeded
from ._layer import Layer
from ._snapshots import DedupStatistics

__all__ = ["DedupTransport"]

_PENDING, _DONE, _FAILED, _ABANDONED = range(4)


class _Flight:
    """One upstream call in progress and, once known, its outcome."""

    __slots__ = ("data", "error", "event", "extensions", "headers", "request", "state", "status")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.state = _PENDING
        self.event: anyio.Event | None = None  # created by the first follower only
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.extensions: dict[str, object] = {}
        self.data: bytes | None = None
        self.error: Exception | None = None

    def record(self, response: httpx.Response, data: bytes | None) -> None:
        """Keep what followers need; copied only if someone is waiting."""
        self.state = _DONE
        if self.event is None:
            return
        self.data = data
        if data is None:
            return
        self.status = response.status_code
        self.headers = response.headers.raw
        self.extensions = {k: v for k, v in response.extensions.items() if k != "network_stream"}


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
        key = dedup_key(request, self._methods)
        if key is None:
            return await self._inner.handle_async_request(request)
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, request)
            await self._follow(flight, request)
            if flight.state == _FAILED:
                _raise_copy(flight.error, request)
            if flight.state == _DONE:
                if _shareable(flight, request):
                    self._shared += 1
                    return _replay(flight, request)
                return await self._alone(request)
            # _ABANDONED: the leader's caller went away; take over or follow the new leader.

    async def _lead(self, key: DedupKey, request: httpx.Request) -> httpx.Response:
        flights = self._flights
        flight = _Flight(request)
        flights[key] = flight
        self._leaders += 1
        try:
            response = await self._inner.handle_async_request(request)
            try:
                data = await read_bounded(response, self._max_body)
            except BaseException:
                await response.aclose()
                raise
            flight.record(response, data)
            response.extensions["deduplicated"] = False
            return response
        except Exception as exc:
            flight.state = _FAILED
            flight.error = exc
            raise
        finally:
            # Cancellation (bare or in an exception group) leaves the state pending.
            if flights.get(key) is flight:
                del flights[key]
            if flight.state == _PENDING:
                flight.state = _ABANDONED
            if flight.event is not None:
                flight.event.set()

    async def _follow(self, flight: _Flight, request: httpx.Request) -> None:
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

    async def _alone(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        response.extensions["deduplicated"] = False
        return response


def _shareable(flight: _Flight, request: httpx.Request) -> bool:
    """Whether a follower may take the leader's response as its own."""
    if flight.data is None:
        return False
    headers = httpx.Headers(flight.headers)
    if "set-cookie" in headers:
        return False
    leader = flight.request.headers
    mine = request.headers
    for name in headers.get_list("vary", split_commas=True):
        name = name.strip()
        if name == "*" or leader.get_list(name) != mine.get_list(name):
            return False
    return True


def _replay(flight: _Flight, request: httpx.Request) -> httpx.Response:
    assert flight.data is not None
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
        clone = copy.copy(error)
    except Exception:
        raise error from None
    if isinstance(clone, httpx.RequestError):
        clone.request = request
    raise clone from error
