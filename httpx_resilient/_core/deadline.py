"""The logical request's deadline from ``timeout_budget``, and its hard enforcement.

The first layer that needs it turns the relative budget (per-request extension
``timeout_budget`` or a config default) into an absolute clock time stored in
``request.extensions[DEADLINE]``; layers below read the same deadline, so waits for a
queue slot, a token and a backoff all draw on one budget. ``extensions={"timeout_budget":
None}`` opts one request out of a configured budget.

The deadline is a hard bound, not a hint: ``call_within`` runs a call inside an anyio
cancel scope that ends at the deadline, and ``bound_body`` wraps a response body so that
each read the caller makes after the stack returned stops there too. Both fail with
``TimeoutBudgetExceeded``. A scope is entered per read, never held across a ``yield``
(that breaks under trio). Cancel scopes run on the event loop's clock: with another
clock (``FakeClock``) the budget left is converted when the scope is entered, so virtual
time never cuts a real read short. No scope is entered for a request without a budget.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from .body import ReplayStream
from .clock import SYSTEM_CLOCK, Clock, SystemClock
from .errors import ConfigError, TimeoutBudgetExceeded
from .scopes import cancel_scope

__all__ = [
    "BODY_BOUND",
    "BUDGET",
    "DEADLINE",
    "BoundedStream",
    "bound_body",
    "budget_spent",
    "call_within",
    "deadline_of",
    "loop_deadline",
    "remaining",
]

DEADLINE = "httpx_resilient.deadline"
#: The budget (seconds) the deadline was fixed from, for error messages.
BUDGET = "httpx_resilient.budget"
#: Set in ``request.extensions`` once the body of the response returned for it is bound.
BODY_BOUND = "httpx_resilient.body_bound"


def deadline_of(
    request: httpx.Request, clock: Clock, default_budget: float | None = None
) -> float | None:
    """Return the absolute deadline of ``request``, fixing it on first use.

    Raises:
        ConfigError: the ``timeout_budget`` extension is not a positive number.
    """
    extensions = request.extensions
    deadline = extensions.get(DEADLINE)
    if deadline is not None:
        return float(deadline)
    budget = extensions.get("timeout_budget", default_budget)
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ConfigError("extensions.timeout_budget", f"must be a number > 0, got {budget!r}")
    deadline = clock.now() + float(budget)
    extensions[DEADLINE] = deadline
    extensions[BUDGET] = budget
    return deadline


def remaining(deadline: float | None, clock: Clock) -> float | None:
    """Seconds left until ``deadline`` (may be negative), or ``None`` without one."""
    return None if deadline is None else deadline - clock.now()


def loop_deadline(deadline: float, clock: Clock) -> float:
    """``deadline`` on the event loop's clock, the one cancel scopes use."""
    if isinstance(clock, SystemClock):
        return deadline  # the same clock
    return SYSTEM_CLOCK.now() + (deadline - clock.now())


def budget_spent(request: httpx.Request, where: str) -> TimeoutBudgetExceeded:
    """The error for a budget that ran out ``where`` (e.g. "waiting for headers")."""
    budget = request.extensions.get(BUDGET)
    amount = f" of {budget:g} s" if isinstance(budget, (int, float)) else ""
    return TimeoutBudgetExceeded(f"timeout_budget{amount} was spent {where}", request=request)


async def call_within(
    call: Callable[[httpx.Request], Awaitable[httpx.Response]],
    request: httpx.Request,
    deadline: float,
    clock: Clock,
) -> httpx.Response:
    """Run ``call(request)`` so it ends by ``deadline``; bound the returned body too.

    Only for a stack without a layer that enforces the deadline itself: an outer scope
    ending at the same time as the retry layer's would cancel the outcome that layer
    gives back from an earlier attempt.

    Raises:
        TimeoutBudgetExceeded: the deadline passed before ``call`` returned.
    """
    with cancel_scope(deadline=loop_deadline(deadline, clock)) as scope:
        response = await call(request)
    if scope.cancelled_caught:
        raise budget_spent(request, "before the response arrived")
    bound_body(response, request, deadline, clock)
    return response


def bound_body(
    response: httpx.Response, request: httpx.Request, deadline: float, clock: Clock
) -> None:
    """Make each later read of ``response``'s body stop at ``deadline``.

    Left alone: a body already in memory, a ``text/event-stream`` (it is meant to stay
    open), a request made with ``extensions={"stream": True}``, and a body bound already.
    """
    extensions = request.extensions
    if extensions.get(BODY_BOUND) or extensions.get("stream") is True:
        return
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream) or isinstance(stream, httpx.ByteStream):
        return
    if isinstance(stream, ReplayStream):  # bytes in memory
        return
    content_type = response.headers.get("content-type", "")
    if content_type.lower().startswith("text/event-stream"):
        return
    response.stream = BoundedStream(stream, request, loop_deadline(deadline, clock))
    extensions[BODY_BOUND] = True


class BoundedStream(httpx.AsyncByteStream):
    """A body whose every read stops at a deadline (on the event loop's clock)."""

    __slots__ = ("_deadline", "_iterator", "_original", "_request")

    def __init__(
        self, original: httpx.AsyncByteStream, request: httpx.Request, deadline: float
    ) -> None:
        self._original = original
        self._request = request
        self._deadline = deadline
        self._iterator: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = self._original.__aiter__()
        return _BoundedIterator(self._iterator, self._request, self._deadline)

    async def aclose(self) -> None:
        close = getattr(self._iterator, "aclose", None)
        try:
            if close is not None:
                await close()
        finally:
            await self._original.aclose()


class _BoundedIterator:
    """One cancel scope per read: none is held while the caller has the chunk."""

    __slots__ = ("_deadline", "_iterator", "_request")

    def __init__(self, iterator: AsyncIterator[bytes], request: httpx.Request, deadline: float):
        self._iterator = iterator
        self._request = request
        self._deadline = deadline

    def __aiter__(self) -> _BoundedIterator:
        return self

    async def __anext__(self) -> bytes:
        with cancel_scope(deadline=self._deadline):
            return await self._iterator.__anext__()
        raise budget_spent(self._request, "while the body was read")
