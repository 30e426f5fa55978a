"""`estimator retrain`: a challenger on new sales, promoted only if the gate says better."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from estimator.cli.db import UrlOpt
from estimator.cli.output import out_console, print_json, progress_bars, show_table
from estimator.cli.train import JsonOpt, QuietOpt, RegistryOpt


def retrain(
    model: Annotated[str, typer.Option("--model", "-m", help="The champion: NAME (its "
                                       "production version) or NAME@VERSION.")],
    data: Annotated[Path | None, typer.Option(help="CSV or Parquet of sold houses: features, "
                                              "the price and, best, sold_at.")] = None,
    from_feedback: Annotated[bool, typer.Option(
        "--from-feedback", help="Learn from the sale prices reported to the prediction log "
        "since the champion was made.")] = False,
    fine_tune: Annotated[bool, typer.Option(
        "--fine-tune", help="Continue from the champion's weights on the new houses, instead "
        "of training afresh on the champion's data plus the new houses.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the decision; register and promote nothing.")] = False,
    window: Annotated[float | None, typer.Option(
        min=0.01, max=0.99, help="Share of the newest sales kept out to judge on.",
        show_default="retrain.window of the config, 0.3")] = None,
    confidence: Annotated[float | None, typer.Option(
        min=0.5, max=0.999, help="How sure the gate must be that the challenger is better.",
        show_default="retrain.confidence of the config, 0.95")] = None,
    url: UrlOpt = None,
    registry: RegistryOpt = None,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Train a challenger and promote it to production only when a paired bootstrap on the
    newest sales says its error is lower and its ranges still hold."""
    from estimator import monitoring
    from estimator.monitoring.retrain import retrain as run

    if (data is None) == (not from_feedback):
        raise typer.BadParameter("give --data FILE or --from-feedback: where the new sales "
                                 "are, one of them.")
    with progress_bars(quiet or json_) as progress:
        done = run(model, data=data, url=(url or monitoring.DEFAULT_URL) if from_feedback
                   else None, fine_tune=fine_tune, dry_run=dry_run, registry=registry,
                   window=window, confidence=confidence, progress=progress)
    challenger = done.challenger.ref if done.challenger else "(dry run, not registered)"
    if json_:
        print_json({"champion": done.champion.ref, "challenger": challenger,
                    "promoted": done.promoted, "decision": done.details})
        return
    d = done.details
    out_console.print(f"judged on the {d['window']['rows']} newest sales"
                      + (f" ({d['window']['from'][:10]} to {d['window']['to'][:10]})"
                         if d["window"]["from"] else "")
                      + f"; the challenger ({d['how']}) learned from {d['trained_on_new']}")
    table = Table("", "version", "median APE", "within 10 %", "range held")
    _row(table, "champion", done.champion.version, d["champion"])
    _row(table, "challenger", done.challenger.version if done.challenger else "-",
         d["challenger"])
    show_table(table)
    out_console.print(f"saving in median APE: {d['improvement']:+.2f} points "
                      f"({d['confidence']:.0%} bound {d['improvement_low']:+.2f})")
    verdict = ("promoted to production" if done.promoted else
               "not promoted" if done.challenger else "would be promoted" if
               done.decision.promote else "would not be promoted")
    out_console.print(f"{challenger}: {verdict}: {done.decision.reason}")


def _row(table: Table, label: str, version: str, f: dict[str, Any]) -> None:
    def pct(key: str) -> str:
        return "-" if f.get(key) is None else f"{f[key]:.1f} %"

    table.add_row(label, version, pct("median_ape"), pct("within_10"), pct("coverage"))
