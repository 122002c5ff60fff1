"""``TokenAuth``: bearer tokens from an async provider, refreshed once for everyone.

The provider is called by one request at a time (single flight): requests that find no
valid token while a refresh runs wait for that refresh and share its outcome, so a
rotated refresh token is never spent twice. A 401 to a request that carried our token
invalidates that token (once per token, however many requests saw the 401) and the
request is sent again, once, with the new one. The token never appears in a repr, a
log record or an exception message of ours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass, field

import anyio
import httpx

from ._core.clock import SYSTEM_CLOCK, Clock
from ._core.errors import ConfigError

__all__ = ["Token", "TokenAuth", "TokenProvider"]

logger = logging.getLogger("httpx_resilient")


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and its lifetime, as an OAuth token endpoint returns them.

    Attributes:
        access_token: the credential sent as ``Authorization: <scheme> <access_token>``.
            Never shown by ``repr()`` or ``str()``.
        expires_in: seconds from now until it expires; ``None`` if it does not expire
            (it is then replaced only after a 401).
    """

    access_token: str = field(repr=False)
    expires_in: float | None

    def __post_init__(self) -> None:
        if not isinstance(self.access_token, str) or not self.access_token:
            raise ConfigError("Token.access_token", "must be a non-empty str")
        if any(c in self.access_token for c in "\r\n\0"):
            raise ConfigError("Token.access_token", "must not contain CR, LF or NUL")
        e = self.expires_in
        if e is not None and (
            isinstance(e, bool) or not isinstance(e, (int, float)) or not math.isfinite(e) or e < 0
        ):
            raise ConfigError(
                "Token.expires_in", f"must be a finite number >= 0 or None, got {e!r}"
            )


TokenProvider = Callable[[], Awaitable[Token]]


class _Flight:
    """One refresh in progress; waiters read its outcome once ``done`` is set."""

    __slots__ = ("done", "error", "generation", "header")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.header: str | None = None
        self.error: Exception | None = None
        self.generation = 0


class TokenAuth(httpx.Auth):
    """An ``httpx.Auth`` for ``httpx.AsyncClient`` that keeps a fresh bearer token.

    Args:
        provider: async callable returning a ``Token``; called for the first request,
            ``refresh_margin`` seconds before expiry, and after a 401.
        refresh_margin: refresh this many seconds before the token expires (default
            60). For a token shorter-lived than twice the margin, half its lifetime is
            used instead, so a short token is not refreshed on every request.
        scheme: the ``Authorization`` scheme (default ``"Bearer"``); ``""`` sends the
            bare token.
        clock: where expiry is measured; the event loop's clock by default.

    A refresh whose caller is cancelled is abandoned and the next waiter calls the
    provider again. If the provider raises, every request waiting on that refresh gets
    the same exception and the next request tries again.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        provider: TokenProvider,
        *,
        refresh_margin: float = 60.0,
        scheme: str = "Bearer",
        clock: Clock | None = None,
    ) -> None:
        if not callable(provider):
            raise ConfigError("TokenAuth.provider", "must be an async callable returning Token")
        m = refresh_margin
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < math.inf:
            raise ConfigError(
                "TokenAuth.refresh_margin", f"must be a finite number >= 0, got {m!r}"
            )
        if not isinstance(scheme, str) or any(c.isspace() for c in scheme):
            raise ConfigError("TokenAuth.scheme", f"must be a str without spaces, got {scheme!r}")
        self._provider = provider
        self._margin = float(refresh_margin)
        self._prefix = f"{scheme} " if scheme else ""
        self._scheme = scheme
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._header: str | None = None  # the full Authorization value, or None
        self._due: float | None = None  # clock time to refresh at; None: never
        self._generation = 0  # bumped at every new token
        self._flight: _Flight | None = None
        self.refreshes = 0
        """Successful provider calls so far."""

    def __repr__(self) -> str:
        state = "set" if self._header is not None else "unset"
        return (
            f"TokenAuth(scheme={self._scheme!r}, refresh_margin={self._margin!r}, token=<{state}>)"
        )

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refuse: the provider is async, so ``TokenAuth`` works with ``AsyncClient`` only."""
        raise RuntimeError("TokenAuth needs httpx.AsyncClient (its token provider is async)")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        header, generation = await self._current()
        request.headers["Authorization"] = header
        response = yield request
        if response.status_code != 401:
            return
        # A 401 from a request that no longer carried our header (a redirect to another
        # origin) says nothing about our token.
        if _sent_header(response, request) != header:
            return
        if self._generation == generation:
            self._header = None  # invalidate once; later 401s of this token join the refresh
        if not isinstance(request.stream, httpx.ByteStream):
            return  # a streamed body cannot be sent again
        header, _ = await self._current()
        request.headers["Authorization"] = header
        yield request

    async def _current(self) -> tuple[str, int]:
        """Return a valid header and its generation, refreshing (single flight) if needed."""
        while True:
            header = self._header
            if header is not None and (self._due is None or self._clock.now() < self._due):
                return header, self._generation
            flight = self._flight
            if flight is None:
                return await self._refresh()
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.header is not None:
                return flight.header, flight.generation
            # The refresher was cancelled: loop, and one of the waiters takes over.

    async def _refresh(self) -> tuple[str, int]:
        flight = self._flight = _Flight()
        started = self._clock.now()
        try:
            token = await self._provider()
            header = self._install(token, started)
            flight.header, flight.generation = header, self._generation
            return header, self._generation
        except Exception as exc:
            flight.error = exc
            if logger.isEnabledFor(logging.WARNING):
                logger.warning(
                    "token refresh failed: %s",
                    type(exc).__name__,
                    extra={"event": "token_refresh_failed", "error_type": type(exc).__name__},
                )
            raise
        finally:
            # Cancelled: neither header nor error is set, so waiters retry the refresh.
            self._flight = None
            flight.done.set()

    def _install(self, token: Token, started: float) -> str:
        if not isinstance(token, Token):
            raise TypeError(f"the token provider returned {type(token).__name__}, not Token")
        header = self._header = self._prefix + token.access_token
        self._generation += 1
        self.refreshes += 1
        if token.expires_in is None:
            self._due = None
        else:
            margin = min(self._margin, token.expires_in / 2)
            self._due = started + token.expires_in - margin
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "token refreshed",
                extra={"event": "token_refreshed", "expires_in": token.expires_in},
            )
        return header


def _sent_header(response: httpx.Response, request: httpx.Request) -> str | None:
    """The Authorization header of the request that got ``response`` (after redirects)."""
    try:
        final = response.request
    except RuntimeError:  # a response built by hand, outside a client
        final = request
    sent: str | None = final.headers.get("Authorization")
    return sent
