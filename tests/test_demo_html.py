"""``demo --html``: a self-contained, well-formed report whose every chart has data."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from httpx_resilient._cli import main
from httpx_resilient._cli.html import rate_points
from httpx_resilient._cli.sampler import Sample

SVG = "{http://www.w3.org/2000/svg}"
VOID = {"meta", "br", "img", "input", "link", "hr"}


class TagBalance(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: object) -> None:
        return None

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1] == tag, f"</{tag}> closes <{self.open[-1]}>"
        self.open.pop()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("demo") / "report.html"
    out = io.StringIO()
    status = main(
        ["demo", "--requests", "150", "--no-progress", "--html", str(path)],
        out=out,
        err=io.StringIO(),
    )
    assert status == 0
    assert f"HTML report: {path}" in out.getvalue()
    assert "succeeded" in out.getvalue()  # the terminal report is still printed
    return Path(path).read_text(encoding="utf-8")


def test_the_report_is_well_formed(report: str) -> None:
    root = ET.fromstring(report.replace("<!DOCTYPE html>", "", 1))
    assert root.tag == "html"
    balance = TagBalance()
    balance.feed(report)
    balance.close()
    assert balance.open == []


def test_every_chart_has_data_points_from_the_run(report: str) -> None:
    root = ET.fromstring(report.replace("<!DOCTYPE html>", "", 1))
    charts = root.findall(f".//{SVG}svg")
    titles = [chart.findtext(f"{SVG}title") for chart in charts]
    # five charts, bare and stack side by side, but the breaker's only for the stack
    assert len(charts) == 9, titles
    for chart, title in zip(charts, titles, strict=True):
        lines = chart.findall(f".//{SVG}polyline")
        bands = chart.findall(f".//{SVG}rect[@class='band']")
        points = [p for line in lines for p in line.get("points", "").split()]
        assert len(points) >= 4 or bands, f"{title}: no data"
        for line in lines:
            assert len(line.get("points", "").split()) >= 2, f"{title}: a series with no data"
    rates = [c for c, t in zip(charts, titles, strict=True) if t and "per second" in t]
    values = [
        float(p.split(",")[1])
        for chart in rates
        for line in chart.findall(f".//{SVG}polyline")
        for p in line.get("points", "").split()
    ]
    assert len(set(values)) > 3  # the lines move: they come from the run, not constants
    breaker = [c for c, t in zip(charts, titles, strict=True) if t and "breaker" in t]
    assert breaker
    assert breaker[0].findall(f".//{SVG}rect[@class='band']")


def test_the_report_makes_no_network_reference(report: str) -> None:
    urls = set(re.findall(r"""(?i)(?:https?:)?//[^\s"'<>)]+""", report))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    lowered = report.lower()
    for needle in ("<script", "<link", "<img", "src=", "url(", "@import"):
        assert needle not in lowered, needle


def test_rates_are_counts_over_the_last_half_second() -> None:
    samples = [
        Sample(t=i / 10, offered=10 * i, sent=0, done=0, throttled=0, retries=0) for i in range(11)
    ]
    points = rate_points(samples, lambda s: s.offered)
    assert points[0] == (0.0, 0.0)
    assert points[1] == pytest.approx((0.1, 100.0))
    assert points[-1] == pytest.approx((1.0, 100.0))
