"""Every ``python`` code block in README.md and docs/**/*.md runs, or says why not.

A block runs in a fresh namespace with ``__name__ == "__doc_example__"`` and a copy of
``os.environ`` that is restored afterwards; it fails the test if it raises (warnings are
errors, as everywhere in the suite). A block that defines ``async def test_*()``
functions with no parameters has each of them run under asyncio and trio, so a test
example in the docs is a real test. Blocks that need what a test cannot have (the
internet, a Redis cluster, names defined elsewhere) carry a marker on the line before
the fence, ``<!-- not-run: why -->``: they are still compiled, and skipped with that
reason. A page's blocks that are identical to another page's run once.

Why an extractor of our own rather than sybil or pytest-examples: both run a document's
blocks in one shared namespace (or in the pytest process without restoring the
environment), neither runs ``async def test_*`` bodies under both anyio backends, and
pytest-examples also lints and formats each block. This is about 100 lines.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced ``python`` block: where it is, its code, and why it is not run."""

    where: str
    line: int
    code: str
    not_run: str | None


def extract(path: Path, root: Path = ROOT) -> list[Block]:
    """The ``python`` blocks of the Markdown file ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if opening.group("lang") in ("python", "py"):
            indent = len(opening.group("indent"))
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            before = lines[i - 1] if i else ""
            marker = NOT_RUN.match(before)
            reason = marker.group("reason") if marker else None
            where = path.relative_to(root).as_posix()
            blocks.append(Block(where, i + 1, code, reason))
        i = end + 1
    return blocks


def documents() -> list[Path]:
    """README.md and every page of the docs."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def all_blocks() -> list[Block]:
    """Every block once: a block identical to an earlier one is left out."""
    seen: set[str] = set()
    unique = []
    for path in documents():
        for block in extract(path):
            if block.code not in seen:
                seen.add(block.code)
                unique.append(block)
    return unique


BLOCKS = all_blocks()
IDS = [f"{b.where}:{b.line}" for b in BLOCKS]


def compile_block(block: Block) -> Any:
    """The block's code object (top-level ``await`` allowed, as in the docs' fragments)."""
    return compile(
        block.code,
        f"{block.where}:{block.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_block_compiles(block: Block) -> None:
    compile_block(block)


@pytest.mark.parametrize("block", BLOCKS, ids=IDS)
def test_block_runs(block: Block) -> None:
    if block.not_run is not None:
        pytest.skip(f"{block.where}:{block.line} marked not-run: {block.not_run}")
    code = compile_block(block)
    assert not code.co_flags & inspect.CO_COROUTINE, (
        "a block with top-level await cannot run as a script: wrap it in a function, "
        "or mark it <!-- not-run: ... -->"
    )
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    with mock.patch.dict(os.environ):
        exec(code, namespace)  # noqa: S102 - the docs' own examples
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and inspect.iscoroutinefunction(fn):
                run_test_function(name, fn)


def run_test_function(name: str, fn: Callable[[], Any]) -> None:
    """Run a docs test function under asyncio and trio."""
    assert not inspect.signature(fn).parameters, (
        f"{name} takes fixtures: mark the block <!-- not-run: ... --> or drop them"
    )
    for backend in ("asyncio", "trio"):
        anyio.run(fn, backend=backend)


def test_the_extractor_sees_markers_and_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nx = 1\n```\n\n<!-- not-run: needs the internet -->\n"
        "```python\nimport nowhere\n```\n\n```console\n$ ls\n```\n",
        encoding="utf-8",
    )
    blocks = extract(page, root=tmp_path)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (3, "x = 1\n", None),
        (8, "import nowhere\n", "needs the internet"),
    ]


def test_a_block_that_raises_fails_the_test() -> None:
    block = Block("page.md", 1, "raise RuntimeError('boom')\n", None)
    with pytest.raises(RuntimeError, match="boom"):
        test_block_runs(block)


def test_a_failing_test_function_in_a_block_fails_the_test() -> None:
    code = "async def test_wrong() -> None:\n    assert 1 == 2\n"
    with pytest.raises(AssertionError):
        test_block_runs(Block("page.md", 1, code, None))


def test_every_page_has_its_blocks_collected() -> None:
    readme = extract(ROOT / "README.md")
    assert len(readme) >= 2  # the quick start and the per-layer example
    pages = [extract(path) for path in documents()[1:]]
    assert sum(len(blocks) for blocks in pages) >= 25
    assert {b.code for b in readme} <= {b.code for b in BLOCKS}
