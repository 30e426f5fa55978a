"""`estimator train`: a config in, a registered model version out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from estimator import config as config_mod
from estimator.cli.output import number, out_console, print_json, progress_bars, show_table
from estimator.registry import Registry

ConfOpt = Annotated[Path | None, typer.Option("--conf", "-c", help="Config file (YAML or JSON); "
                                              "defaults to the built-in Boston MLP.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a config key: "
                                                  "training.epochs=50 (repeatable).")]
RegistryOpt = Annotated[Path | None, typer.Option(
    "--registry", envvar="ESTIMATOR_REGISTRY", help="Registry root folder.",
    show_default="./models")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON for scripts.")]


def load_config(conf: Path | None, overrides: list[str] | None) -> config_mod.Config:
    if conf is None:
        return config_mod.validate({}, overrides)
    return config_mod.load(conf, overrides)


def train(
    conf: ConfOpt = None,
    set_: SetOpt = None,
    registry: RegistryOpt = None,
    pretrained: Annotated[str | None, typer.Option(
        help="Fine-tune from NAME@VERSION or NAME@ALIAS.")] = None,
    cv: Annotated[int | None, typer.Option(help="Also cross-validate with this many folds.",
                                           min=2)] = None,
    repeats: Annotated[int | None, typer.Option(help="Repeats of the k-fold.", min=1)] = None,
    if_missing: Annotated[bool, typer.Option(
        "--if-missing", help="Do nothing when the registry already has this model.")] = False,
    quiet: QuietOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Train a model from a config and register it as a new version."""
    overrides = list(set_ or [])
    if pretrained:
        overrides.append(f"pretrained={pretrained}")
    cfg = load_config(conf, overrides)
    reg = Registry(registry)
    if if_missing and reg.versions(cfg.name):
        info = reg.resolve(cfg.name)
        _report(info.ref, str(info.path), info.meta.get("metrics", {}), [], json_,
                existing=True)
        return
    from estimator.training import train as train_model  # pandas and PyTorch: only when training

    with progress_bars(quiet or json_) as progress:
        result = train_model(cfg, registry=reg, config_dir=conf.parent if conf else None,
                             cv=cv, repeats=repeats, progress=progress)
    assert result.version is not None
    _report(result.version.ref, str(result.version.path), result.metrics, result.notes, json_)


def _report(ref: str, path: str, metrics: dict[str, object], notes: list[str], as_json: bool,
            existing: bool = False) -> None:
    if as_json:
        print_json({"model": ref, "path": path, "metrics": metrics, "notes": notes,
                    "trained": not existing})
        return
    for note in notes:
        out_console.print(f"note: {note}")
    verb = "already registered" if existing else "registered"
    out_console.print(f"{verb} [bold]{ref}[/bold] in {path}")
    show_table(metrics_table(metrics))


def metrics_table(metrics: dict[str, object]) -> Table:
    table = Table("split", "MAE", "RMSE", "R²", "MAPE %", "MAE / mean %")
    for split in ("train", "validation", "test"):
        m = metrics.get(split)
        if isinstance(m, dict):
            table.add_row(split, *(number(m[k]) for k in ("mae", "rmse", "r2", "mape",
                                                           "mae_share")))
    cv = metrics.get("cv")
    if isinstance(cv, dict):
        table.add_row(f"cv {cv['splits']}x{cv['repeats']}",
                      *(f"{number(cv[k]['mean'])} ± {number(cv[k]['std'], 2)}"
                        for k in ("mae", "rmse", "r2", "mape", "mae_share")))
    return table
