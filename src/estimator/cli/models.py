"""`estimator models ...`: list, show, promote, roll back and delete versions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from estimator.cli.output import number, out_console, print_json, show_table
from estimator.cli.train import JsonOpt, RegistryOpt
from estimator.registry import Registry

app = typer.Typer(no_args_is_help=True, help="Manage registered model versions and aliases.")


@app.command("list")
def list_(
    name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """List models and their versions, oldest first, with aliases and test MAE."""
    reg = Registry(registry)
    rows = []
    for model in [name] if name else reg.names():
        aliases = reg.aliases(model)
        for v in reg.versions(model):
            test = v.meta.get("metrics", {}).get("test", {})
            rows.append({"model": model, "version": v.version, "family": v.meta.get("family"),
                         "created": v.meta.get("created"),
                         "aliases": sorted(a for a, t in aliases.items() if t == v.version),
                         "test_mae": test.get("mae"), "parent": v.meta.get("parent")})
    if json_:
        print_json(rows)
        return
    if not rows:
        out_console.print(f"no models in {reg.root}")
        return
    table = Table("model", "version", "family", "created", "aliases", "test MAE", "parent")
    for r in rows:
        mae = number(r["test_mae"]) if isinstance(r["test_mae"], float) else ""
        table.add_row(r["model"], r["version"], str(r["family"]), str(r["created"]),
                      ", ".join(r["aliases"]), mae, str(r["parent"] or ""))
    show_table(table)


@app.command()
def show(
    model: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS.")],
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show one version: metrics, data, lineage, features and alias history."""
    reg = Registry(registry)
    info = reg.resolve(model)
    data = {**info.meta, "path": str(info.path), "aliases": reg.aliases(info.name),
            "history": reg.history(info.name)}
    if json_:
        print_json(data)
        return
    from estimator.cli.train import metrics_table

    meta = info.meta
    out_console.print(f"[bold]{info.ref}[/bold]  ({meta.get('family')}, created "
                      f"{meta.get('created')})  {info.path}")
    out_console.print(f"parent: {meta.get('parent') or '-'}")
    fp = meta.get("data", {})
    out_console.print(f"data: {fp.get('source')}  sha256 {str(fp.get('sha256'))[:12]}…  "
                      f"{fp.get('rows')} rows, {fp.get('rows_dropped_missing_target', 0)} "
                      "dropped for a missing target")
    out_console.print(f"features ({len(meta.get('features', []))}): "
                      f"{', '.join(meta.get('features', []))}  ->  {meta.get('target')}")
    show_table(metrics_table(meta.get("metrics", {})))
    holders = [a for a, v in reg.aliases(info.name).items() if v == info.version]
    out_console.print(f"aliases here: {', '.join(holders) or '-'}")


@app.command()
def promote(
    model: Annotated[str, typer.Argument(help="NAME@VERSION (or NAME@ALIAS) to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = "production",
    registry: RegistryOpt = None,
) -> None:
    """Point an alias (production by default) at a version."""
    info = Registry(registry).promote(model, alias)
    out_console.print(f"{info.name}@{alias} -> {info.version}")


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "production",
    registry: RegistryOpt = None,
) -> None:
    """Move an alias back to the version it pointed at before its last move."""
    info = Registry(registry).rollback(name, alias)
    out_console.print(f"{info.name}@{alias} -> {info.version} (rolled back)")


@app.command()
def delete(
    model: Annotated[str, typer.Argument(help="NAME@VERSION to delete.")],
    registry: RegistryOpt = None,
) -> None:
    """Delete a version no alias points at."""
    info = Registry(registry).delete(model)
    out_console.print(f"deleted {info.ref}")


@app.command()
def history(
    name: Annotated[str, typer.Argument(help="Model name.")],
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Every alias move: when, which alias, from and to which version, by whom."""
    events = Registry(registry).history(name)
    if json_:
        print_json(events)
        return
    table = Table("when", "alias", "from", "to", "by", "reason")
    for e in events:
        table.add_row(e["when"], e["alias"], str(e["from"] or "-"), str(e["to"] or "-"),
                      e["by"], e.get("reason", ""))
    show_table(table)
