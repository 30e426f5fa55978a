"""`estimator feedback import`: sale prices from a file into the prediction log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from estimator.cli.db import UrlOpt
from estimator.cli.output import out_console, print_json
from estimator.cli.train import JsonOpt, RegistryOpt

app = typer.Typer(no_args_is_help=True, help="Report what houses really sold for.")


@app.command("import")
def import_(
    sales: Annotated[Path, typer.Argument(help="CSV or Parquet: id, price[, sold_at], or whole "
                                         "houses with price[, sold_at] and --model.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Price houses that have "
                                              "no id with this model first.")] = None,
    url: UrlOpt = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Store sale prices, all or none: the first bad row stops the import, naming its row."""
    from estimator import monitoring
    from estimator.monitoring.feedback import import_sales

    url = url or monitoring.DEFAULT_URL
    done = import_sales(sales, url, model=model, registry=registry)
    if json_:
        print_json({"stored": done.stored, "estimated": done.estimated, "log": url})
        return
    made = f" ({done.estimated} houses priced with {model} first)" if done.estimated else ""
    out_console.print(f"stored {done.stored} sale prices{made} in "
                      f"{monitoring.public_url(url)}")
