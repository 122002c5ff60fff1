"""Shared validators for the layers' configs.

Each config is a frozen dataclass whose ``__post_init__`` raises ``ConfigError`` naming
the bad field (``Owner.field``). Configs hold no live state, so one config may serve many
transports. Durations are seconds (floats); sizes are bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from .outcomes import ConfigError

__all__ = [
    "MIB",
    "frozen_upper",
    "int_at_least",
    "key_choice",
    "non_negative",
    "number",
    "optional_positive",
    "positive",
]

MIB = 1024 * 1024


def number(owner: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ConfigError(f"{owner}.{name}", f"must be a number, got {value!r}")
    return float(value)


def positive(owner: str, name: str, value: object, *, allow_inf: bool = False) -> None:
    v = number(owner, name, value)
    if v <= 0 or (math.isinf(v) and not allow_inf):
        raise ConfigError(f"{owner}.{name}", f"must be a finite number > 0, got {value!r}")


def non_negative(owner: str, name: str, value: object) -> None:
    v = number(owner, name, value)
    if v < 0 or math.isinf(v):
        raise ConfigError(f"{owner}.{name}", f"must be a finite number >= 0, got {value!r}")


def int_at_least(owner: str, name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{owner}.{name}", f"must be an integer >= {minimum}, got {value!r}")


def optional_positive(owner: str, name: str, value: object) -> None:
    if value is not None:
        positive(owner, name, value)


def key_choice(owner: str, name: str, value: object) -> None:
    if value not in ("host", "global") and not callable(value):
        raise ConfigError(
            f"{owner}.{name}", f'must be "host", "global" or a callable, got {value!r}'
        )


def frozen_upper(owner: str, name: str, value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{owner}.{name}", f"must be a collection of strings, got {value!r}")
    items = list(value)
    if not all(isinstance(m, str) and m for m in items):
        raise ConfigError(f"{owner}.{name}", f"must contain non-empty strings, got {value!r}")
    return frozenset(m.upper() for m in items)
