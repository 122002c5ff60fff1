"""``demo --html``: the demo as one self-contained HTML page of charts over time.

Inline SVG and inline CSS only: no script, no font, no image and no link to anything
outside the file, so it opens offline and can be mailed or attached to a ticket. Each
chart shows the bare client's run and the stack's side by side on the same axes.
The page is also well-formed XML (the test parses it with ``xml.etree``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

from .report import report_rows
from .sampler import Sample
from .svg import Series, band_chart, line_chart

if TYPE_CHECKING:
    from .workload import Phase

__all__ = ["render_html", "rate_points"]

WINDOW = 0.5  # seconds over which a rate is averaged
BLUE, GREEN, RED, ORANGE, GREY, PURPLE = (
    "#1e88e5",
    "#43a047",
    "#e53935",
    "#fb8c00",
    "#757575",
    "#8e24aa",
)
_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1000px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; border-bottom: 1px solid #ddd; }
td:nth-child(n+2) { text-align: right; }
.pair { display: flex; gap: 16px; flex-wrap: wrap; }
.panel h3 { font-size: 13px; margin: 4px 0; color: #555; }
.note { color: #666; font-size: 13px; }
"""


def rate_points(
    samples: Sequence[Sample], count: Callable[[Sample], int]
) -> list[tuple[float, float]]:
    """``count`` per second over the last ``WINDOW`` seconds, at each sample."""
    points: list[tuple[float, float]] = []
    j = 0
    for i, sample in enumerate(samples):
        while samples[j].t < sample.t - WINDOW:
            j += 1
        span = sample.t - samples[j].t
        if i == 0 or span <= 0:
            points.append((sample.t, 0.0))
        else:
            points.append((sample.t, (count(sample) - count(samples[j])) / span))
    return points


def _points(
    samples: Sequence[Sample], value: Callable[[Sample], float]
) -> list[tuple[float, float]]:
    return [(s.t, float(value(s))) for s in samples]


def _flat(samples: Sequence[Sample], value: float) -> list[tuple[float, float]]:
    return [(samples[0].t, value), (samples[-1].t, value)] if samples else []


def _peak(series: Sequence[Series]) -> float:
    return max((v for s in series for _, v in s.points), default=1.0)


def _pair(
    title: str, make: Callable[[Sequence[Sample], bool], list[Series]], bare: Phase, stack: Phase
) -> str:
    """One chart for each phase, on the same axes."""
    both = [make(bare.samples, False), make(stack.samples, True)]
    x_max = max((s.t for p in (bare, stack) for s in p.samples[-1:]), default=1.0)
    y_max = max(_peak(both[0]), _peak(both[1]))
    panels = [
        f'<div class="panel"><h3>{escape(label)}</h3>'
        f"{line_chart(f'{title}: {label}', series, x_max=x_max, y_max=y_max)}</div>"
        for label, series in zip(
            ("bare httpx.AsyncClient", "ResilientTransport"), both, strict=True
        )
    ]
    return f'<h2>{escape(title)}</h2>\n<div class="pair">{"".join(panels)}</div>'


def _rates(quota: float, limit: float) -> Callable[[Sequence[Sample], bool], list[Series]]:
    def make(samples: Sequence[Sample], stack: bool) -> list[Series]:
        series = [
            Series("offered", BLUE, rate_points(samples, lambda s: s.offered)),
            Series("to the network", GREEN, rate_points(samples, lambda s: s.sent)),
            Series(f"server quota {quota:g}", GREY, _flat(samples, quota), dashed=True),
        ]
        if stack:
            series.append(Series(f"client limit {limit:g}", PURPLE, _flat(samples, limit), True))
        return series

    return make


def _throttling(samples: Sequence[Sample], stack: bool) -> list[Series]:
    return [
        Series("429s", RED, rate_points(samples, lambda s: s.throttled)),
        Series("retries", ORANGE, rate_points(samples, lambda s: s.retries)),
    ]


def _in_flight(samples: Sequence[Sample], stack: bool) -> list[Series]:
    series = [Series("in flight", BLUE, _points(samples, lambda s: s.offered - s.done))]
    if stack:
        series.append(Series("queued", ORANGE, _points(samples, lambda s: s.queue_waiting)))
        series.append(Series("running", GREEN, _points(samples, lambda s: s.queue_active)))
        if any(s.limit is not None for s in samples):
            limit = _points(samples, lambda s: s.limit or 0)
            series.append(Series("concurrency limit", PURPLE, limit, dashed=True))
    return series


def _savings(samples: Sequence[Sample], stack: bool) -> list[Series]:
    if not stack:  # the bare client saves nothing: its line stays at zero
        return [Series("saved", BLUE, _points(samples, lambda s: 0))]
    return [
        Series("saved", BLUE, _points(samples, lambda s: s.cache_hits + s.dedup_shared)),
        Series("cache hits", GREEN, _points(samples, lambda s: s.cache_hits)),
        Series("dedup shared", ORANGE, _points(samples, lambda s: s.dedup_shared)),
    ]


def _bands(samples: Sequence[Sample]) -> dict[str, list[tuple[float, float, str]]]:
    """Each breaker key's state over time as ``(start, end, state)`` spans."""
    rows: dict[str, list[tuple[float, float, str]]] = {}
    for before, after in itertools.pairwise(samples):
        for key, state in before.circuits.items():
            spans = rows.setdefault(key, [])
            if spans and spans[-1][2] == state and spans[-1][1] == before.t:
                spans[-1] = (spans[-1][0], after.t, state)
            else:
                spans.append((before.t, after.t, state))
    return dict(sorted(rows.items()))


def _breakers(stack: Phase) -> str:
    rows = _bands(stack.samples)
    x_max = stack.samples[-1].t if stack.samples else 1.0
    title = "Circuit breaker state per endpoint"
    note = "The bare client has no breaker: every request to a failing endpoint goes out."
    if not rows:
        return f'<h2>{title}</h2><p class="note">No breaker was used. {note}</p>'
    chart = band_chart(f"{title}: ResilientTransport", rows, x_max=x_max)
    return f'<h2>{title}</h2>\n<p class="note">{note}</p>\n<div class="panel">{chart}</div>'


def render_html(
    bare: Phase, stack: Phase, *, settings: str, limit: str, quota: float, rate: float
) -> str:
    """The whole report page."""
    rows = "\n".join(
        f"<tr><td>{escape(what)}</td><td>{escape(b)}</td><td>{escape(s)}</td></tr>"
        for what, b, s in report_rows(bare, stack, limit=limit)
    )
    sections = [
        _pair("Requests per second", _rates(quota, rate), bare, stack),
        _pair("429s and retries per second", _throttling, bare, stack),
        _breakers(stack),
        _pair("Requests in flight, queue and concurrency limit", _in_flight, bare, stack),
        _pair(
            "Requests the network never saw (cache and dedup), cumulative", _savings, bare, stack
        ),
    ]
    body = "\n".join(sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>httpx-resilient demo report</title>
<style>{_CSS}</style>
</head>
<body>
<h1>httpx-resilient demo: a bare client and the stack, side by side</h1>
<p class="note">{escape(settings)}</p>
<table>
<tr><th></th><th>bare httpx</th><th>ResilientTransport</th></tr>
{rows}
</table>
{body}
</body>
</html>
"""
