"""`estimator predict`: batch estimates for a CSV or Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from estimator.cli.output import out_console, print_json
from estimator.cli.train import JsonOpt, RegistryOpt
from estimator.predictor import load_predictor


def predict(
    model: Annotated[str, typer.Option("--model", "-m", help="NAME[@VERSION|@ALIAS] or a "
                                       "version folder.")],
    input_: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet file to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the estimates "
                                         "(.csv or .parquet).")],
    errors: Annotated[Path | None, typer.Option(help="Where refused rows go.",
                                                show_default="OUTPUT.errors.csv")] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Rows per chunk.")] = 100_000,
    level: Annotated[float | None, typer.Option(
        min=0.0, max=1.0,
        help="Level of the price ranges (lower_/upper_ columns), e.g. 0.8.",
        show_default="the version's, 0.9")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score a file of houses with a registered model; bad rows go to an errors file."""
    from estimator.batch import predict_file  # pandas: only for batch files, not for serving

    predictor = load_predictor(model, registry)
    summary = predict_file(predictor, input_, output, errors_path=errors, chunk_size=chunk_size,
                           level=level)
    if json_:
        print_json({"model": f"{predictor.name}@{predictor.version}", "scored": summary.scored,
                    "refused": summary.refused, "output": str(summary.output),
                    "errors": str(summary.errors) if summary.errors else None,
                    "unknown_categories": summary.unknown_categories})
        return
    out_console.print(f"scored {summary.scored} rows with {predictor.name}@{predictor.version} "
                      f"into {summary.output}; refused {summary.refused}"
                      + (f" (see {summary.errors})" if summary.errors else ""))
    if summary.unknown_categories:
        out_console.print(f"warning: {summary.unknown_categories} values were categories never "
                          "seen in training and were priced as 'unknown'")
