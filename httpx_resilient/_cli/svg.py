"""Small inline-SVG charts for the demo's HTML report: lines over time and state bands.

No dependency and no script: each chart is one ``<svg>`` element. Every series is a
``<polyline class="series">`` and every band a ``<rect class="band">``, so a test can
count the data a chart holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["STATE_COLOURS", "Series", "band_chart", "line_chart"]

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 460, 190
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 10, 40
STATE_COLOURS = {"closed": "#43a047", "half_open": "#ffb300", "open": "#e53935"}


@dataclass(frozen=True, slots=True)
class Series:
    """One line: ``points`` are ``(seconds, value)``; ``dashed`` for a reference line."""

    label: str
    colour: str
    points: Sequence[tuple[float, float]]
    dashed: bool = False


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _frame(title: str, x_max: float, y_max: float | None, height: int) -> list[str]:
    """The ``<svg>`` opening, the axes, the ticks and the title."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    parts = [
        f'<svg xmlns="{SVG_NS}" class="chart" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#bbb"/>',
    ]
    for i in range(6):
        x = LEFT + plot_w * i / 5
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" font-size="10" '
            f'text-anchor="middle">{_fmt(x_max * i / 5)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h + 26}" font-size="10" '
        'text-anchor="middle">seconds</text>'
    )
    if y_max is not None:
        for i in range(6):
            y = TOP + plot_h * (1 - i / 5)
            parts.append(
                f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e6e6e6"/>'
            )
            parts.append(
                f'<text x="{LEFT - 4}" y="{y + 3:.1f}" font-size="10" '
                f'text-anchor="end">{_fmt(y_max * i / 5)}</text>'
            )
    return parts


def _legend(items: Sequence[tuple[str, str]], y: float) -> list[str]:
    parts, x = [], float(LEFT)
    for label, colour in items:
        parts.append(f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10" fill="{colour}"/>')
        parts.append(
            f'<text x="{x + 13:.1f}" y="{y + 1:.1f}" font-size="10">{escape(label)}</text>'
        )
        x += 22 + 6 * len(label)
    return parts


def line_chart(title: str, series: Sequence[Series], *, x_max: float, y_max: float) -> str:
    """Lines over time on shared axes (pass the same maxima to charts compared side by side)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x_max, y_max = nice_max(x_max), nice_max(y_max)
    parts = _frame(title, x_max, y_max, HEIGHT)
    for s in series:
        coords = " ".join(
            f"{LEFT + plot_w * min(t, x_max) / x_max:.1f},"
            f"{TOP + plot_h * (1 - min(v, y_max) / y_max):.1f}"
            for t, v in s.points
        )
        dash = ' stroke-dasharray="5,4"' if s.dashed else ""
        parts.append(
            f'<polyline class="series" data-label="{escape(s.label)}" points="{coords}" '
            f'fill="none" stroke="{s.colour}" stroke-width="1.6"{dash}/>'
        )
    parts += _legend([(s.label, s.colour) for s in series], HEIGHT - 3)
    parts.append("</svg>")
    return "\n".join(parts)


def band_chart(
    title: str, rows: Mapping[str, Sequence[tuple[float, float, str]]], *, x_max: float
) -> str:
    """One row of colour bands per key: ``(start, end, state)`` spans over time."""
    plot_w, row_h = WIDTH - LEFT - RIGHT, 16
    height = TOP + BOTTOM + row_h * max(1, len(rows))
    x_max = nice_max(x_max)
    parts = _frame(title, x_max, None, height)
    for i, (key, spans) in enumerate(rows.items()):
        y = TOP + i * row_h
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 12}" font-size="10" text-anchor="end">'
            f"{escape(key)}</text>"
        )
        for start, end, state in spans:
            x0 = LEFT + plot_w * start / x_max
            width = max(0.8, plot_w * (end - start) / x_max)
            colour = STATE_COLOURS.get(state, "#999")
            parts.append(
                f'<rect class="band" data-state="{escape(state)}" x="{x0:.1f}" y="{y + 2}" '
                f'width="{width:.1f}" height="{row_h - 4}" fill="{colour}"/>'
            )
    parts += _legend([(s.replace("_", "-"), c) for s, c in STATE_COLOURS.items()], height - 3)
    parts.append("</svg>")
    return "\n".join(parts)
