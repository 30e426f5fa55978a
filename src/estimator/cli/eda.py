"""`estimator eda`: an HTML report and a JSON summary of the data a model would train on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from estimator.cli.output import out_console, print_json
from estimator.cli.train import JsonOpt


class UsageError(typer.BadParameter):
    """A misuse of the options: exit code 2, printed as its message alone."""

    def format_message(self) -> str:
        return self.message


def eda(
    conf: Annotated[Path | None, typer.Option("--conf", "-c", help="Config file whose data "
                                              "section says what to read.")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="A CSV or Parquet file "
                                              "instead of a config (needs --target).")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="The column to predict, "
                                               "with --data.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Report folder.",
        show_default="reports/<model name or file stem>")] = None,
    json_: JsonOpt = False,
) -> None:
    """Explore the data: distributions, missing values, caps, correlations."""
    if (conf is None) == (data is None):
        raise UsageError("give exactly one of --conf FILE or --data FILE --target COLUMN")
    if data is not None and not target:
        raise UsageError("--data needs --target, the column to predict")
    if conf is not None and target:
        raise UsageError("--target goes with --data; a config names its own target")
    from estimator.reports.eda import eda as run_eda

    result = run_eda(conf if conf is not None else Path(str(data)), target, out)
    s = result.summary
    if json_:
        print_json({"html": str(result.html), "json": str(result.json), **s})
        return
    for note in s["notes"]:
        out_console.print(f"note: {note}", markup=False)
    cap = s["target"]["capped"]
    if cap:
        out_console.print(f"note: {s['target']['name']} is capped: {cap['count']} rows at "
                          f"{cap['value']:g}", markup=False)
    top = ", ".join(t["feature"] for t in s["target_correlation"][:3])
    out_console.print(f"{s['rows']} rows, {len(s['features'])} features; most correlated with "
                      f"{s['target']['name']}: {top}", markup=False)
    out_console.print(f"wrote {result.html} and {result.json}", markup=False)
