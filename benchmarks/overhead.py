"""Per-request cost of each layer, and of the full stack, over a bare MockTransport.

Run: ``python benchmarks/overhead.py [--backend asyncio|trio] [--n 2000] [--rounds 9]
[--face httpx|httpx2|both]``. Nothing waits: the rate limit is generous, nothing fails,
so this is the hot path. ``--face both`` measures the httpx face (``httpx_resilient``)
and the httpx2 face (``httpx_resilient.httpx2``) in the same rounds, interleaved, and
prints the httpx2/httpx ratio of each variant.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from benchmarks._harness import measure, report, run, timer

BODY = b'{"id": 123, "name": "example"}'
FACES = {"httpx": "httpx_resilient", "httpx2": "httpx_resilient.httpx2"}
httpx: Any = None  # the package of the face being set up (httpx or httpx2)


def app_of(package: Any) -> Callable[[Any], Any]:
    """The MockTransport handler, answering with the face's own Response."""

    def app(request: Any) -> Any:
        return package.Response(200, content=BODY, headers={"Content-Type": "application/json"})

    return app


LEVEL = "transport"
URLS = [f"http://bench/items/{i}" for i in range(50)]


def client_runner(make: Callable[[], Any]):  # type: ignore[no-untyped-def]
    """Run n GETs either through httpx.AsyncClient or straight at the transport.

    The transport level (the default) calls ``handle_async_request`` and reads the
    body, as the client would, without the client's own ~100 us of work per request,
    which otherwise drowns the differences being measured in noise.
    """

    package = httpx  # the face's package, fixed when the variant is made

    async def through_client(n: int) -> float:
        async with package.AsyncClient(transport=make()) as client:
            start = timer()
            for i in range(n):
                await client.get(URLS[i % 50])
            return timer() - start

    async def at_transport(n: int) -> float:
        transport = make()
        async with transport:
            start = timer()
            for i in range(n):
                request = package.Request("GET", URLS[i % 50])
                response = await transport.handle_async_request(request)
                await response.aread()
            return timer() - start

    async def go(n: int) -> float:
        return await (through_client(n) if LEVEL == "client" else at_transport(n))

    return go


def variants(face: str = "httpx") -> dict[str, Callable[[int], object]]:
    """Every variant, built on the given face (its package and its transports)."""
    global httpx
    httpx = importlib.import_module(face)
    hr: ModuleType = importlib.import_module(FACES[face])
    package = httpx
    app = app_of(package)
    mock = lambda: package.MockTransport(app)  # noqa: E731
    rate = hr.RateLimitConfig(max_requests=1e9)
    breaker = hr.CircuitBreakerConfig()
    retry = hr.RetryConfig()
    return {
        "bare MockTransport": client_runner(mock),
        "rate limit": client_runner(
            lambda: hr.ResilientTransport(rate_limit=rate, metrics=False, inner=mock())
        ),
        "circuit breaker": client_runner(
            lambda: hr.ResilientTransport(circuit_breaker=breaker, metrics=False, inner=mock())
        ),
        "retry": client_runner(
            lambda: hr.ResilientTransport(retry=retry, metrics=False, inner=mock())
        ),
        "rate limit + breaker + retry": client_runner(
            lambda: hr.ResilientTransport(
                rate_limit=rate, circuit_breaker=breaker, retry=retry, metrics=False, inner=mock()
            )
        ),
        "queue": client_runner(
            lambda: hr.ResilientTransport(queue=hr.QueueConfig(), metrics=False, inner=mock())
        ),
        "metrics": client_runner(lambda: hr.ResilientTransport(inner=mock())),
        "dedup (no twin in flight)": client_runner(
            lambda: hr.ResilientTransport(dedup=hr.DedupConfig(), metrics=False, inner=mock())
        ),
        "cache miss (no-store)": client_runner(
            lambda: hr.ResilientTransport(cache=hr.CacheConfig(), metrics=False, inner=mock())
        ),
        "full stack (all layers, miss)": client_runner(
            lambda: hr.ResilientTransport(
                rate_limit=rate,
                circuit_breaker=breaker,
                retry=retry,
                cache=True,
                dedup=True,
                queue=hr.QueueConfig(),
                inner=mock(),
            )
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--level", default="transport", choices=["transport", "client"])
    parser.add_argument("--face", default="httpx", choices=["httpx", "httpx2", "both"])
    args = parser.parse_args()
    global LEVEL
    LEVEL = args.level

    faces = ["httpx", "httpx2"] if args.face == "both" else [args.face]
    table: dict[str, Callable[[int], object]] = {}
    for face in faces:
        table.update({f"{face}: {name}": v for name, v in variants(face).items()})
    if args.face == "both":  # interleave the faces, so that both see the same noise
        names = list(variants("httpx"))
        table = {f"{face}: {name}": table[f"{face}: {name}"] for name in names for face in faces}

    async def bench() -> None:
        medians = await measure(table, n=args.n, rounds=args.rounds)  # type: ignore[arg-type]
        title = f"backend={args.backend} level={args.level} n={args.n} rounds={args.rounds}"
        for face in faces:
            mine = {k.split(": ", 1)[1]: v for k, v in medians.items() if k.startswith(face + ":")}
            print(report(f"{title} face={face}", mine, "bare MockTransport"))
        if args.face == "both":
            print("httpx2 face / httpx face, per request:")
            for name in names:
                ratio = medians[f"httpx2: {name}"] / medians[f"httpx: {name}"]
                print(f"  {name:<32} {ratio:6.3f}  ({(ratio - 1) * 100:+.1f} %)")

    run(bench, args.backend)


if __name__ == "__main__":
    main()
