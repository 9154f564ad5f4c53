"""What a training run shows: a rich progress bar per epoch, one line per finished epoch, warnings."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


def _console(stderr: bool = False) -> Console:
    # Built on each use so that it writes to whatever sys.stdout/sys.stderr is now (click's test runner swaps them).
    # No markup: what is printed may hold user strings (paths, class names) that look like it.
    return Console(stderr=stderr, highlight=False, markup=False)


def warn(message: str) -> None:
    """One warning line on stderr."""
    _console(stderr=True).print(Text.assemble(("Warning: ", "yellow"), message), soft_wrap=True)


class EpochProgress:
    """A progress bar over the steps of one epoch with loss, accuracy and images/s; silent when disabled."""

    def __init__(self, epoch: int, epochs: int, steps: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None
        self._label = f"epoch {epoch + 1}/{epochs}"
        self._steps = steps

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:.1%}  {task.fields[ips]:.0f} img/s"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=_console(), transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self._label, total=self._steps, loss=0.0, acc=0.0, ips=0.0)
        return self

    def update(self, *, loss: float, acc: float, ips: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss, acc=acc, ips=ips)

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    @staticmethod
    def report(stats: Any, *, improved: bool) -> None:
        """One line for a finished epoch (rank 0 only)."""
        skipped = f"  skipped {stats.skipped}" if stats.skipped else ""
        line = Text(
            f"epoch {stats.epoch}: loss {stats.train_loss:.3f}  train {stats.train_top1:.1%}  "
            f"val top-1 {stats.val_top1:.1%}  top-5 {stats.val_top5:.1%}  lr {stats.lr:.2g}  "
            f"{stats.images_per_s:.1f} img/s  {stats.seconds:.1f}s{skipped}"
        )
        if improved:
            line.append("  best", style="green")
        _console().print(line, soft_wrap=True)  # one line per epoch in logs, whatever the terminal width
