"""What ``DedupTransport`` costs per request, and what it saves under a burst.

Run: ``python benchmarks/dedup.py [--backend asyncio|trio] [--n 2000] [--rounds 9]
[--levels transport,client] [--burst 100]``.

1. Hot path, one request at a time over a bare ``MockTransport`` (so no twin is ever
   in flight): requests the layer passes straight on (POST, ``dedup=False``), and
   eligible GETs, which build a key and buffer the (small) body: with the body already
   in memory (pure extra work) and streamed (as from the network, where the bare
   client must read it too, so buffering mostly moves the read). Each is measured at
   transport level (``handle_async_request`` + ``aread``: the layer's own cost) and
   through ``httpx.AsyncClient``; overhead is the difference from the same request on
   the bare transport (median and minimum over interleaved rounds, in process CPU
   time, so other processes on a busy machine count less).
2. A burst: ``--burst`` identical concurrent GETs against an upstream that answers after
   one scheduler pass; reports upstream calls and time per caller, bare vs dedup.

``dedup_variants()``, ``measure_both()`` and ``burst()`` can be called from another
benchmark script.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import anyio
import anyio.lowlevel
import httpx

from benchmarks._harness import Variant, run
from httpx_resilient._dedup.config import DedupConfig
from httpx_resilient._dedup.transport import DedupTransport

BODY = b'{"id": 123, "name": "example"}'
URL = "http://bench/items/1"

#: CPU time of this process: steadier than wall time on a shared, busy machine, and
#: the same thing for these loops, which never wait for anything.
timer = time.process_time


def app(request: httpx.Request) -> httpx.Response:
    """A body already in memory (``content=``): the bare path never iterates it."""
    return httpx.Response(200, content=BODY, headers={"Content-Type": "application/json"})


def streamed_app(request: httpx.Request) -> httpx.Response:
    """A body the caller must read, as from the network: buffering it is not extra work."""
    headers = {"Content-Type": "application/json", "Content-Length": str(len(BODY))}
    return httpx.Response(200, stream=httpx.ByteStream(BODY), headers=headers)


def _client_runner(
    make: Callable[[], httpx.AsyncBaseTransport], method: str = "GET", **kwargs: object
) -> Variant:
    """``n`` requests one after another through ``httpx.AsyncClient``."""

    async def go(n: int) -> float:
        async with httpx.AsyncClient(transport=make()) as client:
            start = timer()
            for _ in range(n):
                await client.request(method, URL, **kwargs)  # type: ignore[arg-type]
            return timer() - start

    return go


def _transport_runner(
    make: Callable[[], httpx.AsyncBaseTransport], method: str = "GET", **kwargs: object
) -> Variant:
    """``n`` calls of ``handle_async_request`` + ``aread``: the layer's own cost, less noise."""

    async def go(n: int) -> float:
        transport = make()
        request = _request(method, **kwargs)
        handle = transport.handle_async_request
        start = timer()
        for _ in range(n):
            response = await handle(request)
            await response.aread()
        return timer() - start

    return go


def _request(method: str, headers: dict[str, str] | None = None, **kwargs: object) -> httpx.Request:
    """A request with the headers ``httpx.AsyncClient`` would send."""
    sent = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"}
    sent["User-Agent"] = f"python-httpx/{httpx.__version__}"
    return httpx.Request(method, URL, headers={**sent, **(headers or {})}, **kwargs)  # type: ignore[arg-type]


def _bare() -> httpx.AsyncBaseTransport:
    return httpx.MockTransport(app)


def _dedup() -> httpx.AsyncBaseTransport:
    return DedupTransport(httpx.MockTransport(app), DedupConfig())


def _bare_streamed() -> httpx.AsyncBaseTransport:
    return httpx.MockTransport(streamed_app)


def _dedup_streamed() -> httpx.AsyncBaseTransport:
    return DedupTransport(httpx.MockTransport(streamed_app), DedupConfig())


#: (name, transport factory, method, request options, name of the baseline to subtract)
CASES: list[tuple[str, Callable[[], httpx.AsyncBaseTransport], str, dict[str, object], str]] = [
    ("bare GET", _bare, "GET", {}, "bare GET"),
    ("bare POST", _bare, "POST", {}, "bare POST"),
    ("bare GET + Authorization", _bare, "GET", {"headers": {"Authorization": "Bearer t"}},
     "bare GET + Authorization"),
    ("dedup POST (not eligible)", _dedup, "POST", {}, "bare POST"),
    ("dedup GET dedup=False", _dedup, "GET", {"extensions": {"dedup": False}}, "bare GET"),
    ("dedup GET, no twin in flight", _dedup, "GET", {}, "bare GET"),
    ("dedup GET + Authorization", _dedup, "GET", {"headers": {"Authorization": "Bearer t"}},
     "bare GET + Authorization"),
    ("bare GET, streamed body", _bare_streamed, "GET", {}, "bare GET, streamed body"),
    ("dedup GET, streamed body", _dedup_streamed, "GET", {}, "bare GET, streamed body"),
]  # fmt: skip


def dedup_variants(level: str = "transport") -> dict[str, Variant]:
    """Benchmark variants at ``"transport"`` or ``"client"`` level (see ``CASES``)."""
    runner = _transport_runner if level == "transport" else _client_runner
    return {name: runner(make, method, **opts) for name, make, method, opts, _ in CASES}


async def measure_both(
    variants: dict[str, Variant], *, n: int, rounds: int
) -> dict[str, tuple[float, float]]:
    """Median and minimum microseconds per request of each variant.

    Rounds are interleaved as in ``benchmarks._harness.measure``; the minimum is kept
    too because on a shared, busy machine it is the steadier of the two.
    """
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for run_n in variants.values():  # warm-up
        await run_n(max(50, n // 10))
    for _ in range(rounds):
        for name, run_n in variants.items():
            samples[name].append(await run_n(n) / n * 1e6)
    return {name: (statistics.median(v), min(v)) for name, v in samples.items()}


def overhead_report(title: str, figures: dict[str, tuple[float, float]]) -> str:
    """Each variant's median and minimum, and their overhead over its own baseline."""
    head = f"{'variant':<32}{'median us':>11}{'overhead':>10}{'min us':>9}{'overhead':>10}"
    lines = [title, head]
    for name, _, _, _, baseline in CASES:
        (median, low), (base_median, base_low) = figures[name], figures[baseline]
        lines.append(
            f"{name:<32}{median:>11.2f}{median - base_median:>10.2f}"
            f"{low:>9.2f}{low - base_low:>10.2f}"
        )
    return "\n".join(lines)


async def burst(callers: int, *, use_dedup: bool) -> tuple[int, float]:
    """``callers`` identical concurrent GETs; returns (upstream calls, us per caller)."""
    calls = 0

    async def upstream(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()  # stay in flight while the twins arrive
        return app(request)

    inner: httpx.AsyncBaseTransport = httpx.MockTransport(upstream)
    transport = DedupTransport(inner, DedupConfig()) if use_dedup else inner
    async with httpx.AsyncClient(transport=transport) as client:
        start = timer()
        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(client.get, URL)
        elapsed = timer() - start
    return calls, elapsed / callers * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--levels", default="transport,client", help="comma-separated")
    args = parser.parse_args()

    async def bench() -> None:
        for level in args.levels.split(","):
            figures = await measure_both(dedup_variants(level), n=args.n, rounds=args.rounds)
            title = f"{level} level: backend={args.backend} n={args.n} rounds={args.rounds}"
            print(overhead_report(title, figures), end="\n\n")
        print(f"burst of {args.burst} identical concurrent GETs")
        for use_dedup in (False, True):
            await burst(args.burst, use_dedup=use_dedup)  # warm-up
            calls, per_caller = await burst(args.burst, use_dedup=use_dedup)
            name = "dedup" if use_dedup else "bare"
            print(f"{name:<8}upstream calls {calls:>5}   {per_caller:8.2f} us per caller")

    run(bench, args.backend)


if __name__ == "__main__":
    main()
