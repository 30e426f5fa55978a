"""`estimator explain`: why each house of a file gets its price."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from estimator.cli.output import number, out_console, print_json, show_table
from estimator.cli.train import JsonOpt, RegistryOpt
from estimator.predictor import load_predictor

TOP = 5


def explain(
    model: Annotated[str, typer.Option("--model", "-m", help="NAME[@VERSION|@ALIAS] or a "
                                       "version folder.")],
    input_: Annotated[Path, typer.Option("--input", "-i", help="CSV or Parquet file of "
                                         "houses.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the "
                                                "explanations there as JSON.")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Each house's price, the features that move it most, and the most similar training
    houses with their prices."""
    from estimator.batch import explain_file  # pandas: only for files, not for serving

    predictor = load_predictor(model, registry)
    explained = explain_file(predictor, input_)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(explained, indent=2))
    if json_:
        print_json(explained)
        return
    out_console.print(f"{predictor.name}@{predictor.version}, {len(explained)} houses")
    for house in explained:
        show(house, predictor.schema.target.name)


def show(house: dict[str, Any], target: str) -> None:
    """One house as a person reads it: price, range, reasons, comparables."""
    if "error" in house:
        out_console.print(f"\nrow {house['row']}: refused: {house['error']}")
        return
    span = (f" (range {number(house['lower'])} to {number(house['upper'])})"
            if "lower" in house else "")
    out_console.print(f"\nrow {house['row']}: {target} {number(house['price'])}{span}; "
                      f"a typical house: {number(house['base'])}")
    reasons = Table("feature", "moves the price by", box=None, pad_edge=False)
    ranked = sorted(house["contributions"].items(), key=lambda kv: -abs(kv[1]))[:TOP]
    for name, part in ranked:
        reasons.add_row(name, f"{'+' if part >= 0 else '-'}{number(abs(part))}")
    show_table(reasons)
    similar = Table("comparable", "price", "differs in", box=None, pad_edge=False)
    for i, comparable in enumerate(house["comparables"], start=1):
        differs = ", ".join(f"{d['field']} {d['comparable']} (this house {d['value']})"
                            for d in comparable["differences"]) or "nothing: the same house"
        similar.add_row(str(i), number(comparable["price"]), differs)
    show_table(similar)
    for warning in house["warnings"]:
        out_console.print(f"warning: {warning['field']}: {warning['message']}")
