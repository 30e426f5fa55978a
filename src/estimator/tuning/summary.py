"""A study's summary, written into the winner's version folder.

    tuning/study.json        best trial, parameters, value; trial counts by state
    tuning/trials.csv|json   one row per trial: number, state, value, duration, parameters
    tuning/history.png       every trial's value and the best so far
    tuning/importances.png   which parameters mattered (fANOVA), when it can be computed
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from estimator.reports.plots import figure_png

FOLDER = "tuning"


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One flat record per trial, parameters prefixed with `params.`."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry

    from estimator.tuning.storage import quiet_experimental

    rows = []
    for t in study.get_trials(deepcopy=False):
        with quiet_experimental():
            retry_of = Retry.retried_trial_number(t)
        duration = t.duration.total_seconds() if t.duration is not None else None
        cv = t.user_attrs.get("cv") or {}
        row: dict[str, Any] = {
            "number": t.number, "state": t.state.name, "value": t.value,
            "duration_s": round(duration, 3) if duration is not None else None,
            "last_step": t.last_step,
            "retry_of": retry_of,
        }
        row.update({f"cv.{m}.std": v["std"] for m, v in cv.items()})
        row.update({f"params.{k}": v for k, v in t.params.items()})
        rows.append(row)
    return rows


def counts(study: Any) -> dict[str, int]:
    return dict(Counter(t.state.name.lower() for t in study.get_trials(deepcopy=False)))


def importances(study: Any) -> dict[str, float]:
    """fANOVA importances, or {} while there are too few complete trials to tell."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator

    try:
        result = optuna.importance.get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}
    return {k: float(v) for k, v in result.items()}


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def history_png(study: Any, metric: str, maximise: bool) -> bytes:
    plt = _pyplot()
    done = [t for t in study.get_trials(deepcopy=False) if t.value is not None
            and t.state.name == "COMPLETE"]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = [t.number for t in done]
    ys = [float(t.value) for t in done]
    best: list[float] = []
    for y in ys:
        best.append(y if not best else (max if maximise else min)(best[-1], y))
    ax.plot(xs, ys, "o", alpha=0.6, label="trial")
    ax.step(xs, best, where="post", color="C3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"cross-validated {metric.upper()}")
    ax.grid(alpha=0.3)
    if xs:
        ax.legend()
    ax.set_title(f"Optimisation history of '{study.study_name}'")
    return figure_png(fig)


def importances_png(values: dict[str, float], title: str) -> bytes:
    plt = _pyplot()
    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.4 * max(len(names), 2) + 1.2))
    ax.barh(names, [values[n] for n in names], color="C0")
    ax.set_xlabel("importance (fANOVA)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return figure_png(fig)


def write_summary(study: Any, folder: Path, *, metric: str, best_trial: Any) -> dict[str, Any]:
    """Write the summary files into `folder/tuning`; returns what study.json holds."""
    out = folder / FOLDER
    out.mkdir(exist_ok=True)
    rows = trial_rows(study)
    maximise = study.direction.name == "MAXIMIZE"
    weights = importances(study)
    summary = {
        "study": study.study_name, "metric": metric,
        "direction": "maximize" if maximise else "minimize",
        "best_trial": best_trial.number, "best_value": best_trial.value,
        "best_params": best_trial.params,
        "best_overrides": best_trial.user_attrs.get("overrides", {}),
        "best_cv": best_trial.user_attrs.get("cv", {}),
        "trials": counts(study), "importances": weights,
    }
    (out / "study.json").write_text(json.dumps(summary, indent=2))
    (out / "trials.json").write_text(json.dumps(rows, indent=2, default=str))
    _write_csv(rows, out / "trials.csv")
    (out / "history.png").write_bytes(history_png(study, metric, maximise))
    if weights:
        (out / "importances.png").write_bytes(
            importances_png(weights, f"Parameter importances of '{study.study_name}'"))
    return summary
