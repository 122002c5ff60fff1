"""Helpers for tests, ours and our users': virtual time and fake upstreams.

- ``FakeClock``: virtual time; pass it as ``clock=`` to any layer or to
  ``ResilientTransport``, then ``advance()`` it (or use ``autojump=True``).
- ``ScriptedTransport``: a fake inner transport answered by a handler or by the test,
  request by request.
- ``FaultInjectionTransport``: wraps a transport and injects latency, errors, 429/5xx
  bursts and connection resets, seeded so runs repeat.
- ``ChaosServer`` / ``run_chaos_server`` / ``chaos_server_thread``: the embedded chaos
  HTTP server on loopback, for tests against a real socket.
"""

from __future__ import annotations

from ._chaos import ChaosApp, ChaosServer, chaos_server_thread, run_chaos_server
from ._fakeclock import FakeClock
from ._faults import FaultBurst, FaultInjectionTransport, FaultStatistics
from ._scripted import PendingRequest, ScriptedTransport

__all__ = [
    "ChaosApp",
    "ChaosServer",
    "FakeClock",
    "FaultBurst",
    "FaultInjectionTransport",
    "FaultStatistics",
    "PendingRequest",
    "ScriptedTransport",
    "chaos_server_thread",
    "run_chaos_server",
]
