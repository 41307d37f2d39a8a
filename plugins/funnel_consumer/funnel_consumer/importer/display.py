"""The progress bar on stderr: rows done of rows in the source, outcomes so far, rate."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from funnel_consumer.importer.tally import Tally


class Display(Protocol):
    """What the run loop tells whoever watches it."""

    def start(self, total: int, done: int) -> None: ...
    def advance(self, rows: int, tally: Tally) -> None: ...
    def stop(self) -> None: ...


class Silent:
    """No display (tests, library use)."""

    def start(self, total: int, done: int) -> None:
        return None

    def advance(self, rows: int, tally: Tally) -> None:
        return None

    def stop(self) -> None:
        return None


class RateColumn(ProgressColumn):
    """Rows per second over rich's recent window."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


class ProgressBar:
    """rich's progress bar on stderr (stdout stays for the summary)."""

    def __init__(self, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[outcomes]}"),
            console=Console(stderr=True),
        )
        self._label = label
        self._task: TaskID | None = None

    def start(self, total: int, done: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=total, completed=done, outcomes="")

    def advance(self, rows: int, tally: Tally) -> None:
        if self._task is None:
            return
        totals = tally.totals()
        outcomes = (
            f"{totals['created']} new, {totals['updated']} upd, "
            f"{totals['unchanged']} same, {totals['skipped']} skipped"
        )
        self._progress.update(self._task, advance=rows, outcomes=outcomes)

    def stop(self) -> None:
        self._progress.stop()
