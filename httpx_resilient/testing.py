"""Helpers for tests, ours and our users': virtual time and fake upstreams.

- ``FakeClock``: virtual time; pass it as ``clock=`` to any layer or to
  ``ResilientTransport``, then ``advance()`` it (or use ``autojump=True``).
- ``ScriptedTransport``: a fake inner transport answered by a handler or by the test,
  request by request.
- ``FaultInjectionTransport``: wraps a transport and injects latency, errors, 429/5xx
  bursts and connection resets, seeded so runs repeat.
"""

from __future__ import annotations

from ._fakeclock import FakeClock
from ._scripted import PendingRequest, ScriptedTransport

__all__ = ["FakeClock", "PendingRequest", "ScriptedTransport"]
