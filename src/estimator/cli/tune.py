"""`estimator tune` and `estimator select`: search a config's space, or pick among families."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from estimator.cli.output import err_console, number, out_console, print_json, show_table
from estimator.cli.train import ConfOpt, JsonOpt, QuietOpt, RegistryOpt, SetOpt, load_config
from estimator.cli.train import metrics_table as _metrics_table
from estimator.registry import Registry


@contextmanager
def _trial_bar(quiet: bool, metric: str) -> Iterator[Any]:
    """A `(done, total, best, number)` callback drawing the trials bar with the best value."""
    if quiet:
        yield lambda done, total, best, trial: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[info]}"), console=err_console)
    task = bar.add_task("trials", total=None, info="")

    def update(done: int, total: int, best: float | None, trial: int | None) -> None:
        info = f"best {metric} {number(best)} (trial {trial})" if best is not None else ""
        bar.update(task, completed=done, total=total, info=info)

    with bar:
        yield update


def tune(
    trials: Annotated[int, typer.Option(
        help="Trials to run now (added to the study); 0 registers the study's best as it is, "
        "once its workers are done.", min=0)],
    conf: ConfOpt = None,
    timeout: Annotated[float | None, typer.Option(
        help="Stop starting trials after this many seconds.", min=1)] = None,
    storage: Annotated[str | None, typer.Option(
        envvar="ESTIMATOR_STUDY_STORAGE", show_default="REGISTRY/.studies/optuna.db",
        help="postgresql+psycopg://..., sqlite:///FILE.db or journal:///FILE.log.")] = None,
    study: Annotated[str | None, typer.Option(
        help="Study name.", show_default="NAME-FAMILY of the config")] = None,
    jobs: Annotated[int, typer.Option(help="Trials in parallel in this process.", min=1)] = 1,
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="Retrain and register the best config.")] = True,
    set_: SetOpt = None,
    registry: RegistryOpt = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Tune a config with Optuna; running it again resumes the study."""
    from estimator.config import TuneConfig
    from estimator.tuning import tune as run

    cfg = load_config(conf, list(set_ or []))
    metric = (cfg.tune or TuneConfig()).metric
    with _trial_bar(quiet or json_, metric) as progress:
        result = run(cfg, trials=trials, timeout=timeout, storage=storage, study=study,
                     jobs=jobs, registry=Registry(registry),
                     config_dir=conf.parent if conf else None, register=register,
                     progress=progress)
    if json_:
        print_json({"study": result.study, "storage": result.storage, "metric": result.metric,
                    "direction": result.direction, "trials": result.trials,
                    "best_trial": result.best_trial, "best_value": result.best_value,
                    "best_params": result.best_params,
                    "model": result.version.ref if result.version else None,
                    "path": str(result.version.path) if result.version else None,
                    "metrics": result.metrics})
        return
    counts = ", ".join(f"{n} {state}" for state, n in sorted(result.trials.items()))
    out_console.print(f"study [bold]{result.study}[/bold] in {result.storage}: {counts}")
    if result.best_trial is None:
        out_console.print("no trial has completed yet; nothing registered")
        return
    best = number(result.best_value) if result.best_value is not None else "?"
    out_console.print(f"best cross-validated {result.metric} {best} "
                      f"(trial {result.best_trial})")
    for key, value in result.best_params.items():
        out_console.print(f"  {key} = {value:.4g}" if isinstance(value, float)
                          else f"  {key} = {value}")
    if result.version is not None:
        out_console.print(f"registered [bold]{result.version.ref}[/bold] in "
                          f"{result.version.path}")
        show_table(_metrics_table(result.metrics))
    out_console.print(f"browse the study: optuna-dashboard {result.storage}")


def select(
    conf: ConfOpt = None,
    set_: SetOpt = None,
    registry: RegistryOpt = None,
    register: Annotated[bool, typer.Option(
        "--register/--no-register", help="Register the chosen model.")] = True,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Pick the most accurate candidate whose p99 latency fits the limit, and register it."""
    from estimator.errors import ConfigError
    from estimator.selection import flat_rows
    from estimator.selection import select as run

    cfg = load_config(conf, list(set_ or []))

    def say(label: str, stage: str) -> None:
        if not (quiet or json_):
            err_console.print(f"{label}: {stage}")

    result = run(cfg, registry=Registry(registry), config_dir=conf.parent if conf else None,
                 register=register, progress=say)
    if json_:
        print_json({"metric": result.metric, "latency_ms": result.limit_ms,
                    "chosen": result.chosen_label, "candidates": result.rows,
                    "model": result.version.ref if result.version else None,
                    "path": str(result.version.path) if result.version else None})
    else:
        show_table(_comparison(flat_rows(result.rows, result.metric), result.metric,
                                      result.limit_ms))
    if result.chosen is None:
        fastest = min(result.rows, key=lambda r: r["latency_ms"]["p99"])
        raise ConfigError(f"No candidate predicts one house within {result.limit_ms:g} ms at "
                          f"p99 (fastest: {fastest['candidate']} at "
                          f"{fastest['latency_ms']['p99']:.3g} ms); raise selection.latency_ms "
                          "or add faster candidates.", key="selection.latency_ms")
    if not json_:
        where = f" as {result.version.ref} in {result.version.path}" if result.version else ""
        out_console.print(f"chose [bold]{result.chosen_label}[/bold]{where}")


def _comparison(rows: list[dict[str, Any]], metric: str, limit: float) -> Table:
    table = Table("candidate", "family", f"CV {metric.upper()}", "test MAE", "p99 ms", "fits",
                  "chosen", title=f"best {metric.upper()} within {limit:g} ms (p99)")
    for r in rows:
        table.add_row(r["candidate"], r["family"],
                      f"{number(r[f'cv_{metric}'])}±{number(r[f'cv_{metric}_std'], 2)}",
                      number(r["test_mae"]), f"{r['p99_ms']:.3f}",
                      "yes" if r["within_limit"] else "no", "*" if r["chosen"] else "")
    return table
