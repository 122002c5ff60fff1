"""Progress display for the command line: a live ``rich`` bar, plain lines, or nothing.

``rich`` comes with the ``[cli]`` extra; without it (or when the stream is not a
terminal) progress is a plain line at every tenth of the work.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, Protocol, TextIO

__all__ = ["Progress", "make_progress"]

Mode = Literal["auto", "plain", "none"]


class Progress(Protocol):
    """Counts finished items of one task at a time, ok or failed."""

    def start(self, label: str, total: int) -> None:
        """Begin a task of ``total`` items."""

    def advance(self, ok: bool) -> None:
        """One more item finished."""

    def finish(self) -> None:
        """The current task is over."""

    def close(self) -> None:
        """Stop the display."""


class _Counts:
    def __init__(self) -> None:
        self.label = ""
        self.total = self.done = self.ok = 0

    def start(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.done = self.ok = 0

    def count(self, ok: bool) -> None:
        self.done += 1
        self.ok += ok

    def line(self) -> str:
        failed = self.done - self.ok
        return f"{self.label}: {self.done}/{self.total} done, {self.ok} ok, {failed} failed"


class NoProgress(_Counts):
    """Shows nothing."""

    def advance(self, ok: bool) -> None:
        self.count(ok)

    def finish(self) -> None:
        return None

    def close(self) -> None:
        return None


class PlainProgress(_Counts):
    """A plain line at every tenth of the work, and at the end."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._next = 0

    def start(self, label: str, total: int) -> None:
        super().start(label, total)
        self._next = max(1, total // 10)

    def advance(self, ok: bool) -> None:
        self.count(ok)
        if self.done >= self._next and self.done < self.total:
            self._next += max(1, self.total // 10)
            print(self.line(), file=self._stream, flush=True)

    def finish(self) -> None:
        print(self.line(), file=self._stream, flush=True)

    def close(self) -> None:
        return None


class RichProgress(_Counts):
    """A live ``rich`` progress bar per task."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bar

        self._bar: Any = Bar(
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self._task: Any = None
        self._bar.start()

    def start(self, label: str, total: int) -> None:
        super().start(label, total)
        self._task = self._bar.add_task(label, total=total, ok=0, failed=0)

    def advance(self, ok: bool) -> None:
        self.count(ok)
        self._bar.update(self._task, advance=1, ok=self.ok, failed=self.done - self.ok)

    def finish(self) -> None:
        self._bar.refresh()

    def close(self) -> None:
        self._bar.stop()


def rich_available() -> bool:
    """Whether the optional ``rich`` package can be imported."""
    return importlib.util.find_spec("rich") is not None


def make_progress(mode: Mode, stream: TextIO) -> Progress:
    """The display for ``mode``: ``"none"``, ``"plain"``, or ``"auto"`` (``rich`` when it
    is installed and ``stream`` is a terminal, else plain lines)."""
    if mode == "none":
        return NoProgress()
    if mode == "auto" and stream.isatty() and rich_available():
        return RichProgress(stream)
    return PlainProgress(stream)
