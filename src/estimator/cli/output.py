"""Shared CLI output: progress bars on stderr, tables and JSON on stdout."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

err_console = Console(stderr=True)
# Piped or redirected, a line stays whole instead of being wrapped at 80 columns.
out_console = Console(soft_wrap=not sys.stdout.isatty())


def number(value: float, digits: int = 4) -> str:
    """A figure as people read it: 13,245 rather than 1.325e+04; 0.8123 as it is."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def show_table(table: Table) -> None:
    """A table in full: in a terminal, long names wrap instead of being cut; piped or
    redirected, plain tab-separated lines that scripts and `cut` can read."""
    if out_console.is_terminal:
        for column in table.columns:
            column.overflow = "fold"
        out_console.print(table)
        return
    if table.title:
        sys.stdout.write(f"{table.title}\n")
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    lines = ["\t".join(str(column.header) for column in table.columns),
             *("\t".join(row) for row in zip(*cells, strict=True))]
    sys.stdout.write("\n".join(lines) + "\n")


def _plain_progress(task: str, step: int, total: int, metrics: dict[str, float],
                    shown: dict[str, int]) -> None:
    """A line at the start, at every tenth and at the end of a task, for logs and pipes."""
    tenth = max(1, total // 10)
    if step in (1, total) or step // tenth != shown.get(task, -1):
        shown[task] = step // tenth
        info = "  ".join(f"{k} {number(v)}" for k, v in metrics.items())
        err_console.print(f"{task} {step}/{total}  {info}".rstrip(), soft_wrap=True)


@contextmanager
def progress_bars(quiet: bool) -> Iterator[Any]:
    """A `(task, step, total, metrics)` callback drawing one bar per task (epoch, round, fold);
    where stderr is no terminal, a few plain lines per task instead of bars."""
    if quiet:
        yield lambda task, step, total, metrics: None
        return
    if not err_console.is_terminal:
        shown: dict[str, int] = {}
        yield lambda task, step, total, metrics: _plain_progress(task, step, total, metrics,
                                                                 shown)
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
        info = "  ".join(f"{k} {number(v)}" for k, v in metrics.items())
        bars.update(tasks[task], completed=step, total=total, info=info)

    try:
        yield update
    finally:
        if tasks:
            bars.stop()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
