"""Turning raw matrices into model inputs, the same way in training and in serving.

`estimator.validation` checks houses and packs them into one raw matrix
(numbers as they are, categories as their index in the schema, -1 for a
value never seen, NaN for a gap). `Preprocessor` is fitted on the training
split only and then imputes, standardises and one-hot encodes that matrix
(with an unknown slot per categorical feature), adding derived columns when
the config asks for them (`estimator.derived`). It is saved as JSON next to
the weights, and NumPy alone applies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimator import derived
from estimator.schema import Schema

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class Preprocessor:
    """Imputation, standardisation, one-hot encoding and derived columns, fitted on training rows.

    Learned state follows scikit-learn's convention (trailing underscore).
    """

    impute: str = "median"
    scale: bool = True
    log_target: bool = False
    coordinates: bool = False
    ratios: bool = False
    kinds_: list[str] = field(default_factory=list)
    fill_: list[float] = field(default_factory=list)
    mean_: list[float] = field(default_factory=list)
    scale_: list[float] = field(default_factory=list)
    slots_: list[list[int] | None] = field(default_factory=list)
    output_names_: list[str] = field(default_factory=list)
    # Derived columns (see `estimator.derived`), appended after the features' own.
    geo_: list[int] = field(default_factory=list)
    angles_: list[float] = field(default_factory=list)
    pairs_: list[list[int]] = field(default_factory=list)
    derived_fill_: list[float] = field(default_factory=list)
    derived_mean_: list[float] = field(default_factory=list)
    derived_scale_: list[float] = field(default_factory=list)
    _plan: _Plan | None = field(default=None, repr=False, compare=False)

    def _stats(self, present: FloatArray) -> tuple[float, float, float]:
        """Fill value, shift and scale of one numeric column from its present values."""
        if present.size == 0:
            return 0.0, 0.0, 1.0
        fill = float(present.mean() if self.impute == "mean" else np.median(present))
        std = float(present.std())
        return (fill, float(present.mean()) if self.scale else 0.0,
                std if (self.scale and std > 0) else 1.0)

    def fit(self, schema: Schema, matrix: FloatArray) -> Preprocessor:
        self.kinds_, self.fill_, self.mean_, self.scale_, self.slots_ = [], [], [], [], []
        self.output_names_ = []
        self._plan = None
        self._fit_features(schema, matrix)
        self._fit_derived(schema, matrix)
        return self

    def _fit_features(self, schema: Schema, matrix: FloatArray) -> None:
        for j, feat in enumerate(schema.features):
            col = matrix[:, j]
            present = col[~np.isnan(col)]
            self.kinds_.append(feat.kind)
            if feat.kind == "categorical":
                codes = present[present >= 0].astype(int)
                seen = sorted(set(codes.tolist()))
                fill = float(np.bincount(codes).argmax()) if codes.size else -1.0
                slots = [-1] * len(feat.categories)
                for slot, code in enumerate(seen):
                    slots[code] = slot
                self.slots_.append(slots)
                self.fill_.append(fill)
                self.mean_.append(0.0)
                self.scale_.append(1.0)
                names = list(feat.categories)
                self.output_names_ += [f"{feat.name}={names[c]}" for c in seen]
                self.output_names_.append(f"{feat.name}=<unknown>")
                continue
            fill, shift, scale = self._stats(present)
            self.slots_.append(None)
            self.fill_.append(fill)
            self.mean_.append(shift)
            self.scale_.append(scale)
            self.output_names_.append(feat.name)

    def _fit_derived(self, schema: Schema, matrix: FloatArray) -> None:
        self.geo_, self.angles_, self.pairs_ = [], [], []
        if self.coordinates:
            self.geo_ = list(derived.require_coordinates(schema))
            self.angles_ = list(derived.ANGLES)
        filled = np.where(np.isnan(matrix), np.asarray(self.fill_), matrix)
        if self.ratios:
            self.pairs_ = derived.ratio_pairs(schema, filled, exclude=self.geo_)
        extra = derived.derive(filled, self.geo_, self.angles_, self.pairs_)
        stats = [self._stats(col[~np.isnan(col)]) for col in extra.T]
        self.derived_fill_ = [fill for fill, _, _ in stats]
        self.derived_mean_ = [shift for _, shift, _ in stats]
        self.derived_scale_ = [scale for _, _, scale in stats]
        self.output_names_ += derived.names(schema, self.geo_, self.angles_, self.pairs_)

    @property
    def n_outputs(self) -> int:
        return len(self.output_names_)

    def _compiled(self) -> _Plan:
        if self._plan is None:
            self._plan = _Plan(self)
        return self._plan

    def transform(self, matrix: FloatArray) -> FloatArray:
        """Model inputs for a raw matrix from `encode`, in a few whole-matrix operations.

        Training, evaluation, batch scoring and the service all call this, so
        a price cannot depend on which path computed it.
        """
        plan = self._compiled()
        if np.isnan(matrix).any():
            matrix = np.where(np.isnan(matrix), plan.fill, matrix)
        if plan.affine_only:
            return (matrix - plan.mean) / plan.scale
        n = matrix.shape[0]
        out = np.zeros((n, self.n_outputs), dtype=np.float64)
        out[:, plan.numeric_out] = (matrix[:, plan.numeric_in] - plan.mean) / plan.scale
        rows = np.arange(n)
        for j, pos, lookup in plan.categorical:
            codes = matrix[:, j].astype(np.int64)
            codes[(codes < 0) | (codes >= len(lookup) - 1)] = len(lookup) - 1
            out[rows, pos + lookup[codes]] = 1.0
        if plan.derived_at < self.n_outputs:
            extra = derived.derive(matrix, self.geo_, self.angles_, self.pairs_)
            extra = np.where(np.isnan(extra), plan.derived_fill, extra)
            out[:, plan.derived_at:] = (extra - plan.derived_mean) / plan.derived_scale
        return out

    def transform_target(self, y: FloatArray) -> FloatArray:
        return np.log1p(y) if self.log_target else y

    def inverse_target(self, y: FloatArray) -> FloatArray:
        return np.expm1(y) if self.log_target else y

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Preprocessor:
        return cls(**raw)


class _Plan:
    """The fitted state as index and value arrays, built once per preprocessor.

    Numeric columns become one affine map; each categorical column one
    scatter through a lookup from code to output slot, where -1 (never seen)
    and codes beyond the fitted categories land in the unknown slot.
    """

    def __init__(self, pre: Preprocessor) -> None:
        numeric_in: list[int] = []
        numeric_out: list[int] = []
        self.categorical: list[tuple[int, int, np.ndarray[Any, np.dtype[np.int64]]]] = []
        pos = 0
        for j, slots in enumerate(pre.slots_):
            if slots is None:
                numeric_in.append(j)
                numeric_out.append(pos)
                pos += 1
                continue
            width = max(slots) + 2 if slots and max(slots) >= 0 else 1
            lookup = np.asarray([*slots, width - 1], dtype=np.int64)
            lookup[lookup < 0] = width - 1
            self.categorical.append((j, pos, lookup))
            pos += width
        self.numeric_in = np.asarray(numeric_in, dtype=np.int64)
        self.numeric_out = np.asarray(numeric_out, dtype=np.int64)
        self.fill = np.asarray(pre.fill_, dtype=np.float64)
        self.mean = np.asarray(pre.mean_, dtype=np.float64)[self.numeric_in]
        self.scale = np.asarray(pre.scale_, dtype=np.float64)[self.numeric_in]
        self.derived_at = pos
        self.derived_fill = np.asarray(pre.derived_fill_, dtype=np.float64)
        self.derived_mean = np.asarray(pre.derived_mean_, dtype=np.float64)
        self.derived_scale = np.asarray(pre.derived_scale_, dtype=np.float64)
        self.affine_only = (not self.categorical and numeric_out == numeric_in
                            and pos == len(pre.output_names_))
