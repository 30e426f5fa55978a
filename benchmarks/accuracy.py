"""Accuracy of every model under one protocol, and of the automatic pipeline.

The protocol: RepeatedKFold, 5 splits x 3 repeats, random_state 0, on the
whole data set; every fold fits its own preprocessing and model
(`estimator.evaluation.cross_validate`). Rows of the table:

  baseline   the article's final config (64-64-32, 17 epochs, batch 10)
  defaults   each family with its default settings
  auto       tune + select + ensemble, no human in the loop:
             1. an Optuna study of the gbm (its default space, which includes the
                derived columns the data allows, plus the target's log transform and
                whether to hold out validation rows for early stopping);
             2. an Optuna study of the MLP, with the preprocessing and split the gbm
                study chose, so that both can share one ensemble;
             3. `select` among the tuned gbm, the tuned MLP and their ensemble (weights
                fitted on out-of-fold predictions), best metric within 10 ms at p99.
             Tuning and selection see only the config's training split (80 %).

Prints MAE, RMSE and R² as mean ± std over the 15 folds, and the ratio to
the baseline. The tuning budget (trials, minutes) is printed with it.

    python benchmarks/accuracy.py --data boston [--trials 60 --mlp-trials 30]
    python benchmarks/accuracy.py --data california --quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from estimator import config
from estimator.data.sources import Dataset, load
from estimator.evaluation import cross_validate
from estimator.registry import Registry
from estimator.selection import select
from estimator.training import raw_matrix, train
from estimator.tuning import tune

ROOT = Path(__file__).resolve().parents[1]
CALIFORNIA = ROOT / "tests" / "data" / "california_housing.csv"
# The article's final config, as its config.json states it (seed_config_final.json).
ARTICLE = {"data": "boston", "train_test_ratio": 0.2, "model_config": {
    "model_name": "house_pricing_model",
    "layers": {"first_layer": 64, "second_layer": 64, "third_layer": 32, "output_layer": 1},
    "activations": ["relu", "relu", "relu", None], "loss_function": "mse",
    "optimiser": "adam", "metrics": ["mae"]},
    "training_config": {"batch_size": 10, "epochs": 17}}
SHARED_SPACE = {"preprocessing.log_target": {"choices": [False, True]},
                "split.validation": {"choices": [0.0, 0.1]}}


def data_section(name: str, csv: Path) -> dict[str, Any]:
    if name == "boston":
        return {"source": "boston"}
    if not csv.exists():
        sys.exit(f"error: {csv} does not exist; pass --csv")
    return {"path": str(csv), "target": "median_house_value"}


def protocol(cfg: config.Config, dataset: Dataset) -> dict[str, Any]:
    """The 5x3 repeated k-fold of all rows, random_state 0, with the fit's wall time."""
    raw = cfg.model_dump(mode="json")
    raw["split"]["seed"] = 0
    start = time.perf_counter()
    matrix = raw_matrix(dataset.schema, dataset)
    rows = np.arange(dataset.rows)
    result = cross_validate(config.validate(raw), dataset.schema, matrix, dataset.target, rows,
                            5, 3)
    return {**result, "seconds": time.perf_counter() - start}


def tuned(raw: dict[str, Any], trials: int, storage: str, work: Path) -> config.Config:
    result = tune(config.validate(raw), trials=trials, storage=storage, registry=work,
                  register=False)
    print(f"  {result.study}: {result.trials}, best cv {result.metric} "
          f"{result.best_value:.4g} with {result.best_params}", flush=True)
    assert result.config is not None
    return result.config


def pipeline(base: dict[str, Any], metric: str, trials: int, mlp_trials: int, work: Path,
             fixed_weights: bool) -> tuple[list[tuple[str, config.Config]], dict[str, Any]]:
    """Tune, build the ensemble, select; returns the candidates (chosen first) and the budget."""
    storage = f"sqlite:///{work / 'studies.db'}"
    start = time.perf_counter()
    gbm = tuned({**base, "name": "auto", "model": {"family": "gbm"},
                 "tune": {"metric": metric, "cv": 5, "seed": 0, "space": SHARED_SPACE}},
                trials, storage, work)
    gbm_minutes = (time.perf_counter() - start) / 60
    settled = {"preprocessing": gbm.preprocessing.model_dump(),
               "split": gbm.split.model_dump()}
    mlp = tuned({**base, **settled, "name": "auto", "model": {"family": "mlp"},
                 "tune": {"metric": metric, "cv": 3, "seed": 0}}, mlp_trials, storage, work)
    tune_minutes = (time.perf_counter() - start) / 60
    members = [gbm.model.model_dump(), mlp.model.model_dump()]
    candidates: list[dict[str, Any]] = [
        {"label": "tuned gbm", "model": members[0]},
        {"label": "tuned mlp", "model": members[1], "training": mlp.training.model_dump()},
        {"label": "ensemble", "model": {"family": "ensemble", "members": members},
         "training": mlp.training.model_dump()},
    ]
    start = time.perf_counter()
    if fixed_weights:
        # Fit the weights once, on out-of-fold predictions of the training split.
        ensemble = config.validate({**base, **settled, "name": "auto",
                                    **_sections(candidates[2])})
        weights = train(ensemble, save=False).curves["weights"]
        candidates[2]["model"]["weights"] = weights
        print(f"  ensemble weights (gbm, mlp) from the training split: {weights}", flush=True)
    choice = config.validate({**base, **settled, "name": "auto", "selection": {
        "candidates": candidates, "metric": metric, "cv": 5, "latency_ms": 10.0}})
    picked = select(choice, registry=Registry(work / "models"))
    select_minutes = (time.perf_counter() - start) / 60
    print(f"  selection: chose {picked.chosen_label}; "
          + ", ".join(f"{r['candidate']} cv {metric} {r['cv'][metric]['mean']:.4g} "
                      f"p99 {r['latency_ms']['p99']:.2f} ms" for r in picked.rows), flush=True)
    configs = [(r["candidate"], config.validate({**base, **settled, "name": "auto",
                                                 **_sections(c)}))
               for r, c in zip(picked.rows, candidates, strict=True)]
    assert picked.chosen is not None
    configs.insert(0, configs.pop(picked.chosen))
    budget = {"gbm_trials": trials, "mlp_trials": mlp_trials, "gbm_tuning_min": gbm_minutes,
              "tuning_min": tune_minutes, "selection_min": select_minutes,
              "chosen": picked.chosen_label, "fixed_weights": fixed_weights,
              "selection": [{k: r[k] for k in ("candidate", "cv", "latency_ms")}
                            for r in picked.rows]}
    return configs, budget


def _sections(candidate: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in candidate.items() if k in ("model", "training")}


def fmt(m: dict[str, Any], key: str, digits: int) -> str:
    return f"{m[key]['mean']:.{digits}f} ± {m[key]['std']:.{digits}f}"


def print_table(rows: list[tuple[str, dict[str, Any]]], base: dict[str, Any] | None,
                big: bool) -> None:
    d = 0 if big else 3
    print(f"\n{'model':34s} {'MAE':>20s} {'RMSE':>20s} {'R²':>15s} {'MAE/base':>9s} "
          f"{'RMSE/base':>9s} {'min':>6s}")
    for label, m in rows:
        ratio = (f"{m['mae']['mean'] / base['mae']['mean']:9.3f} "
                 f"{m['rmse']['mean'] / base['rmse']['mean']:9.3f}") if base else " " * 19
        print(f"{label:34s} {fmt(m, 'mae', d):>20s} {fmt(m, 'rmse', d):>20s} "
              f"{fmt(m, 'r2', 3):>15s} {ratio} {m['seconds'] / 60:6.1f}")


def main() -> None:
    # Before XGBoost or PyTorch start OpenMP: on a shared machine, threads that spin while
    # they wait for a core make boosting ten times slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["boston", "california"], default="boston")
    parser.add_argument("--csv", type=Path, default=CALIFORNIA, help="the California CSV")
    parser.add_argument("--trials", type=int, default=None, help="gbm trials [60; quick 20]")
    parser.add_argument("--mlp-trials", type=int, default=None, help="MLP trials [30; quick 8]")
    parser.add_argument("--quick", action="store_true", help="a small budget, fixed weights")
    parser.add_argument("--fixed-weights", action="store_true",
                        help="fit the ensemble's weights once on the training split, instead "
                             "of in every fold of the selection and of the protocol")
    parser.add_argument("--rows", default="baseline,defaults,auto",
                        help="which rows to run, comma-separated")
    parser.add_argument("--output", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    trials = args.trials or (20 if args.quick else 60)
    mlp_trials = args.mlp_trials or (8 if args.quick else 30)
    wanted = set(args.rows.split(","))
    data = data_section(args.data, args.csv)
    big = args.data == "california"
    base: dict[str, Any] = {"data": data}
    if big:
        base["preprocessing"] = {"log_target": True}
    metric = "rmse" if big else "mae"
    dataset = load(config.DataConfig(**data))
    print(f"{args.data}: {dataset.rows} rows; protocol RepeatedKFold 5x3, random_state 0",
          flush=True)
    rows: list[tuple[str, dict[str, Any]]] = []
    baseline = None

    def run(label: str, cfg: config.Config) -> dict[str, Any]:
        m = protocol(cfg, dataset)
        rows.append((label, m))
        print(f"  {label}: MAE {fmt(m, 'mae', 3)}  RMSE {fmt(m, 'rmse', 3)}  "
              f"({m['seconds'] / 60:.1f} min)", flush=True)
        return m

    if "baseline" in wanted:
        article = config.validate(ARTICLE).model_dump(mode="json")
        baseline = run("baseline: article 64-64-32, 17 ep", config.validate(
            {**article, "data": data}))
    if "defaults" in wanted:
        for family in ("linear", "gbm", "mlp"):
            run(f"defaults: {family}", config.validate({"data": data,
                                                        "model": {"family": family}}))
    budget: dict[str, Any] = {}
    if "auto" in wanted:
        with tempfile.TemporaryDirectory(prefix="accuracy-") as tmp:
            print(f"auto: tuning gbm ({trials} trials) and mlp ({mlp_trials} trials)",
                  flush=True)
            configs, budget = pipeline(base, metric, trials, mlp_trials, Path(tmp),
                                       args.fixed_weights or args.quick)
            for i, (label, cfg) in enumerate(configs):
                run(f"auto: {label}" + (" (chosen)" if i == 0 else ""), cfg)
    print_table(rows, baseline, big)
    if budget:
        print(f"\nbudget: gbm {budget['gbm_trials']} trials + mlp {budget['mlp_trials']} "
              f"trials = {budget['tuning_min']:.1f} min tuning "
              f"(gbm {budget['gbm_tuning_min']:.1f}), {budget['selection_min']:.1f} min "
              f"selection, on this 2-core machine; chosen: {budget['chosen']}"
              + ("; ensemble weights fitted once on the training split" if budget["fixed_weights"]
                 else "; ensemble weights refitted in every fold"))
    if args.output:
        args.output.write_text(json.dumps({"data": args.data, "rows": rows, "budget": budget},
                                          indent=2, default=str))


if __name__ == "__main__":
    main()
