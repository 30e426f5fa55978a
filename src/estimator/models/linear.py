"""Ridge regression: the baseline, and a fast, explainable model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from estimator.config import LinearConfig
from estimator.models.base import Curves, FloatArray


@dataclass
class LinearModel:
    coef: FloatArray
    intercept: float
    family: ClassVar[str] = "linear"

    def predict(self, X: FloatArray) -> FloatArray:
        return X @ self.coef + self.intercept

    def contributions(self, X: FloatArray, reference: FloatArray) -> FloatArray:
        """Exact: each input's coefficient times its distance from the reference."""
        return (X - reference) * self.coef

    def save(self, folder: Path) -> None:
        np.savez(folder / "linear.npz", coef=self.coef, intercept=np.array([self.intercept]))
        (folder / "linear.json").write_text(json.dumps({"family": "linear",
                                                        "n_inputs": int(self.coef.size)}))

    @classmethod
    def load(cls, folder: Path) -> LinearModel:
        with np.load(folder / "linear.npz", allow_pickle=False) as npz:
            return cls(coef=npz["coef"].astype(np.float64), intercept=float(npz["intercept"][0]))


def fit_linear(cfg: LinearConfig, X: FloatArray, y: FloatArray) -> tuple[LinearModel, Curves]:
    from sklearn.linear_model import Ridge

    ridge = Ridge(alpha=cfg.alpha).fit(X, y)
    model = LinearModel(coef=np.asarray(ridge.coef_, dtype=np.float64),
                        intercept=float(ridge.intercept_))
    return model, {"unit": "fit", "steps": 1}
