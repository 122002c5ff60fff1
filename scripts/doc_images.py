"""Make the pictures in docs/img/ from their sources, so they can be made again.

- ``report-rate.svg`` and ``report-breakers.svg``: charts of ``httpx-resilient demo
  --html`` (the default workload, seed 1), taken out of the report as they are.
- ``dashboard.svg``: the layout of ``docs/grafana-dashboard.json``: each panel where
  Grafana puts it, with its title, kind and the metrics it queries.

Usage: ``python scripts/doc_images.py`` (about 10 s: it runs the demo once).
"""

from __future__ import annotations

import io
import json
import re
import sys
import tempfile
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from httpx_resilient._cli import main as cli  # noqa: E402

IMG = ROOT / "docs" / "img"
SVG_NS = "http://www.w3.org/2000/svg"


def side_by_side(charts: list[str], labels: list[str]) -> str:
    """Charts of the report in one row, each under its label."""
    sizes = [
        (int(re.search(r'width="(\d+)"', c)[1]), int(re.search(r'height="(\d+)"', c)[1]))
        for c in charts
    ]  # type: ignore[index]
    width = sum(w for w, _ in sizes) + 20 * (len(charts) - 1)
    height = max(h for _, h in sizes) + 22
    parts = [
        f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    x = 0
    for chart, label, (w, _) in zip(charts, labels, sizes, strict=True):
        parts.append(f'<text x="{x + 70}" y="14" font-size="13" fill="#555">{escape(label)}</text>')
        inner = chart.replace("<svg ", f'<svg x="{x}" y="20" ', 1)
        parts.append(inner)
        x += w + 20
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def report_images() -> None:
    """Run the demo with ``--html`` and keep two of its charts."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.html"
        cli(["demo", "--no-progress", "--html", str(path)], out=io.StringIO(), err=io.StringIO())
        html = path.read_text(encoding="utf-8")
    charts = re.findall(r"<svg .*?</svg>", html, re.DOTALL)
    titled = {re.search(r"<title>(.*?)</title>", c)[1]: c for c in charts}  # type: ignore[index]
    rate = [
        titled[f"Requests per second: {who}"]
        for who in ("bare httpx.AsyncClient", "ResilientTransport")
    ]
    (IMG / "report-rate.svg").write_text(
        side_by_side(rate, ["bare httpx.AsyncClient", "ResilientTransport"]), encoding="utf-8"
    )
    breakers = titled["Circuit breaker state per endpoint: ResilientTransport"]
    (IMG / "report-breakers.svg").write_text(
        side_by_side([breakers], ["ResilientTransport: breaker state per endpoint"]),
        encoding="utf-8",
    )


def dashboard_image() -> None:
    """Draw the dashboard's grid: 24 columns, rows of 30 px as in Grafana."""
    data = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    col, row = 40, 30
    panels = data["panels"]
    width = 24 * col
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) * row + 40
    parts = [
        f'<svg xmlns="{SVG_NS}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#111217"/>',
        f'<text x="10" y="24" font-size="16" fill="#ccccdc">{escape(data["title"])} '
        "(Grafana dashboard layout)</text>",
    ]
    for p in panels:
        g = p["gridPos"]
        x, y, w, h = g["x"] * col + 4, g["y"] * row + 40, g["w"] * col - 8, g["h"] * row - 8
        metrics = sorted(
            {m for t in p["targets"] for m in re.findall(r"httpx_resilient_[a-z0-9_]+", t["expr"])}
        )
        parts += [
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="#181b1f" '
            'stroke="#2c3235"/>',
            f'<text x="{x + 10}" y="{y + 20}" font-size="13" fill="#ccccdc">'
            f"{escape(p['title'])}</text>",
            f'<text x="{x + 10}" y="{y + 36}" font-size="10" fill="#8e8e8e">'
            f"{escape(p['type'])}</text>",
        ]
        parts += _sketch(p["type"], x + 10, y + 48, w - 20, h - 60 - 14 * len(metrics))
        for i, metric in enumerate(metrics):
            ty = y + h - 10 - 14 * (len(metrics) - 1 - i)
            parts.append(
                f'<text x="{x + 10}" y="{ty}" font-size="10" fill="#6e9fff">{escape(metric)}</text>'
            )
    parts.append("</svg>")
    (IMG / "dashboard.svg").write_text("\n".join(parts) + "\n", encoding="utf-8")


def _sketch(kind: str, x: float, y: float, w: float, h: float) -> list[str]:
    """A schematic of the panel's kind: bands for a state timeline, a line otherwise."""
    if h < 12:
        return []
    if kind == "state-timeline":
        colours = ["#73bf69", "#73bf69", "#fade2a", "#f2495c", "#73bf69"]
        step = w / len(colours)
        return [
            f'<rect x="{x + i * step:.0f}" y="{y}" width="{step:.0f}" height="{min(h, 24):.0f}" '
            f'fill="{c}" opacity="0.8"/>'
            for i, c in enumerate(colours)
        ]
    shape = [0.6, 0.55, 0.7, 0.4, 0.45, 0.3, 0.5, 0.35, 0.6, 0.5]
    points = " ".join(
        f"{x + w * i / (len(shape) - 1):.0f},{y + h * v:.0f}" for i, v in enumerate(shape)
    )
    return [f'<polyline points="{points}" fill="none" stroke="#73bf69" stroke-width="2"/>']


if __name__ == "__main__":
    IMG.mkdir(parents=True, exist_ok=True)
    report_images()
    dashboard_image()
    print("wrote", ", ".join(sorted(p.name for p in IMG.glob("*.svg"))))
