"""The command line: ``demo`` end to end, ``fetch`` against the chaos server, and
``chaos-server`` as a process. ``main()`` runs its own event loop, so these tests are
synchronous and choose the backend with ``--backend``."""

from __future__ import annotations

import io
import json
import pathlib
import re
import signal
import subprocess
import sys

import httpx
import pytest

from httpx_resilient._cli import main
from httpx_resilient.testing._chaos import chaos_server_thread

pytestmark = pytest.mark.integration

RECORD_KEYS = {"url", "status", "elapsed", "attempts", "from_cache", "error"}


def report_row(report: str, label: str) -> list[str]:
    """The cells of the plain-text report row that starts with ``label``."""
    for line in report.splitlines():
        if line.startswith(label):
            return re.split(r"\s{2,}", line.strip())[1:]
    raise AssertionError(f"no row {label!r} in:\n{report}")


def test_demo_runs_end_to_end_in_process() -> None:
    out, err = io.StringIO(), io.StringIO()
    status = main(["demo", "--requests", "60"], out=out, err=err)
    assert status == 0
    report = out.getvalue()
    assert report_row(report, "requests") == ["60", "60"]
    bare_ok, stack_ok = (int(cell.split()[0]) for cell in report_row(report, "succeeded"))
    assert stack_ok >= bare_ok
    assert stack_ok >= 57  # retries, cache and dedup absorb the faults
    for label in ("reached the server", "retries", "breaker trips", "peak rate", "latency"):
        assert len(report_row(report, label)) == 2
    assert report_row(report, "rate limit") == ["none", "80/s, burst 20"]
    # stderr is not a terminal: progress is plain lines, ending with each phase's total.
    assert "bare httpx.AsyncClient: 60/60 done" in err.getvalue()
    assert "ResilientTransport: 60/60 done" in err.getvalue()


def test_demo_as_a_process_under_trio_with_no_progress() -> None:
    command = [sys.executable, "-m", "httpx_resilient", "demo", "--requests", "60"]
    done = subprocess.run(
        [*command, "--no-progress", "--backend", "trio"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(seed 1, trio)" in done.stdout
    assert report_row(done.stdout, "requests") == ["60", "60"]
    assert done.stderr == ""


def run_fetch(args: list[str]) -> tuple[int, list[dict[str, object]]]:
    out = io.StringIO()
    status = main(["fetch", *args, "--no-progress"], out=out, err=io.StringIO())
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    for record in records:
        assert set(record) == RECORD_KEYS
    return status, records


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_fetch_writes_json_lines(
    backend: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_RETRY_BASE_DELAY", "0.001")  # environment fallback
    monkeypatch.setenv("API_RETRY_MAX_DELAY", "0.01")
    with chaos_server_thread(seed=1) as url:
        urls = tmp_path / "urls.txt"
        urls.write_text(
            f"# a comment\n{url}/ok\n\n{url}/flaky?fail=1\n{url}/cacheable\n{url}/cacheable\n"
            f"not a url\n{url}/reset\n"
        )
        status, records = run_fetch(
            [str(urls), "--retries", "2", "--cache", "--concurrency", "1", "--rate", "500",
             "--timeout", "5", "--backend", backend]
        )  # fmt: skip
        server_saw = httpx.get(url + "/stats").json()
    assert status == 1  # some URLs failed
    by_url = {(record["url"], record["from_cache"]): record for record in records}
    assert len(records) == 6
    ok = by_url[(f"{url}/ok", False)]
    assert (ok["status"], ok["attempts"], ok["error"]) == (200, 1, None)
    flaky = by_url[(f"{url}/flaky?fail=1", False)]
    assert flaky["status"] in (502, 503, 504)
    assert flaky["attempts"] == 3
    assert by_url[(f"{url}/cacheable", True)]["status"] == 200  # the second came from cache
    bad = by_url[("not a url", False)]
    assert bad["status"] is None
    assert "UnsupportedProtocol" in str(bad["error"])
    reset = by_url[(f"{url}/reset", False)]
    assert reset["status"] is None
    assert reset["error"]
    assert reset["attempts"] == 3  # a failure that was retried says how often
    assert all(isinstance(record["elapsed"], float) for record in records)
    assert server_saw["endpoints"] == {"/ok": 1, "/flaky": 3, "/cacheable": 1, "/reset": 3}


def test_fetch_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    with chaos_server_thread() as url:
        monkeypatch.setattr(sys, "stdin", io.StringIO(f"{url}/items/1\n{url}/items/2\n"))
        status, records = run_fetch([])
    assert status == 0
    assert sorted(record["status"] for record in records) == [200, 200]  # type: ignore[type-var]


def test_fetch_names_a_bad_environment_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("API_RATE_LIMIT", "lots")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(SystemExit) as info:
        main(["fetch"])
    assert info.value.code == 2
    assert "API_RATE_LIMIT" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["demo", "--requests", "0"],
        ["demo", "--backend", "curio"],
        ["fetch", "--rate", "fast"],
        ["fetch", "--rate", "0"],
        ["fetch", "--timeout", "inf"],
        ["fetch", "--concurrency", "0"],
        ["fetch", "/no/such/file"],
        ["chaos-server", "--rate-burst", "0"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err or argv[:1] == ["fetch"]


def test_chaos_server_command_reports_a_taken_port() -> None:
    err = io.StringIO()
    with chaos_server_thread() as url:
        port = url.rsplit(":", 1)[1]
        assert main(["chaos-server", "--port", port], out=io.StringIO(), err=err) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err.getvalue()


def test_chaos_server_port_out_of_range_is_one_line_and_status_2() -> None:
    command = [sys.executable, "-m", "httpx_resilient", "chaos-server", "--port", "99999"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "httpx-resilient chaos-server: --port must be 0-65535, got 99999"
    ]


def _default_sigint() -> None:
    # A shell may start the test run with SIGINT ignored; the server must get Ctrl+C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_chaos_server_command_serves_until_ctrl_c(backend: str) -> None:
    command = [sys.executable, "-m", "httpx_resilient", "chaos-server", "--port", "0"]
    with subprocess.Popen(
        [*command, "--seed", "3", "--backend", backend],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            url = re.search(r"http://127\.0\.0\.1:\d+", first)
            assert url, first
            assert httpx.get(url.group() + "/ok").json() == {"status": "ok"}
            process.send_signal(signal.SIGINT)
            rest, _ = process.communicate(timeout=20)
        finally:
            process.kill()
    assert process.returncode == 0
    assert "stopped" in rest
