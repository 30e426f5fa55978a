"""`estimator monitor ...`: how the served estimates are doing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from estimator.cli.db import UrlOpt
from estimator.cli.output import out_console, print_json, show_table
from estimator.cli.train import JsonOpt, RegistryOpt

app = typer.Typer(no_args_is_help=True, help="Watch the estimates after day one.")


@app.command()
def accuracy(
    model: Annotated[str, typer.Option("--model", "-m", help="The model's NAME.")],
    url: UrlOpt = None,
    out: Annotated[Path | None, typer.Option(help="Folder of accuracy.html and .json.",
                                             show_default="reports/NAME")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Median error, shares within 5/10/20 % and range coverage of the estimates that got a
    sale price, by version and month, beside the test split's figures at training."""
    from estimator import monitoring
    from estimator.monitoring.accuracy import accuracy as measure
    from estimator.monitoring.accuracy import write_report

    report = measure(url or monitoring.DEFAULT_URL, model, registry)
    data, page = write_report(report, out or Path("reports") / report["model"])
    if json_:
        print_json(report)
        return
    table = Table("", "sales", "median APE", "within 5 %", "within 10 %", "within 20 %",
                  "range held")
    _row(table, "all sales", report["overall"])
    for v in report["versions"]:
        _row(table, f"{v['version']} realized", v["realized"])
        _row(table, f"{v['version']} test split", v["test_split"])
    show_table(table)
    out_console.print(f"report: {page} (and {data.name})")


@app.command()
def drift(
    model: Annotated[str, typer.Option("--model", "-m", help="NAME[@VERSION|@ALIAS] or a "
                                       "version folder.")],
    since: Annotated[datetime | None, typer.Option(help="Only estimates made since then "
                                                   "(UTC), e.g. 2026-11-01.")] = None,
    window: Annotated[int | None, typer.Option(min=1, max=50_000, help="Only the latest N "
                                               "estimates (default and most: 50,000).")] = None,
    url: UrlOpt = None,
    out: Annotated[Path | None, typer.Option(help="Folder of drift.html and .json.",
                                             show_default="reports/NAME")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Which features of the logged houses moved away from the training data, and by how
    much: PSI with a bootstrap interval, ranked by the model's importance."""
    from estimator import monitoring
    from estimator.monitoring.drift import drift_report, write_report
    from estimator.predictor import load_predictor

    predictor = load_predictor(model, registry)
    when = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    report = drift_report(url or monitoring.DEFAULT_URL, predictor, since=when, window=window)
    data, page = write_report(report, out or Path("reports") / predictor.name)
    if json_:
        print_json(report)
        return
    table = Table("feature", "PSI", "95 % interval", "importance", "drifted")
    extra = [("(predictions)", report["prediction"])]
    if report["residuals"] and report["residuals"]["rows"]:
        extra.append((f"(errors of {report['residuals']['rows']} sold)", report["residuals"]))
    for label, f in [*((f["feature"], f) for f in report["features"]), *extra]:
        table.add_row(label, f"{f['psi'] or 0:.3f}", f"{f['low'] or 0:.3f} to "
                      f"{f['high'] or 0:.3f}", f"{f['importance']:.2f}" if "importance" in f
                      else "", "yes" if f["drifted"] else "")
    few = (f": too few to judge drift yet (a verdict needs {report['min_rows']})"
           if not report["judged"] else "")
    out_console.print(f"{report['rows']} estimates of {predictor.name}@{predictor.version}{few}")
    show_table(table)
    out_console.print(f"report: {page} (and {data.name})")


def _row(table: Table, label: str, f: dict[str, Any] | None) -> None:
    def pct(key: str) -> str:
        return "-" if not f or f.get(key) is None else f"{f[key]:.1f} %"

    table.add_row(label, str(f["rows"]) if f else "-", pct("median_ape"), pct("within_5"),
                  pct("within_10"), pct("within_20"), pct("coverage"))
