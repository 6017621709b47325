"""Progress of a run: on a terminal, bars with the time left; otherwise plain lines; always a log.

:class:`Reporter` shows one line per stage and, inside a stage, the progress of its long
loops (``ctx.track(items, "...")``) with an estimate of the time left. When the output is not
a terminal (a pipe, a CI log, a scheduler), it writes plain lines instead of redrawing bars.
Everything it shows, and the run's notes and accepted warnings, also go to ``run.log`` in
the output set, with the time since the start of the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from carbonmap.words import Text, text_in, words

__all__ = ["Reporter"]


class Reporter:
    """Shows and logs a run's progress.

    Parameters
    ----------
    quiet : show nothing (the log is still written)
    stream : where progress is shown (default: standard error)
    language : the language of what is shown and logged (the run's, ``zh`` or ``en``)
    """

    def __init__(self, *, quiet: bool = False, stream: IO[str] | None = None, language: str = "en") -> None:
        self.quiet = quiet
        self.language = language
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.lines: list[str] = []
        self._log: IO[str] | None = None
        self._rich = None
        self._overall = None
        self.interactive = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()

    # ------------------------------------------------------------------ life cycle

    def open_log(self, path: Path) -> None:
        """Start writing the log at `path` (with what was shown so far)."""
        self._log = open(path, "w", encoding="utf-8")
        for line in self.lines:
            self._log.write(line + "\n")
        self._log.flush()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Reporter:
        if self.interactive:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self._rich = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                  TextColumn(self._say("progress.left")), TimeRemainingColumn(),
                                  console=Console(file=self.stream), transient=False)
            self._rich.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ what is shown

    def _say(self, key: str, **fields) -> str:
        """``words.csv``'s `key` in the run's language."""
        return words(key, **fields).in_(self.language)

    def log(self, text: str | Text, *, show: bool = True) -> None:
        """One line of the log (and of the plain-text progress, when `show`)."""
        line = f"[{time.monotonic() - self.start:7.1f} s] {text_in(text, self.language)}"
        self.lines.append(line)
        if self._log is not None:
            self._log.write(line + "\n")
            self._log.flush()
        if show and not self.quiet and not self.interactive:
            print(line, file=self.stream, flush=True)

    def run_started(self, name: str, stages: int) -> None:
        self.log(self._say("progress.run", name=name, stages=stages))
        if self._rich is not None:
            self._overall = self._rich.add_task(f"carbonmap: {name}", total=stages)

    def stage_started(self, number: int, total: int, name: str, description: str | Text) -> None:
        description = text_in(description, self.language)
        self.log(self._say("progress.stage", number=number, total=total, name=name, description=description))
        if self._rich is not None:
            self._rich.update(self._overall, description=f"carbonmap: {description}")

    def stage_done(self, name: str, seconds: float) -> None:
        self.log(self._say("progress.stage_done", name=name, seconds=f"{seconds:.1f}"), show=False)
        if self._rich is not None:
            self._rich.advance(self._overall)

    def step(self, description: str | Text, seconds: float) -> None:
        """A step of a long stage ended."""
        text = "  " + self._say("progress.step_done", description=description, seconds=f"{seconds:.1f}")
        self.log(text)
        if self._rich is not None:
            self._rich.console.print(text)

    def track(self, items: Iterable, description: str | Text) -> Iterator:
        """Iterate `items`, showing how far and how long is left."""
        description = text_in(description, self.language)
        items = list(items)
        if not items:
            return
        if self._rich is not None:
            task = self._rich.add_task(f"  {description}", total=len(items))
            for item in items:
                yield item
                self._rich.advance(task)
            return
        began = time.monotonic()
        step = max(1, len(items) // 10)
        for i, item in enumerate(items, 1):
            yield item
            if i % step == 0 or i == len(items):
                spent = time.monotonic() - began
                left = spent / i * (len(items) - i)
                self.log("  " + self._say("progress.track", description=description, done=i, total=len(items),
                                          spent=f"{spent:.1f}", left=f"{left:.0f}"))

    def finished(self, text: str | Text) -> None:
        text = text_in(text, self.language)
        self.log(text)
        if self._rich is not None:
            self._rich.update(self._overall, description=text)
