"""An ensemble: models of other families combined into one prediction.

Every member sees the same preprocessed rows. The combination is fitted on
out-of-fold predictions of the training rows, so that a member which only
memorises its training rows earns no weight for it: `average` finds
non-negative weights summing to 1, `stacking` fits a ridge meta-model
(weights of any sign and an intercept). A saved ensemble is a folder per
member plus `ensemble.json`; it predicts with what its members need (NumPy,
XGBoost) and nothing more.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from estimator.errors import ModelLoadError
from estimator.models.base import Curves, FloatArray, Model, Progress, no_progress

if TYPE_CHECKING:
    from estimator.config import Config, EnsembleConfig

ENSEMBLE_FILE = "ensemble.json"
_MEMBER_DIR = re.compile(r"^\d+-[a-z]+$")


@dataclass
class EnsembleModel:
    members: list[Model]
    weights: FloatArray
    intercept: float = 0.0
    method: str = "average"
    family: ClassVar[str] = "ensemble"

    def predict(self, X: FloatArray) -> FloatArray:
        stacked = np.column_stack([m.predict(X) for m in self.members])
        return np.asarray(stacked @ self.weights + self.intercept, dtype=np.float64)

    def contributions(self, X: FloatArray, reference: FloatArray) -> FloatArray:
        """The members' contributions, weighted as their predictions are."""
        parts = np.zeros_like(X)
        for member, weight in zip(self.members, self.weights, strict=True):
            parts += weight * member.contributions(X, reference)
        return parts

    def save(self, folder: Path) -> None:
        entries = []
        for i, member in enumerate(self.members):
            sub = f"{i}-{member.family}"
            (folder / sub).mkdir()
            member.save(folder / sub)
            entries.append({"family": member.family, "folder": sub})
        meta = {"family": "ensemble", "method": self.method, "members": entries,
                "weights": [float(w) for w in self.weights], "intercept": self.intercept}
        (folder / ENSEMBLE_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> EnsembleModel:
        """Read ensemble.json and each member's folder; raises ModelLoadError if they disagree."""
        from estimator.models import load_model

        meta = json.loads((folder / ENSEMBLE_FILE).read_text())
        entries, weights = meta["members"], np.asarray(meta["weights"], dtype=np.float64)
        if len(entries) != len(weights) or not entries:
            raise ModelLoadError(f"'{folder / ENSEMBLE_FILE}' lists {len(entries)} members but "
                                 f"{len(weights)} weights.")
        members = []
        for entry in entries:
            sub, family = str(entry["folder"]), str(entry["family"])
            if not _MEMBER_DIR.match(sub) or family == "ensemble":
                raise ModelLoadError(f"'{folder / ENSEMBLE_FILE}' names an invalid member "
                                     f"{sub!r} ({family}).")
            members.append(load_model(folder / sub, family))
        return cls(members=members, weights=weights, intercept=float(meta["intercept"]),
                   method=str(meta["method"]))


def combine(oof: FloatArray, y: FloatArray, method: str, alpha: float) -> tuple[FloatArray, float]:
    """Weights (and intercept) that best map the members' out-of-fold predictions to `y`."""
    if method == "stacking":
        from sklearn.linear_model import Ridge

        meta = Ridge(alpha=alpha).fit(oof, y)
        return np.asarray(meta.coef_, dtype=np.float64), float(meta.intercept_)
    from scipy.optimize import minimize

    # Least squares under w >= 0 and sum(w) = 1; the objective is scaled to order 1.
    scale = float(np.sum((y - y.mean()) ** 2)) or 1.0
    m = oof.shape[1]

    def loss(w: FloatArray) -> tuple[float, FloatArray]:
        r = oof @ w - y
        return float(r @ r) / scale, 2.0 * (oof.T @ r) / scale

    best = minimize(loss, np.full(m, 1.0 / m), jac=True, method="SLSQP",
                    bounds=[(0.0, 1.0)] * m,
                    constraints=[{"type": "eq", "fun": lambda w: float(np.sum(w)) - 1.0}])
    w = np.clip(np.asarray(best.x, dtype=np.float64), 0.0, None)
    return w / w.sum(), 0.0


def fit_ensemble(config: Config, X: FloatArray, y: FloatArray, X_val: FloatArray | None,
                 y_val: FloatArray | None, *, to_price: Any = None,
                 progress: Progress = no_progress) -> tuple[EnsembleModel, Curves]:
    """Out-of-fold predictions per member, the combination, then each member on all rows.

    Members stop early on the same validation rows the ensemble was given.
    Only the final fits report progress, one member after the other. With
    fixed `weights` in the config the out-of-fold fits are skipped.
    """
    from sklearn.model_selection import KFold

    from estimator.models import fit_model

    cfg: EnsembleConfig = config.model  # type: ignore[assignment]
    oof = np.zeros((len(y), len(cfg.members)))
    if cfg.weights is not None:
        weights, intercept = np.asarray(cfg.weights) / sum(cfg.weights), 0.0
    else:
        folds = list(KFold(cfg.folds, shuffle=True, random_state=config.seed).split(X))
        for j, member in enumerate(cfg.members):
            member_config = config.model_copy(update={"model": member})
            for train_idx, hold_idx in folds:
                model, _ = fit_model(member_config, X[train_idx], y[train_idx], X_val, y_val,
                                     to_price=to_price)
                oof[hold_idx, j] = model.predict(X[hold_idx])
        weights, intercept = combine(oof, y, cfg.method, cfg.alpha)
    members, member_curves = [], []
    for member in cfg.members:
        model, curves = fit_model(config.model_copy(update={"model": member}), X, y, X_val,
                                  y_val, to_price=to_price, progress=progress)
        members.append(model)
        member_curves.append(curves)
    curves_out: Curves = {"unit": "member", "method": cfg.method, "weights": weights.tolist(),
                          "intercept": intercept, "members": member_curves}
    if cfg.weights is None:
        price = to_price or (lambda v: v)
        curves_out["oof_mae"] = [float(np.mean(np.abs(price(oof[:, j]) - price(y))))
                                 for j in range(oof.shape[1])]
        curves_out["oof_mae_ensemble"] = float(np.mean(np.abs(price(oof @ weights + intercept)
                                                              - price(y))))
    model_out = EnsembleModel(members=members, weights=weights, intercept=intercept,
                              method=cfg.method)
    return model_out, curves_out
