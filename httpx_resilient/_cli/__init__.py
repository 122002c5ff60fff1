"""The ``httpx-resilient`` command line (also ``python -m httpx_resilient``).

- ``demo``: the same workload through a bare client and through the full stack,
  against an embedded chaos server, with a report of what each layer did.
- ``fetch``: bulk-fetch URLs from a file or stdin; JSON Lines results on stdout.
- ``chaos-server``: run the chaos server alone, to test your own configuration.

Each command's module is imported only when it runs (the functions here that run them
are named ``_*_command`` so that importing ``._fetch`` cannot shadow them).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

__all__ = ["build_parser", "main"]

BACKENDS = ("asyncio", "trio")


def _bounded(
    kind: Callable[[str], float], name: str, low: float, *, above: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number of ``kind``, ``>= low`` (``> low`` if ``above``)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value) or value < low or (above and value == low):
            bound = f"> {low:g}" if above else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"{name} must be {bound}, got {text!r}")
        return value

    return parse


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=BACKENDS, default="asyncio", help="event loop")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="httpx-resilient",
        description="Resilience layers for httpx.AsyncClient: demo, bulk fetch, chaos server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="compare a bare client with the full stack against a chaos server"
    )
    demo.add_argument(
        "--requests",
        type=_bounded(int, "--requests", 1),
        default=400,
        help="requests in the workload (default 400)",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of workload and faults")
    demo.add_argument("--no-progress", action="store_true", help="no live progress display")
    demo.add_argument("-v", "--verbose", action="store_true", help="show the layers' log events")
    demo.add_argument(
        "--html", metavar="FILE", help="also write the charts over time to FILE (self-contained)"
    )
    _add_common(demo)

    fetch = commands.add_parser(
        "fetch",
        help="bulk-fetch URLs (file or stdin) through the stack; JSON Lines on stdout",
        description="Settings default to the API_* environment variables "
        "(API_RATE_LIMIT, API_RETRY_MAX_RETRIES, ...); flags override them.",
    )
    fetch.add_argument("file", nargs="?", default="-", help="file of URLs, one a line ('-': stdin)")
    fetch.add_argument(
        "--rate", type=_bounded(float, "--rate", 0, above=True), help="requests per second"
    )
    fetch.add_argument(
        "--concurrency", type=_bounded(int, "--concurrency", 1), help="requests in flight at once"
    )
    fetch.add_argument("--retries", type=_bounded(int, "--retries", 0), help="retries per URL")
    fetch.add_argument("--cache", action="store_true", help="cache responses in memory")
    fetch.add_argument(
        "--timeout",
        type=_bounded(float, "--timeout", 0, above=True),
        help="network timeout in seconds",
    )
    fetch.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    _add_common(fetch)

    serve = commands.add_parser("chaos-server", help="run the embedded chaos server alone")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: any)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the faults (default 0)")
    serve.add_argument(
        "--rate",
        type=_bounded(float, "--rate", 0, above=True),
        default=10.0,
        help="/ratelimited tokens per second (default 10)",
    )
    serve.add_argument(
        "--rate-burst",
        type=_bounded(int, "--rate-burst", 1),
        default=5,
        help="/ratelimited bucket size (default 5)",
    )
    serve.add_argument(
        "--quota",
        type=_bounded(float, "--quota", 0, above=True),
        help="requests/s for the whole server, then 429 (default: none)",
    )
    serve.add_argument(
        "--quota-burst",
        type=_bounded(int, "--quota-burst", 1),
        help="the quota's bucket size (default: the quota)",
    )
    _add_common(serve)
    return parser


def _fetch_command(
    args: argparse.Namespace, parser: argparse.ArgumentParser, out: TextIO, err: TextIO
) -> int:
    from .. import ConfigError, EnvironmentConfig
    from .fetch import FetchOptions, read_urls, run_fetch

    try:
        env = EnvironmentConfig.from_environment()
    except ConfigError as exc:
        parser.error(f"environment: {exc}")
    if args.file == "-":
        urls = read_urls(sys.stdin)
    else:
        try:
            with open(args.file, encoding="utf-8") as lines:
                urls = read_urls(lines)
        except OSError as exc:
            parser.error(f"cannot read {args.file}: {exc.strerror}")
    options = FetchOptions(
        rate=args.rate,
        concurrency=args.concurrency,
        retries=args.retries,
        cache=args.cache,
        timeout=args.timeout,
    )
    try:
        return run_fetch(
            urls,
            options,
            env,
            backend=args.backend,
            progress="none" if args.no_progress else "auto",
            out=out,
            err=err,
        )
    except ConfigError as exc:
        parser.error(str(exc))


def _serve_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import anyio

    from ..testing._chaos import ENDPOINTS, ChaosApp, ChaosServer

    if not 0 <= args.port <= 65535:
        print(f"httpx-resilient chaos-server: --port must be 0-65535, got {args.port}", file=err)
        return 2
    app = ChaosApp(
        args.seed,
        rate=args.rate,
        rate_burst=args.rate_burst,
        quota=args.quota,
        quota_burst=args.quota_burst,
    )
    server = ChaosServer(app, host=args.host, port=args.port)

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(server.serve)
            print(f"chaos server on {url} (seed {args.seed}); Ctrl+C stops it", file=out)
            print("endpoints: " + " ".join(ENDPOINTS), file=out, flush=True)

    try:
        anyio.run(serve, backend=args.backend)
    except BaseException as exc:  # task groups may wrap what we look for in groups
        leaves = _leaves(exc)
        if all(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
            print("stopped", file=out)
            return 0
        if len(leaves) == 1 and isinstance(leaves[0], OSError):  # the port is taken, say
            reason = leaves[0].strerror or leaves[0]
            where = f"{args.host}:{args.port}"
            print(f"httpx-resilient chaos-server: cannot listen on {where}: {reason}", file=err)
            return 1
        raise
    return 0  # not reached: the server runs until interrupted


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside ``exc``, exception groups flattened."""
    group: Sequence[BaseException] | None = getattr(exc, "exceptions", None)
    if group is None:
        return [exc]
    return [leaf for inner in group for leaf in _leaves(inner)]


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).
        out: where results and reports go (default ``sys.stdout``).
        err: where progress goes (default ``sys.stderr``).
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(
            requests=args.requests,
            seed=args.seed,
            backend=args.backend,
            progress="none" if args.no_progress else "auto",
            out=out,
            err=err,
            verbose=args.verbose,
            html=args.html,
        )
    if args.command == "fetch":
        return _fetch_command(args, parser, out, err)
    return _serve_command(args, out, err)
