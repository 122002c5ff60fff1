"""The demo's closing report: the bare client and the stack side by side.

A ``rich`` table on a terminal when ``rich`` is installed, aligned plain text otherwise.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, TextIO

from .progress import rich_available

if TYPE_CHECKING:
    from .workload import Phase

__all__ = ["print_report", "report_rows"]

_HEADER = ("", "bare httpx", "ResilientTransport")


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f} %)" if total else str(count)


def _top_failures(phase: Phase) -> str:
    common = phase.result.failures.most_common(3)
    return ", ".join(f"{name} x{count}" for name, count in common) or "-"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report_rows(bare: Phase, stack: Phase, *, limit: str) -> list[tuple[str, str, str]]:
    """The report as (what, bare, stack) rows; ``limit`` describes the configured rate."""
    metrics = stack.metrics
    b, s = bare.result, stack.result

    def layer(name: str) -> str:
        return "-" if metrics is None else str(getattr(metrics, name))

    def server(key: str) -> tuple[str, str]:
        return str(bare.server[key]), str(stack.server[key])

    def rate(phase: Phase) -> str:
        duration = phase.result.duration
        return f"{phase.sent / duration:.0f}/s" if duration > 0 else "-"

    return [
        ("requests", str(b.requests), str(s.requests)),
        ("succeeded", _share(b.succeeded, b.requests), _share(s.succeeded, s.requests)),
        ("failed", _share(b.failed, b.requests), _share(s.failed, s.requests)),
        ("  most common failures", _top_failures(bare), _top_failures(stack)),
        ("reached the server", *server("requests")),
        ("  saved by the cache", "-", layer("cache_hits")),
        ("  saved by dedup", "-", layer("dedup_shared")),
        ("304 revalidations", *server("not_modified")),
        ("retries", "-", layer("retry_count")),
        ("breaker trips", "-", layer("circuit_breaker_opens")),
        ("429 from the server", *server("rate_limited")),
        ("resets by the server", *server("resets")),
        ("rate limit", "none", limit),
        ("peak rate, any 1 s", f"{bare.peak_rate}/s", f"{stack.peak_rate}/s"),
        ("average rate", rate(bare), rate(stack)),
        ("latency p50 / p95 (ms)", f"{_ms(b.percentile(0.5))} / {_ms(b.percentile(0.95))}",
         f"{_ms(s.percentile(0.5))} / {_ms(s.percentile(0.95))}"),
        ("wall time", f"{b.duration:.1f} s", f"{s.duration:.1f} s"),
    ]  # fmt: skip


def _plain(rows: list[tuple[str, str, str]]) -> str:
    table = [_HEADER, *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = []
    for n, row in enumerate(table):
        cells = (row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2]))
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_report(
    bare: Phase, stack: Phase, *, limit: str, settings: str, out: TextIO, rich: bool
) -> None:
    """Print the table, then what the stack was configured with.

    Args:
        bare: the phase through a bare client.
        stack: the phase through ``ResilientTransport``.
        limit: the configured rate, for the peak rate row.
        settings: one paragraph describing the stack's configuration.
        out: where to print.
        rich: draw a ``rich`` table (when ``rich`` is installed).
    """
    rows = report_rows(bare, stack, limit=limit)
    if rich and rich_available():
        from rich.console import Console
        from rich.table import Table

        table = Table(title="What each layer did", title_justify="left")
        table.add_column(_HEADER[0])
        table.add_column(_HEADER[1], justify="right")
        table.add_column(_HEADER[2], justify="right", style="bold")
        for row in rows:
            table.add_row(*row)
        console = Console(file=out)
        console.print(table)
    else:
        print(file=out)
        print(_plain(rows), file=out)
    print(file=out)
    print(textwrap.fill(f"Stack: {settings}", width=88), file=out, flush=True)
