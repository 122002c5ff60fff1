"""Cost of queue admission and metrics recording per request, and memory of a long queue.

Run: ``python -m benchmarks.queue_metrics [--backend asyncio|trio] [--n 20000] [--rounds 7]``.

Part 1 calls ``handle_async_request`` directly (no ``AsyncClient``, whose own cost would
hide ours) on an ``httpx.MockTransport`` whose body is a stream, read and closed per
request, so the queue's slot is really held until the body closes. Variants run in
interleaved rounds; figures are medians of microseconds per request, and the overhead
is the difference to the bare transport in the same run.

Part 2 queues 10,000 requests behind one busy slot and measures, with ``tracemalloc``,
the memory beyond 10,000 tasks blocked on the same requests without a queue.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import anyio.lowlevel
import httpx

from benchmarks._harness import measure, report, run, timer
from httpx_resilient._metrics.transport import MetricsTransport
from httpx_resilient._queue.config import QueueConfig
from httpx_resilient._queue.transport import PriorityQueueTransport

BODY = b'{"id": 123, "name": "example"}'


class Body(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield BODY

    async def aclose(self) -> None:
        return None


def app(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=Body())


async def yielding_app(request: httpx.Request) -> httpx.Response:
    await anyio.lowlevel.checkpoint()
    return httpx.Response(200, stream=Body())


def sequential(transport: httpx.AsyncBaseTransport) -> Callable[[int], Awaitable[float]]:
    request = httpx.Request("GET", "http://bench/items/1")

    async def go(n: int) -> float:
        handle = transport.handle_async_request
        start = timer()
        for _ in range(n):
            response = await handle(request)
            await response.aread()
        return timer() - start

    return go


def concurrent(
    transport: httpx.AsyncBaseTransport, tasks: int = 64
) -> Callable[[int], Awaitable[float]]:
    async def worker(count: int) -> None:
        request = httpx.Request("GET", "http://bench/items/1")
        handle = transport.handle_async_request
        for _ in range(count):
            response = await handle(request)
            await response.aread()

    async def go(n: int) -> float:
        start = timer()
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(worker, n // tasks)
        return timer() - start

    return go


def queue(
    inner: httpx.AsyncBaseTransport, slots: int = 100, *, adaptive: bool = False
) -> PriorityQueueTransport:
    config = QueueConfig(max_concurrency=slots, adaptive=adaptive)
    return PriorityQueueTransport(inner, config)


def hot_path() -> dict[str, Callable[[int], Awaitable[float]]]:
    mock = httpx.MockTransport(app)
    return {
        "bare MockTransport": sequential(mock),
        "queue (slot free)": sequential(queue(mock)),
        "adaptive queue (slot free)": sequential(queue(mock, adaptive=True)),
        "metrics": sequential(MetricsTransport(mock)),
        "metrics + queue": sequential(MetricsTransport(queue(mock))),
        "metrics + adaptive queue": sequential(MetricsTransport(queue(mock, adaptive=True))),
    }


def saturated() -> dict[str, Callable[[int], Awaitable[float]]]:
    mock = httpx.MockTransport(yielding_app)
    return {
        "bare, 64 tasks": concurrent(mock),
        "metrics + queue, 64 tasks, 8 slots": concurrent(MetricsTransport(queue(mock, 8))),
        "metrics + adaptive, 64 tasks, max 8": concurrent(
            MetricsTransport(queue(mock, 8, adaptive=True))
        ),
    }


async def queued_memory(waiters: int, config: QueueConfig | None) -> int:
    """Bytes allocated while ``waiters`` requests wait, each in its own task.

    With ``config=None`` each task just holds its request and waits on one shared
    event: that is "the requests themselves". Otherwise the tasks queue behind one
    busy slot of a ``PriorityQueueTransport``.
    """
    gate = anyio.Event()

    async def blocked(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200)

    async def bare(request: httpx.Request) -> None:
        await gate.wait()

    transport = PriorityQueueTransport(httpx.MockTransport(blocked), config or QueueConfig())
    requests = [httpx.Request("GET", f"http://bench/{i}") for i in range(waiters + 1)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    async with anyio.create_task_group() as tg:
        for request in requests:
            tg.start_soon(bare if config is None else transport.handle_async_request, request)
        await anyio.wait_all_tasks_blocked()
        if config is not None:
            assert transport.statistics().waiting == waiters
        used = tracemalloc.get_traced_memory()[0] - before
        gate.set()
    tracemalloc.stop()
    return used


async def main(args: argparse.Namespace) -> None:
    fast = await measure(hot_path(), n=args.n, rounds=args.rounds)  # type: ignore[arg-type]
    print(
        report(
            f"Hot path, 1 request in flight ({args.backend}, n={args.n})",
            fast,
            "bare MockTransport",
        )
    )
    both = fast["metrics + queue"] - fast["bare MockTransport"]
    print(f"queue + metrics together add {both:.2f} us/request (target < 10)")
    adaptive = fast["adaptive queue (slot free)"] - fast["queue (slot free)"]
    print(f"the adaptive queue adds {adaptive:.2f} us/request over the fixed one (target <= 4)\n")
    busy = await measure(saturated(), n=args.n, rounds=args.rounds)  # type: ignore[arg-type]
    print(report("Saturated: 64 tasks, every request queues", busy, "bare, 64 tasks"))
    print()
    n = 10_000
    base = await queued_memory(n, None)
    plain = await queued_memory(n, QueueConfig(max_concurrency=1, adaptive=False))
    timed = await queued_memory(
        n, QueueConfig(max_concurrency=1, queue_timeout=60.0, adaptive=False)
    )
    print(f"Memory, {n:,} requests blocked (tracemalloc)")
    print(f"{'tasks holding the requests, no queue':<44}{base / 2**20:>8.2f} MiB")
    for label, used in (("queued, no timeout", plain), ("queued, queue_timeout=60", timed)):
        extra = used - base
        print(f"{label:<44}{used / 2**20:>8.2f} MiB  (+{extra / 2**20:.2f} MiB, "
              f"{extra / n:.0f} B per waiter; target < 10 MiB)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    arguments = parser.parse_args()
    run(lambda: main(arguments), arguments.backend)
