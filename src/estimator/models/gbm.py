"""Gradient-boosted trees with XGBoost, saved in XGBoost's own JSON format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from estimator.config import GBMConfig
from estimator.models.base import Curves, FloatArray, Progress, no_progress


@dataclass
class GBMModel:
    booster: Any
    family: ClassVar[str] = "gbm"

    def predict(self, X: FloatArray) -> FloatArray:
        # The inputs are the preprocessor's, in the booster's own order: there are no feature
        # names to compare (and comparing them sets the booster's, each call).
        return np.asarray(self.booster.inplace_predict(X, validate_features=False),
                          dtype=np.float64)

    def contributions(self, X: FloatArray, reference: FloatArray) -> FloatArray:
        """XGBoost's own SHAP values (`pred_contribs`), against the trees' expected value
        (the last column, left out), in float32 as XGBoost computes them. Inputs beyond
        float32's range are held at its edge, where every split sends them the same way.
        """
        import xgboost as xgb

        edge = float(np.finfo(np.float32).max)
        rows = xgb.DMatrix(np.clip(X, -edge, edge), nthread=1)
        contribs = np.asarray(self.booster.predict(rows, pred_contribs=True,
                                                  validate_features=False),
                              dtype=np.float64)
        return contribs[:, :-1]

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(folder / "xgboost.json"))
        meta = {"family": "gbm", "rounds": int(self.booster.num_boosted_rounds()),
                "n_inputs": int(self.booster.num_features())}
        (folder / "gbm.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> GBMModel:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(folder / "xgboost.json"))
        booster.set_param({"nthread": 1})
        return cls(booster=booster)


def _params(cfg: GBMConfig, seed: int) -> dict[str, Any]:
    return {
        "objective": "reg:squarederror", "eval_metric": ["rmse", "mae"],
        "eta": cfg.learning_rate, "max_depth": cfg.max_depth,
        "min_child_weight": cfg.min_child_weight, "subsample": cfg.subsample,
        "colsample_bytree": cfg.colsample_bytree, "lambda": cfg.reg_lambda,
        "alpha": cfg.reg_alpha, "gamma": cfg.gamma, "tree_method": "hist",
        "seed": seed, "nthread": 2,
    }


def fit_gbm(cfg: GBMConfig, X: FloatArray, y: FloatArray, X_val: FloatArray | None = None,
            y_val: FloatArray | None = None, *, seed: int = 42, init: GBMModel | None = None,
            progress: Progress = no_progress) -> tuple[GBMModel, Curves]:
    """Boost `n_estimators` rounds (more on top of `init` when fine-tuning).

    With a validation set, stop after `early_stopping_rounds` without
    improvement and keep only the trees up to the best round.
    """
    import xgboost as xgb

    dtrain = xgb.DMatrix(X, label=y)
    evals = [(dtrain, "train")]
    has_val = X_val is not None and y_val is not None and len(X_val) > 0
    if has_val:
        evals.append((xgb.DMatrix(X_val, label=y_val), "val"))
    result: dict[str, dict[str, list[float]]] = {}
    total = cfg.n_estimators

    class _Report(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            last = {f"{k}_{m}": float(v[-1]) for k, d in evals_log.items() for m, v in d.items()}
            progress(epoch + 1, total, last)
            return False

    booster = xgb.train(
        _params(cfg, seed), dtrain, num_boost_round=total, evals=evals, evals_result=result,
        early_stopping_rounds=cfg.early_stopping_rounds if has_val else None,
        xgb_model=init.booster if init is not None else None, verbose_eval=False,
        callbacks=[_Report()],
    )
    start = init.booster.num_boosted_rounds() if init is not None else 0
    best = getattr(booster, "best_iteration", None) if has_val and cfg.early_stopping_rounds \
        else None
    if best is not None and best + 1 < booster.num_boosted_rounds():
        booster = booster[: best + 1]
    curves: Curves = {
        "unit": "round",
        "train_loss": [r * r for r in result["train"]["rmse"]],
        "train_mae": result["train"]["mae"],
        "val_loss": [r * r for r in result["val"]["rmse"]] if has_val else [],
        "val_mae": result["val"]["mae"] if has_val else [],
        "epochs_run": len(result["train"]["rmse"]),
        "best_epoch": (best + 1 - start) if best is not None else len(result["train"]["rmse"]),
    }
    return GBMModel(booster=booster), curves
