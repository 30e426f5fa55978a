"""Price ranges with measured coverage: a conformal calibration saved with each version.

At training every training row is priced by a model that did not see it
(k-fold, the fold loop of cross-validation), and its residual is taken on
the model's own scale: the log price when the target is log-transformed, so
that a range is a share of the price. Each residual is divided by a
difficulty estimate, a ridge fitted to the log of those absolute residuals
on the model's inputs, so that ranges widen where the model is unsure. The
normalised scores are kept per price band of the prediction (Mondrian
bins), so that coverage holds for cheap and expensive houses alike.

At serving, the range at level L is the prediction plus or minus the band's
conformal quantile of the scores (the ceil((n + 1) L)-th smallest) times
the house's difficulty. NumPy alone computes it; `calibration.json` holds
everything.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

from estimator.errors import ValidationError
from estimator.features import FloatArray

CALIBRATION_FILE = "calibration.json"
RIDGE = 1.0  # the difficulty estimate's penalty, on standardised inputs


@dataclass(frozen=True)
class Calibration:
    """Sorted normalised scores per price band, and the difficulty estimate."""

    level: float
    edges: list[float]
    scores: list[list[float]]
    coef: list[float]
    intercept: float
    reach: tuple[float, float] = (-math.inf, math.inf)

    @classmethod
    def fit(cls, x: FloatArray, residual: FloatArray, predicted: FloatArray, *,
            level: float, bands: int, normalise: bool = True) -> Calibration:
        """From the held-out residuals of `x` (model inputs) and their predictions.

        Both `residual` and `predicted` are on the model's scale. Without
        `normalise`, every house is as difficult as any other.
        """
        size = np.abs(residual)
        coef, intercept = np.zeros(x.shape[1]), 0.0
        if normalise:
            floor = max(float(np.quantile(size, 0.05)), 1e-12)
            target = np.log(size + floor)
            xm = x.mean(axis=0)
            xc = x - xm
            gram = xc.T @ xc + RIDGE * len(x) * np.eye(x.shape[1])
            coef = np.linalg.solve(gram, xc.T @ (target - target.mean()))
            intercept = float(target.mean() - xm @ coef)
        log_difficulty = x @ coef + intercept
        scores = size / np.exp(log_difficulty)
        edges = np.quantile(predicted, np.linspace(0, 1, bands + 1)[1:-1]).tolist()
        band = np.searchsorted(edges, predicted, side="right")
        # A house unlike any in calibration gets no more (or less) difficulty than the
        # hardest (easiest) one there: the log-linear estimate must not extrapolate.
        return cls(level=level, edges=[float(e) for e in edges],
                   scores=[np.sort(scores[band == b]).tolist() for b in range(bands)],
                   coef=coef.tolist(), intercept=intercept,
                   reach=(float(log_difficulty.min()), float(log_difficulty.max())))

    def halfwidth(self, x: FloatArray, predicted: FloatArray,
                  level: float | None = None) -> FloatArray:
        """How far each range reaches either side of its prediction, on the model's scale."""
        if level is None or level == self.level:
            quantiles = self._quantiles
        elif 0 < level < 1:
            quantiles = self.quantiles(level)
        else:
            raise ValidationError(f"the level of a range must be between 0 and 1, got {level}",
                                  field="level", value=level)
        edges, coef = self._arrays
        band = np.searchsorted(edges, predicted, side="right")
        low, high = self.reach
        log_difficulty = np.minimum(np.maximum(x @ coef + self.intercept, low), high)
        return np.asarray(quantiles[band] * np.exp(log_difficulty))

    def quantiles(self, level: float) -> FloatArray:
        """Each band's conformal quantile of the scores at `level`."""
        return np.array([_conformal_quantile(s, level) for s in self.scores])

    # Made once per loaded version: every one-house request would otherwise pay for them.
    @cached_property
    def _quantiles(self) -> FloatArray:
        return self.quantiles(self.level)

    @cached_property
    def _arrays(self) -> tuple[FloatArray, FloatArray]:
        return np.asarray(self.edges, dtype=np.float64), np.asarray(self.coef, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        return cls(**{**raw, "reach": tuple(raw["reach"])})


def _conformal_quantile(scores: list[float], level: float) -> float:
    """The ceil((n + 1) level)-th smallest score: infinite when the band has too few."""
    k = math.ceil((len(scores) + 1) * level)
    return scores[k - 1] if 0 < k <= len(scores) else math.inf


def coverage(actual: FloatArray, lower: FloatArray, upper: FloatArray, predicted: FloatArray,
             edges: list[float]) -> dict[str, Any]:
    """Share of actual prices inside their ranges and mean width, overall and per band.

    Bands are those of the calibration, by predicted price (in price units here).
    """
    inside = (actual >= lower) & (actual <= upper)
    width = upper - lower
    band = np.searchsorted(edges, predicted, side="right")
    bounds: list[float | None] = [None, *edges, None]  # open ends
    per_band = [{"from": bounds[b], "to": bounds[b + 1], "rows": int((band == b).sum()),
                 "coverage": float(inside[band == b].mean()) if (band == b).any() else None,
                 "mean_width": float(width[band == b].mean()) if (band == b).any() else None}
                for b in range(len(edges) + 1)]
    return {"rows": len(actual), "coverage": float(inside.mean()),
            "mean_width": float(width.mean()), "bands": per_band}
