"""Metrics in the user's units, and repeated k-fold cross-validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from estimator.features import FloatArray

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
