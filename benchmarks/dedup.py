"""What ``DedupTransport`` costs per request, and what it saves under a burst.

Run: ``python benchmarks/dedup.py [--backend asyncio|trio] [--n 2000] [--rounds 9]``.

1. Hot path, one request at a time through ``httpx.AsyncClient`` over a bare
   ``MockTransport`` (so no twin is ever in flight): the baseline, requests the layer
   passes straight on (POST, ``dedup=False``), and eligible GETs, which build a key and
   buffer the (small) body. Overhead is the median difference from the baseline.
2. A burst: ``--burst`` identical concurrent GETs against an upstream that answers after
   one scheduler pass; reports upstream calls and time per caller, bare vs dedup.

``dedup_variants()`` and ``burst()`` can be called from another benchmark script.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import anyio
import anyio.lowlevel
import httpx

from benchmarks._harness import Variant, measure, report, run, timer
from httpx_resilient._config import DedupConfig
from httpx_resilient._dedup import DedupTransport

BODY = b'{"id": 123, "name": "example"}'
URL = "http://bench/items/1"


def app(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=BODY, headers={"Content-Type": "application/json"})


def _runner(
    make: Callable[[], httpx.AsyncBaseTransport],
    method: str = "GET",
    **kwargs: object,
) -> Variant:
    async def go(n: int) -> float:
        async with httpx.AsyncClient(transport=make()) as client:
            start = timer()
            for _ in range(n):
                await client.request(method, URL, **kwargs)  # type: ignore[arg-type]
            return timer() - start

    return go


def dedup_variants() -> dict[str, Variant]:
    """Benchmark variants: the bare baseline first, then the layer's paths."""
    bare = lambda: httpx.MockTransport(app)  # noqa: E731
    dedup = lambda: DedupTransport(httpx.MockTransport(app), DedupConfig())  # noqa: E731
    return {
        "bare MockTransport GET": _runner(bare),
        "dedup: POST (not eligible)": _runner(dedup, "POST"),
        "dedup: GET dedup=False": _runner(dedup, extensions={"dedup": False}),
        "dedup: GET, no twin in flight": _runner(dedup),
        "dedup: GET + Authorization": _runner(dedup, headers={"Authorization": "Bearer t0ken"}),
    }


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
    args = parser.parse_args()

    async def bench() -> None:
        medians = await measure(dedup_variants(), n=args.n, rounds=args.rounds)
        title = f"dedup hot path: backend={args.backend} n={args.n} rounds={args.rounds}"
        print(report(title, medians, "bare MockTransport GET"))
        print(f"\nburst of {args.burst} identical concurrent GETs")
        for use_dedup in (False, True):
            await burst(args.burst, use_dedup=use_dedup)  # warm-up
            calls, per_caller = await burst(args.burst, use_dedup=use_dedup)
            name = "dedup" if use_dedup else "bare"
            print(f"{name:<8}upstream calls {calls:>5}   {per_caller:8.2f} us per caller")

    run(bench, args.backend)


if __name__ == "__main__":
    main()
