"""Retry budget accounting: retries may add at most ``ratio`` of recent requests.

The window slides in ``SLOTS`` steps: counts live in a fixed ring of buckets, each
``window / SLOTS`` seconds wide, rolled lazily from the ``now`` passed in, so memory is
constant however many requests pass and there is no background task. The window
covered is therefore between ``window * (SLOTS - 1) / SLOTS`` and ``window`` seconds.

Allowed retries in the window: ``ratio * requests + min_per_second * window``, the
second term letting a quiet client retry at all.
"""

from __future__ import annotations

import math

from .config import RetryBudget

__all__ = ["SLOTS", "RetryBudgetTracker"]

SLOTS = 10
_EPSILON = 1e-9  # 0.29 * 100 is 28.999999999999996: don't refuse the 29th retry for it


class RetryBudgetTracker:
    """Counts logical requests and retries over a sliding window; pure, time passed in.

    Args:
        budget: the ``RetryBudget`` (ratio, min_per_second, window).
    """

    __slots__ = ("_ids", "_requests", "_reserve", "_retries", "_width", "budget")

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget
        self._width = budget.window / SLOTS
        self._reserve = budget.min_per_second * budget.window
        self._ids = [-(2**62)] * SLOTS  # which time slot each bucket holds
        self._requests = [0] * SLOTS
        self._retries = [0] * SLOTS

    def _bucket(self, now: float) -> int:
        slot = math.floor(now / self._width)
        index = slot % SLOTS
        if self._ids[index] != slot:
            self._ids[index] = slot
            self._requests[index] = 0
            self._retries[index] = 0
        return index

    def _live(self, now: float) -> list[int]:
        slot = math.floor(now / self._width)
        ids = self._ids
        return [i for i in range(SLOTS) if slot - SLOTS < ids[i] <= slot]

    def record_request(self, now: float) -> None:
        """Count one logical request (its first attempt) at ``now``."""
        self._requests[self._bucket(now)] += 1

    def requests(self, now: float) -> int:
        """Logical requests counted in the window ending at ``now``."""
        return sum(self._requests[i] for i in self._live(now))

    def retries(self, now: float) -> int:
        """Retries granted in the window ending at ``now``."""
        return sum(self._retries[i] for i in self._live(now))

    def allowance(self, now: float) -> float:
        """Retries the window ending at ``now`` allows in total."""
        return self.budget.ratio * self.requests(now) + self._reserve

    def try_spend(self, now: float) -> bool:
        """Take one retry from the budget; ``False`` (and nothing taken) if it is spent."""
        live = self._live(now)
        requests = sum(self._requests[i] for i in live)
        retries = sum(self._retries[i] for i in live)
        if retries + 1 > self.budget.ratio * requests + self._reserve + _EPSILON:
            return False
        self._retries[self._bucket(now)] += 1
        return True
