"""Shared CLI output: progress bars on stderr, tables and JSON on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err_console = Console(stderr=True)
out_console = Console()


@contextmanager
def progress_bars(quiet: bool) -> Iterator[Any]:
    """A `(task, step, total, metrics)` callback drawing one bar per task (epoch, round, fold)."""
    if quiet:
        yield lambda task, step, total, metrics: None
        return
    bars = Progress(TextColumn("{task.description:>6}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                    console=err_console, transient=False)
    tasks: dict[str, Any] = {}

    def update(task: str, step: int, total: int, metrics: dict[str, float]) -> None:
        if not tasks:
            bars.start()  # lazily, so that an early error prints nothing but its line
        if task not in tasks or (step == 1 and task != "fold"):
            if task in tasks:
                bars.remove_task(tasks[task])
            tasks[task] = bars.add_task(task, total=total, info="")
        info = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        bars.update(tasks[task], completed=step, total=total, info=info)

    try:
        yield update
    finally:
        if tasks:
            bars.stop()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
