"""The README's quick start runs as a user would run it and prints what the README says.

The block is copied out of README.md and run in a fresh interpreter (isolated mode, from
an empty directory), with the dev and optional packages made unimportable, so it needs
only what ``pip install httpx-resilient`` installs. Its output must match the ``text``
block the README shows after it line by line, ``...`` standing for the varying fields.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Importable in the test venv, but not installed by a plain ``pip install httpx-resilient``.
NOT_INSTALLED = (
    "pytest",
    "trio",
    "rich",
    "prometheus_client",
    "opentelemetry",
    "coredis",
    "hishel",
    "mkdocs",
    "httpx2",
)


def _anyio_requires_sniffio() -> bool:
    requires = importlib.metadata.requires("anyio") or []
    return any(r.startswith("sniffio") and "extra ==" not in r for r in requires)


if not _anyio_requires_sniffio():  # trio installs it; recent anyio releases do not
    NOT_INSTALLED = (*NOT_INSTALLED, "sniffio")
# Runs before the quick start: refuses to import any of NOT_INSTALLED.
GUARD = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed by pip install httpx-resilient")
        return None
sys.meta_path.insert(0, _NotInstalled())
"""


def quick_start() -> tuple[str, list[str]]:
    """The quick start's code and the lines the README says it prints."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    printed = re.search(r"```text\n(.*?)```", section, re.S)
    assert code is not None, "the quick start has no python block"
    assert printed is not None, "the quick start does not show what it prints"
    return code.group(1), printed.group(1).splitlines()


def pattern(line: str) -> re.Pattern[str]:
    """A README output line as a regex: ``...`` matches anything, the rest literally."""
    return re.compile(".*".join(re.escape(part) for part in line.split("...")) + r"\Z")


def test_the_quick_start_prints_what_the_readme_says(tmp_path: Path) -> None:
    code, expected = quick_start()
    script = tmp_path / "quickstart.py"
    script.write_text(GUARD.format(names=NOT_INSTALLED) + code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-I", "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(expected), result.stdout
    for line, wanted in zip(lines, expected, strict=True):
        assert pattern(wanted).match(line), f"printed {line!r}, README says {wanted!r}"


def test_the_guard_refuses_a_dev_package(tmp_path: Path) -> None:
    script = tmp_path / "uses_pytest.py"
    script.write_text(GUARD.format(names=NOT_INSTALLED) + "import pytest\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-I", str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "not installed by pip install httpx-resilient" in result.stderr


def test_an_output_line_must_match() -> None:
    assert pattern("a ... c").match("a bb c")
    assert not pattern("a ... c").match("a bb d")
