"""The docs' configuration tables are generated from the code and up to date."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gen_docs_tables.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_the_docs_tables_are_up_to_date() -> None:
    result = run("--check")
    assert result.returncode == 0, result.stderr


def test_a_stale_table_is_found_and_rewritten(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- BEGIN GENERATED: config QueueConfig -->\nSTALE ROW\n<!-- END GENERATED -->\n"
        "<!-- BEGIN GENERATED: env -->\n<!-- END GENERATED -->\n",
        encoding="utf-8",
    )
    stale = run("--check", "--docs", str(tmp_path))
    assert stale.returncode == 1
    assert "page.md" in stale.stderr
    assert run("--docs", str(tmp_path)).returncode == 0
    text = page.read_text(encoding="utf-8")
    assert "| `max_concurrency` | `int` | `100` |" in text
    assert "| `API_QUEUE_MAX_CONCURRENCY` | `100` |" in text
    assert "| `API_RATE_WINDOW` | `60` |" in text  # the variable's default, not the class's
    assert "STALE ROW" not in text
    assert run("--check", "--docs", str(tmp_path)).returncode == 0


@pytest.fixture(scope="module")
def tables() -> object:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import gen_docs_tables
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return gen_docs_tables


def test_every_config_field_has_a_description(tables: object) -> None:
    undocumented = [
        f"{name}.{f.name}"
        for name, cls in tables.CONFIGS.items()  # type: ignore[attr-defined]
        for f in dataclasses.fields(cls)
        if f.name not in tables.attribute_docs(cls)  # type: ignore[attr-defined]
    ]
    assert undocumented == []


def test_every_environment_variable_is_in_the_table(tables: object) -> None:
    from httpx_resilient import _env

    table = tables.env_table()  # type: ignore[attr-defined]
    for suffix, *_ in _env._VARIABLES:
        assert f"| `API_{suffix}` |" in table
