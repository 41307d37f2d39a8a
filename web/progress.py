"""Progress of a bulk command on stderr: rich's bar on a terminal, nothing otherwise
(stdout stays for the summary line)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ProgressBar:
    """`start(total)`, `update(done, outcomes)` as it goes, `stop()` once. Draws only when
    stderr is a terminal (a pipe or a log file gets the summary alone)."""

    def __init__(self, label: str, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[outcomes]}"),
            console=self._console,
        )
        self._label = label
        self._task: TaskID | None = None

    @property
    def shown(self) -> bool:
        return self._console.is_terminal

    def start(self, total: int) -> None:
        if not self.shown:
            return
        self._progress.start()
        self._task = self._progress.add_task(self._label, total=total, outcomes="")

    def update(self, done: int, outcomes: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done, outcomes=outcomes)

    def stop(self) -> None:
        if self._task is not None:
            self._progress.stop()
            self._task = None
