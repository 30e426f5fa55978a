"""Why this price: each feature's contribution, and the training houses most alike.

Contributions come from the model family itself (`Model.contributions`):
XGBoost's own `pred_contribs` for trees, exact terms for ridge, DeepLIFT's
rescale rule for the MLP (exact summation to the difference from a
reference house, the training mean), weighted sums for an ensemble. They
are on the model's inputs; here they are gathered per feature (the one-hot
slots of a category together, a derived column split evenly between the
features it is made of) and turned into price units, so that the base value
plus the contributions is the price. With a log target the log terms are
scaled by (price - base) / (log price - log base), which keeps their sum exact.

Comparables are the training houses nearest to the one asked about, in the
standardised feature space weighted by each feature's importance (its mean
absolute contribution over the training rows), with their sale prices and
the features where they differ most. The training rows are kept with the
version for that (`training.npz`, read with allow_pickle=False).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from estimator.features import FloatArray, Preprocessor
from estimator.models import Model
from estimator.schema import Schema

TRAINING_FILE = "training.npz"
COMPARABLES = 5
DIFFERENCES = 3


def feature_map(schema: Schema, pre: Preprocessor) -> FloatArray:
    """A (model inputs x features) matrix that gathers input contributions per feature."""
    k = len(schema.features)
    rows: list[FloatArray] = []
    for j, slots in enumerate(pre.slots_):
        width = 1 if slots is None else (max(slots) + 2 if slots and max(slots) >= 0 else 1)
        for _ in range(width):
            rows.append(np.eye(k)[j])
    derived = [list(pre.geo_)] * len(pre.angles_ if pre.geo_ else []) + [list(p) for p in
                                                                          pre.pairs_]
    for sources in derived:
        row = np.zeros(k)
        row[sources] = 1.0 / len(sources)
        rows.append(row)
    return np.array(rows).reshape(len(rows), k)


@dataclass
class Explainer:
    """What explaining a version needs beyond the predictor: its training houses."""

    schema: Schema
    preprocessor: Preprocessor
    model: Model
    rows: FloatArray  # raw training matrix, as `validation` packs houses
    prices: FloatArray
    reference: FloatArray  # the training mean of the model's inputs
    importance: FloatArray  # mean |contribution| per feature, in price units

    @classmethod
    def fit(cls, schema: Schema, pre: Preprocessor, model: Model, rows: FloatArray,
            prices: FloatArray) -> Explainer:
        reference = pre.transform(rows).mean(axis=0)
        explainer = cls(schema=schema, preprocessor=pre, model=model, rows=rows, prices=prices,
                        reference=reference, importance=np.ones(len(schema.features)))
        sample = rows[np.random.default_rng(0).permutation(len(rows))[:2000]]
        _, contributions = explainer.contributions(sample)
        explainer.importance = np.abs(contributions).mean(axis=0) + 1e-12
        return explainer

    def save(self, folder: Path) -> None:
        np.savez(folder / TRAINING_FILE, rows=self.rows, prices=self.prices,
                 reference=self.reference, importance=self.importance)

    @classmethod
    def load(cls, folder: Path, schema: Schema, pre: Preprocessor, model: Model) -> Explainer:
        with np.load(folder / TRAINING_FILE, allow_pickle=False) as npz:
            return cls(schema=schema, preprocessor=pre, model=model, rows=npz["rows"],
                       prices=npz["prices"], reference=npz["reference"],
                       importance=npz["importance"])

    def contributions(self, raw: FloatArray,
                      predicted: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """(base, per-feature contributions) in price units: base + sum = the price.

        `predicted` is the model's output for `raw` when the caller has it already (the
        service has just priced the house). The base is that output less the
        contributions, so it takes up the model's own rounding (XGBoost sums in float32)
        and the sum is the price to the last digit.
        """
        pre = self.preprocessor
        x = pre.transform(raw)
        parts = self.model.contributions(x, self.reference)
        if predicted is None:
            predicted = self.model.predict(x)
        base = predicted - parts.sum(axis=1)
        per_feature = parts @ self._gather
        if not pre.log_target:
            return base, per_feature
        price, base_price = pre.inverse_target(predicted), pre.inverse_target(base)
        gap = predicted - base
        close = np.abs(gap) < 1e-12
        scale = np.where(close, np.exp(predicted), (price - base_price) / np.where(close, 1, gap))
        return base_price, per_feature * scale[:, None]

    def __post_init__(self) -> None:
        feats = self.schema.features
        self._gather = feature_map(self.schema, self.preprocessor)
        self._categories = [list(f.categories) if f.kind == "categorical" else None
                            for f in feats]
        self._whole = [f.kind in ("integer", "binary") for f in feats]
        self._categorical = np.array([f.kind == "categorical" for f in feats])
        self._centre = np.array([f.mean or 0.0 for f in feats])
        self._spread = np.array([f.std or 1.0 for f in feats])
        self._train = self._standardised(self.rows)

    def comparables(self, raw: FloatArray, n: int = COMPARABLES) -> list[list[dict[str, Any]]]:
        """For each house, the `n` most similar training houses, nearest first."""
        out = []
        for house, values in zip(self._standardised(raw), raw, strict=True):
            gaps = np.where(self._categorical, self._train != house,
                            np.abs(self._train - house)) * self.importance
            distance = gaps.sum(axis=1)
            nearest = np.argpartition(distance, min(n, len(distance) - 1))[:n]
            nearest = nearest[np.argsort(distance[nearest], kind="stable")]
            out.append([self._comparable(int(i), gaps[i], float(distance[i]), values)
                        for i in nearest])
        return out

    def _standardised(self, raw: FloatArray) -> FloatArray:
        """Gaps imputed as in training; numbers in standard deviations, categories as codes
        (two houses differ by 1 where their categories differ)."""
        filled = np.where(np.isnan(raw), np.asarray(self.preprocessor.fill_), raw)
        with np.errstate(over="ignore"):
            z = (filled - self._centre) / self._spread
        # Beyond a million standard deviations every house is as far: distances stay finite.
        return np.where(self._categorical, filled, np.clip(z, -1e6, 1e6))

    def _comparable(self, i: int, gaps: FloatArray, distance: float,
                    house: FloatArray) -> dict[str, Any]:
        row, values = self.rows[i].tolist(), house.tolist()
        names = self.schema.names
        order = [j for j in np.argsort(-gaps, kind="stable").tolist() if gaps[j] > 0]
        return {"price": float(self.prices[i]), "distance": distance,
                "house": {name: self._shown(j, row[j]) for j, name in enumerate(names)},
                "differences": [{"field": names[j], "value": self._shown(j, values[j]),
                                 "comparable": self._shown(j, row[j])}
                                for j in order[:DIFFERENCES]]}

    def _shown(self, j: int, value: float) -> float | int | str | None:
        if math.isnan(value):  # a gap
            return None
        names = self._categories[j]
        if names is not None:
            return names[int(value)] if 0 <= value < len(names) else "<unknown>"
        return int(value) if self._whole[j] and abs(value) < 2**53 else value  # JSON's ints
