"""The logical request's deadline from ``timeout_budget``, shared by every waiting layer.

The first layer that needs it turns the relative budget (per-request extension
``timeout_budget`` or a config default) into an absolute clock time stored in
``request.extensions[DEADLINE]``; layers below read the same deadline, so waits for a
queue slot, a token and a backoff all draw on one budget.
"""

from __future__ import annotations

import httpx

from .clock import Clock
from .errors import ConfigError

__all__ = ["DEADLINE", "deadline_of", "remaining"]

DEADLINE = "httpx_resilient.deadline"


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
    return deadline


def remaining(deadline: float | None, clock: Clock) -> float | None:
    """Seconds left until ``deadline`` (may be negative), or ``None`` without one."""
    return None if deadline is None else deadline - clock.now()
