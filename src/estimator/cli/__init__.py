"""The `estimator` command: a thin Typer shell over the library.

Each stage has its own small module that parses options, calls one library
function and formats the answer. Errors become one line on stderr and an
exit code here, in `main`, and nowhere else.
"""

from __future__ import annotations

import sys

import typer

from estimator.cli import (
    db,
    eda,
    explain,
    feedback,
    models,
    monitor,
    predict,
    retrain,
    serve,
    train,
    tune,
)
from estimator.errors import EstimatorError

app = typer.Typer(
    name="estimator", no_args_is_help=True, add_completion=False,
    pretty_exceptions_enable=False,
    help="House-price models through their whole life: explore, train, register, serve.",
)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("explain")(explain.explain)
app.command("eda")(eda.eda)
app.command("serve")(serve.serve)
app.command("tune")(tune.tune)
app.command("select")(tune.select)
app.command("retrain")(retrain.retrain)
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.add_typer(feedback.app, name="feedback")
app.add_typer(monitor.app, name="monitor")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; library errors become `error: ...` and a non-zero exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except EstimatorError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.exit_code
    except typer.Exit as exit_:
        return int(exit_.exit_code or 0)
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as err:  # usage errors: unknown option, bad value
        print(f"error: {err.format_message()}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
