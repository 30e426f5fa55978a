"""`estimator db upgrade` and `estimator db current`: the prediction log's schema.

SQLAlchemy and Alembic are imported inside the commands, so that the other
commands (`estimator serve` first) start without them.
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True,
                  help="The prediction log's database: bring it to the current schema.")

UrlOpt = Annotated[str | None, typer.Option(
    "--url", envvar="ESTIMATOR_DATABASE_URL", show_default="sqlite:///predictions.db",
    help="sqlite:///FILE.db or postgresql+psycopg://USER:PASSWORD@HOST/DB.")]


@app.command()
def upgrade(url: UrlOpt = None) -> None:
    """Create or migrate the tables to the newest schema; run again, it changes nothing."""
    from estimator import monitoring

    url = url or monitoring.DEFAULT_URL
    before, after = monitoring.upgrade(url)
    change = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    print(f"{monitoring.public_url(url)}: {change} revision {after} (head)")


@app.command()
def current(url: UrlOpt = None) -> None:
    """Print the database's schema revision (`none` before the first upgrade)."""
    from estimator import monitoring

    revision = monitoring.current(url or monitoring.DEFAULT_URL)
    suffix = " (head)" if revision == monitoring.head() else ""
    print(f"{revision or 'none'}{suffix}")
