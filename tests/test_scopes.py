"""``cancel_scope()``: the backend's own scope class, made without a backend lookup."""

from __future__ import annotations

import math

import anyio
import pytest

from httpx_resilient._core.scopes import cancel_scope, running_library

pytestmark = pytest.mark.anyio


async def test_same_class_as_anyio_and_it_cancels() -> None:
    for _ in range(2):  # the first call learns the class, the second uses it
        scope = cancel_scope()
        assert type(scope) is type(anyio.CancelScope())
        with scope:
            scope.cancel()
            await anyio.sleep(1)
        assert scope.cancelled_caught


async def test_deadline_and_shield() -> None:
    with cancel_scope(deadline=anyio.current_time() + 0.01) as scope:
        await anyio.sleep(5)
    assert scope.cancelled_caught
    with cancel_scope() as outer:
        outer.cancel()
        with cancel_scope(shield=True) as inner:
            await anyio.sleep(0)
        assert not inner.cancelled_caught
        assert inner.shield
        assert inner.deadline == math.inf


async def test_running_library_names_the_backend(anyio_backend: str) -> None:
    assert running_library() == anyio_backend


def test_no_library_outside_a_loop() -> None:
    assert running_library() is None
