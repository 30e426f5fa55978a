"""`estimator predict`: batch estimates for a CSV or Parquet file, or many on a Dask cluster."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from estimator.cli.output import out_console, print_json
from estimator.cli.train import JsonOpt, RegistryOpt
from estimator.errors import ConfigError, DataError

if TYPE_CHECKING:
    from estimator.batch import BatchSummary  # pandas: imported only when a file is scored


class Engine(StrEnum):
    local = "local"
    dask = "dask"


def predict(
    model: Annotated[str, typer.Option("--model", "-m", help="NAME[@VERSION|@ALIAS] or a "
                                       "version folder.")],
    input_: Annotated[str, typer.Option(
        "--input", "-i", help="CSV or Parquet file to score; with --engine dask also a folder "
        "or a glob such as 'houses/*.parquet'.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the estimates "
                                         "(.csv or .parquet; a folder of Parquet parts with "
                                         "--engine dask).")],
    errors: Annotated[Path | None, typer.Option(help="Where refused rows go.",
                                                show_default="OUTPUT.errors.csv")] = None,
    engine: Annotated[Engine, typer.Option(
        help="local: stream the file in this process; dask: partitions on a Dask cluster.")
    ] = Engine.local,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address, tcp://HOST:8786.",
        show_default="a local cluster for the run")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes of the local Dask cluster.",
        show_default="the cores, up to 4")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows validated and priced at a time.")
                          ] = 100_000,
    level: Annotated[float | None, typer.Option(
        min=0.0, max=1.0,
        help="Level of the price ranges (lower_/upper_ columns), e.g. 0.8.",
        show_default="the version's, 0.9")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score a file of houses with a registered model; bad rows go to an errors file."""
    if engine is Engine.local and (workers is not None or scheduler is not None):
        option = "--workers" if workers is not None else "--scheduler"
        raise ConfigError(f"{option} is for --engine dask.", key=option)
    if engine is Engine.dask:
        from estimator.integrations.dask import predict_dask
        from estimator.predictor import version_folder

        ref = str(version_folder(model, registry))
        summary = predict_dask(ref, input_, output, errors_path=errors, scheduler=scheduler,
                               workers=workers, chunk_size=chunk_size, level=level)
    else:
        from estimator.batch import predict_file  # pandas: only for batch files, not serving
        from estimator.predictor import load_predictor

        summary = predict_file(load_predictor(model, registry), input_, output,
                               errors_path=errors, chunk_size=chunk_size, level=level)
    _report(summary, json_)


def _report(summary: BatchSummary, json_: bool) -> None:
    """The run's figures; a run that priced nothing at all fails, so that a script notices."""
    _summarise(summary, json_)
    if summary.refused and not summary.scored:
        raise DataError(f"every row was refused ({summary.refused}), none was priced; see "
                        f"{summary.errors} for the reasons.")


def _summarise(summary: BatchSummary, json_: bool) -> None:
    if json_:
        print_json({"model": summary.model, "scored": summary.scored,
                    "refused": summary.refused, "output": str(summary.output),
                    "errors": str(summary.errors) if summary.errors else None,
                    "unknown_categories": summary.unknown_categories})
        return
    out_console.print(f"scored {summary.scored} rows with {summary.model} "
                      f"into {summary.output}; refused {summary.refused}"
                      + (f" (see {summary.errors})" if summary.errors else ""))
    if summary.unknown_categories:
        out_console.print(f"warning: {summary.unknown_categories} values were categories never "
                          "seen in training and were priced as 'unknown'")
