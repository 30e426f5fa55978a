"""Metrics in the user's units, and repeated k-fold cross-validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from estimator.features import FloatArray

if TYPE_CHECKING:
    from estimator.config import Config
    from estimator.predictor import Predictor
    from estimator.schema import Schema

# (fold, task, step, total, metrics): the progress of one fold's training, then
# ("fold", k, folds) after each fold. An exception it raises (Optuna's TrialPruned) stops the run.
FoldProgress = Callable[[int, str, int, int, dict[str, float]], None]


def _quiet(fold: int, task: str, step: int, total: int, metrics: dict[str, float]) -> None:
    """Report nothing."""

METRICS = ("mae", "rmse", "r2", "mape", "mae_share")


def regression_metrics(y_true: FloatArray, y_pred: FloatArray) -> dict[str, float]:
    """MAE, RMSE, R², MAPE (%) and MAE as a share of the mean target (%).

    The last one is the article's yardstick ("about 10 % of the mean price").
    MAPE skips rows whose true value is 0.
    """
    err = y_pred - y_true
    mae = float(np.mean(np.abs(err)))
    rmse = float(np.sqrt(np.mean(err**2)))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else 0.0
    nz = y_true != 0
    mape = float(np.mean(np.abs(err[nz] / y_true[nz])) * 100) if nz.any() else float("nan")
    mean = float(np.mean(y_true))
    share = mae / abs(mean) * 100 if mean else float("nan")
    return {"mae": mae, "rmse": rmse, "r2": r2, "mape": mape, "mae_share": share}


WITHIN = (5, 10, 20)


def valuation(actual: FloatArray, estimate: FloatArray, lower: FloatArray | None = None,
              upper: FloatArray | None = None) -> dict[str, Any]:
    """Median APE (%), shares within 5/10/20 % (%), and range coverage (%, None without)."""
    actual, estimate = np.asarray(actual, dtype=float), np.asarray(estimate, dtype=float)
    if actual.size == 0:
        return {"rows": 0, "median_ape": None, **{f"within_{w}": None for w in WITHIN},
                "coverage": None}
    ape = np.abs(estimate - actual) / np.abs(actual) * 100
    out: dict[str, Any] = {"rows": int(actual.size), "median_ape": float(np.median(ape))}
    out.update({f"within_{w}": float(np.mean(ape <= w) * 100) for w in WITHIN})
    known = None
    if lower is not None and upper is not None:
        low, high = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        known = ~np.isnan(low) & ~np.isnan(high)
    out["coverage"] = (float(np.mean((actual[known] >= low[known])
                                     & (actual[known] <= high[known])) * 100)
                       if known is not None and known.any() else None)
    return out


def summarise(folds: list[dict[str, float]]) -> dict[str, Any]:
    """Mean and standard deviation of each metric over folds."""
    out: dict[str, Any] = {"folds": len(folds)}
    for key in METRICS:
        values = np.array([f[key] for f in folds])
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def kfold_indices(n: int, splits: int, repeats: int, seed: int) -> list[tuple[Any, Any]]:
    """Train/test index pairs of RepeatedKFold, as scikit-learn draws them."""
    from sklearn.model_selection import RepeatedKFold

    rkf = RepeatedKFold(n_splits=splits, n_repeats=repeats, random_state=seed)
    return list(rkf.split(np.arange(n)))


def folds(config: Config, rows: Any, splits: int,
          repeats: int = 1) -> Iterator[tuple[int, Any, Any, Any]]:
    """(k, fitting rows, validation rows, held-out rows) of repeated k-fold over `rows`.

    When the config asks for a validation share (early stopping), each fold
    carves it out of its fitting rows, as training does.
    """
    sp = config.split
    share = sp.validation / (1 - sp.test)
    for k, (fit_pos, test_pos) in enumerate(kfold_indices(len(rows), splits, repeats,
                                                          sp.seed)):
        fit_rows, test_rows = rows[fit_pos], rows[test_pos]
        val_rows: Any = np.array([], dtype=int)
        if share > 0:
            shuffled = np.random.default_rng(sp.seed + k + 1).permutation(fit_rows)
            n_val = max(1, round(len(fit_rows) * share))
            val_rows, fit_rows = shuffled[:n_val], shuffled[n_val:]
        yield k, fit_rows, val_rows, test_rows


def cross_validate(config: Config, schema: Schema, raw: FloatArray, y: FloatArray, rows: Any,
                   splits: int, repeats: int, *,
                   progress: FoldProgress = _quiet) -> dict[str, Any]:
    """Mean and standard deviation of every metric over repeated k-fold of `rows`.

    Training passes every row; tuning and selection pass only the training
    split. Each fold fits its own preprocessing.
    """
    from estimator.training import fit  # training imports this module's metrics

    results = []
    total = splits * repeats
    for k, fit_rows, val_rows, test_rows in folds(config, rows, splits, repeats):
        def report(task: str, step: int, steps: int, metrics: dict[str, float],
                   fold: int = k) -> None:
            progress(fold, task, step, steps, metrics)

        predictor, _ = fit(config, schema, raw, y, fit_rows, val_rows, progress=report)
        results.append(regression_metrics(y[test_rows],
                                          predictor.predict_matrix(raw[test_rows])))
        progress(k, "fold", k + 1, total, {"mae": results[-1]["mae"]})
    return {**summarise(results), "splits": splits, "repeats": repeats}


def out_of_fold(config: Config, schema: Schema, raw: FloatArray, y: FloatArray, rows: Any,
                splits: int, *, parent: Predictor | None = None) -> FloatArray:
    """Each row of `rows` predicted, on the model's scale, by a fold model that did not see it."""
    from estimator.training import fit

    out = np.empty(len(rows))
    position = {row: i for i, row in enumerate(rows.tolist())}
    for _, fit_rows, val_rows, test_rows in folds(config, rows, splits):
        predictor, _ = fit(config, schema, raw, y, fit_rows, val_rows, parent=parent)
        held = predictor.model.predict(predictor.preprocessor.transform(raw[test_rows]))
        out[[position[row] for row in test_rows.tolist()]] = held
    return out
