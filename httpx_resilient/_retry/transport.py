"""``RetryTransport``: re-sends failed attempts with backoff, inside a retry budget.

Decisions live in ``policy.py``, budget arithmetic in ``budget.py``; this module
awaits, reads bodies, closes what it drops and reports. The first attempt runs with no
tenacity machinery: a request that succeeds at once pays for a few attribute reads and,
by default, for buffering its body (so a read error in the body can be retried).
"""

from __future__ import annotations

import logging
import random

import anyio
import httpx
import tenacity

from .._core.body import read_at_once, read_bounded
from .._core.clock import Clock, wall_time
from .._core.deadline import bound_body, budget_spent, deadline_of, loop_deadline
from .._core.errors import ResilienceError
from .._core.keys import host_key
from .._core.layer import Layer
from .._core.scopes import cancel_scope
from .._core.snapshots import RetryStatistics
from .budget import RetryBudgetTracker
from .config import RetryConfig
from .policy import RetryPolicy, describe, is_retryable_error

__all__ = ["RetryTransport"]

_log = logging.getLogger("httpx_resilient")
# Up to this much of a discarded response is kept, to hand back if a retry is refused.
_KEEP_BYTES = 64 * 1024

Outcome = httpx.Response | Exception


class RetryTransport(Layer):
    """Retries network errors, timeouts and ``retry_on_status`` responses with backoff.

    Each attempt is a real request to ``inner`` (below it, a breaker or rate limiter sees
    every attempt). ``response.extensions["attempts"]`` says how many attempts were made.
    When retries run out, the last response is returned or the last httpx exception
    re-raised, unchanged. A refusal by a layer below (``ResilienceError``) is never
    retried: on the first attempt it propagates; on a later one the layer returns the
    response, or re-raises the exception, it already had.

    Args:
        inner: the transport each attempt is sent to.
        config: the retry configuration.
        clock: the time source for backoff sleeps, deadlines and the budget window.
        rng: the random source for jitter (seed it in tests).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        config: RetryConfig,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(inner, clock=clock)
        if not isinstance(config, RetryConfig):
            raise TypeError(f"config must be a RetryConfig, got {config!r}")
        self._config = config
        self._policy = RetryPolicy(config, rng)
        self._budget = RetryBudgetTracker(config.budget) if config.budget is not None else None
        self._statuses = config.retry_on_status
        self._buffer_limit = config.max_buffer_bytes
        self._keep_limit = min(config.max_buffer_bytes, _KEEP_BYTES)
        self._attempts = 0
        self._retries = 0
        self._budget_exhausted = 0
        self._in_backoff = 0

    @property
    def config(self) -> RetryConfig:
        """The configuration this layer was built with."""
        return self._config

    def statistics(self) -> RetryStatistics:
        """Attempts sent (refused ones too), retries, budget refusals, sleepers now."""
        return RetryStatistics(
            attempts=self._attempts,
            retries=self._retries,
            budget_exhausted=self._budget_exhausted,
            in_backoff=self._in_backoff,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        clock = self._clock
        deadline = deadline_of(request, clock, self._config.timeout_budget)
        if self._budget is not None:
            self._budget.record_request(clock.now())
        retryable = self._policy.allows(request)
        if deadline is not None and not self._budget_left(deadline):
            raise budget_spent(request, "before the request could be sent")
        outcome: Outcome
        try:
            response = await self._attempt(
                request, retryable and not request.extensions.get("stream"), deadline
            )
        except Exception as exc:
            if not (retryable and is_retryable_error(exc)):
                raise
            outcome = exc
        else:
            if not (retryable and response.status_code in self._statuses):
                response.extensions["attempts"] = 1
                if deadline is not None:
                    bound_body(response, request, deadline, clock)
                return response
            outcome = response
        response = await self._retry(request, outcome, deadline)
        if deadline is not None:
            bound_body(response, request, deadline, clock)
        return response

    async def _retry(
        self, request: httpx.Request, outcome: Outcome, deadline: float | None
    ) -> httpx.Response:
        """Everything after a first attempt that failed in a retryable way."""
        policy = self._policy
        state = policy.new_state()
        made = 1  # attempts that produced an outcome (a refused one does not)
        while True:
            delay = self._plan(request, outcome, state, made, deadline)
            if delay is None:
                return self._give_back(outcome, made)
            kept = await self._discard(outcome) if isinstance(outcome, httpx.Response) else outcome
            self._in_backoff += 1
            try:
                await self._clock.sleep(delay)
            finally:
                self._in_backoff -= 1
            if deadline is not None and not self._budget_left(deadline):
                return self._give_back(kept, made, budget_spent(request, "in backoff"))
            policy.next_attempt(state)
            buffer = not policy.exhausted(state) and not request.extensions.get("stream")
            self._retries += 1
            try:
                response = await self._attempt(request, buffer, deadline)
            except ResilienceError as refusal:
                return self._give_back(kept, made, refusal)
            except Exception as exc:
                if not is_retryable_error(exc):
                    raise
                outcome = exc
            else:
                if response.status_code not in self._statuses:
                    response.extensions["attempts"] = made + 1
                    return response
                outcome = response
            made += 1

    def _plan(
        self,
        request: httpx.Request,
        outcome: Outcome,
        state: tenacity.RetryCallState,
        made: int,
        deadline: float | None,
    ) -> float | None:
        """The delay before the next attempt, or ``None`` to stop with ``outcome``."""
        policy = self._policy
        if policy.exhausted(state):
            return None
        headers = outcome.headers if isinstance(outcome, httpx.Response) else None
        clock = self._clock
        delay = policy.delay(state, headers, wall_time(clock))
        now = clock.now()
        if delay is None:
            stop = "Retry-After beyond max_retry_after"
        elif deadline is not None and now + delay >= deadline:
            stop = "timeout_budget would run out"
        elif self._budget is not None and not self._budget.try_spend(now):
            self._budget_exhausted += 1
            stop = "retry budget exhausted"
        else:
            _log_event(logging.INFO, request, outcome, made + 1, delay=delay)
            return delay
        _log_event(logging.DEBUG, request, outcome, made, stopped=stop)
        return None

    def _budget_left(self, deadline: float) -> bool:
        """Whether any of the budget is left to start an attempt.

        httpx's own timeouts are left as the caller set them: the attempt's cancel
        scope is the bound, so a spent budget surfaces as ``TimeoutBudgetExceeded``,
        never as a bare ``ReadTimeout``, and a streamed body that is exempt from the
        budget is not cut short by a shortened read timeout.
        """
        return deadline - self._clock.now() > 0

    async def _attempt(
        self, request: httpx.Request, buffer: bool, deadline: float | None = None
    ) -> httpx.Response:
        """Send one attempt; with ``buffer``, read the body inside it, so that a read
        error is this attempt's error (the response is closed then).

        Only a body that ``read_at_once`` allows is read (a declared length within
        ``max_buffer_bytes``, never an event stream): a body of unknown length is handed
        on at once, and is then not retried on body errors. With a ``deadline`` the
        attempt, its body read included, runs in a cancel scope that ends there.

        Raises:
            TimeoutBudgetExceeded: the deadline passed during the attempt.
        """
        if deadline is not None:
            with cancel_scope(deadline=loop_deadline(deadline, self._clock)):
                return await self._attempt(request, buffer)
            raise budget_spent(request, "before the attempt's response arrived")
        self._attempts += 1
        response = await self._inner.handle_async_request(request)
        if (
            buffer
            and response.status_code not in self._statuses
            and not isinstance(response.stream, httpx.ByteStream)  # in memory already
            and read_at_once(response, self._buffer_limit, request.method)
        ):
            try:
                await read_bounded(response, self._buffer_limit)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
                raise
        return response

    async def _discard(self, response: httpx.Response) -> httpx.Response | None:
        """Release a response we retry past; keep it (buffered) if its body is small."""
        kept = None
        try:
            if await read_bounded(response, self._keep_limit) is not None:
                kept = response
        except Exception:  # its body is dropped anyway; the retry goes ahead
            _log.debug("could not read the body of a discarded response", exc_info=True)
        finally:
            if kept is None:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
        return kept

    @staticmethod
    def _give_back(
        outcome: Outcome | None, made: int, otherwise: Exception | None = None
    ) -> httpx.Response:
        """Return the response in hand, or re-raise the exception in hand, unchanged;
        ``otherwise`` if the response in hand was too large to keep when discarded."""
        if isinstance(outcome, httpx.Response):
            outcome.extensions["attempts"] = made
            return outcome
        if outcome is None:
            assert otherwise is not None
            outcome = otherwise
        raise outcome


def _log_event(
    level: int,
    request: httpx.Request,
    outcome: Outcome,
    attempt: int,
    *,
    delay: float | None = None,
    stopped: str | None = None,
) -> None:
    """Log a retry (INFO) or a decision not to retry (DEBUG); no URL, no headers."""
    if not _log.isEnabledFor(level):
        return
    fields: dict[str, object] = {
        "method": request.method,
        "host": host_key(request),
        "attempt": attempt,
        "reason": describe(outcome),
    }
    if stopped is None:
        fields["delay"] = delay
        message = "retrying %(method)s to %(host)s in %(delay).3f s after %(reason)s"
    else:
        fields["stopped"] = stopped
        message = "not retrying %(method)s to %(host)s after %(reason)s: %(stopped)s"
    _log.log(level, message, fields, extra=fields)
