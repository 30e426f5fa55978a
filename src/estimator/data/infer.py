"""Inferring the feature schema from a training table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from estimator.errors import DataError
from estimator.schema import Feature, Kind, Schema, Target

MAX_CATEGORIES = 100
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
             "p99": 0.99}


def _as_numeric(col: pd.Series) -> pd.Series | None:
    """The column as floats when every present value is a number, else None."""
    if pd.api.types.is_bool_dtype(col):
        return col.astype("float64")
    if pd.api.types.is_numeric_dtype(col):
        return col.astype("float64")
    converted = pd.to_numeric(col, errors="coerce")
    if (converted.isna() & col.notna()).any():
        return None
    return converted.astype("float64")


def _kind(values: np.ndarray) -> Kind:
    present = values[~np.isnan(values)]
    if present.size and np.isin(present, (0.0, 1.0)).all():
        return "binary"
    if present.size and np.all(np.mod(present, 1) == 0):
        return "integer"
    return "numeric"


def infer_feature(name: str, col: pd.Series, description: str = "") -> Feature:
    """Kind, range, quantiles and categories of one column."""
    numeric = _as_numeric(col)
    missing = int(col.isna().sum())
    if numeric is None:
        counts = col.dropna().astype(str).value_counts()
        if len(counts) > MAX_CATEGORIES:
            raise DataError(f"Column '{name}' holds {len(counts)} distinct text values, too many "
                            f"for a category (at most {MAX_CATEGORIES}); list it in data.exclude.",
                            column=name)
        cats = {str(k): int(v) for k, v in sorted(counts.items())}
        return Feature(name=name, kind="categorical", description=description, missing=missing,
                       categories=cats)
    values = numeric.to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size < values[~np.isnan(values)].size:
        raise DataError(f"Column '{name}' holds infinite values.", column=name)
    qs = np.quantile(finite, list(QUANTILES.values())) if finite.size else []
    return Feature(
        name=name, kind=_kind(values), description=description, missing=missing,
        min=float(finite.min()), max=float(finite.max()), mean=float(finite.mean()),
        std=float(finite.std()),
        quantiles={k: float(q) for k, q in zip(QUANTILES, qs, strict=True)},
    )


def typical_row(frame: pd.DataFrame, features: tuple[Feature, ...]) -> dict[str, Any]:
    """The real row nearest the middle of the data: the median row.

    Among rows with no gap, the one whose numbers sit closest to their medians
    (in standard deviations) and whose categories are most often the commonest.
    A row that exists is a better example than a patchwork of typical values,
    which can combine categories no house has together.
    """
    complete = frame.dropna()
    if complete.empty:
        complete = frame
    distance = np.zeros(len(complete))
    for f in features:
        col = complete[f.name]
        if f.kind == "categorical":
            distance += (col.astype(str) != f.example).to_numpy(dtype=float)
        elif f.std:
            values = col.to_numpy(dtype=np.float64)
            distance += np.nan_to_num(np.abs(values - f.quantiles.get("p50", 0.0)) / f.std,
                                      nan=10.0)
    row = complete.iloc[int(np.argmin(distance))]
    out: dict[str, Any] = {}
    for f in features:
        value = row[f.name]
        if pd.isna(value):
            continue
        out[f.name] = (str(value) if f.kind == "categorical" else
                       int(value) if f.kind in ("integer", "binary") else float(value))
    return out


def infer_schema(frame: pd.DataFrame, y: np.ndarray, target: str,
                 descriptions: dict[str, str]) -> Schema:
    """The schema of a features table and its target, in column order."""
    feats = tuple(infer_feature(str(c), frame[c], descriptions.get(str(c), ""))
                  for c in frame.columns)
    tgt = Target(name=target, description=descriptions.get(target, ""), min=float(y.min()),
                 max=float(y.max()), mean=float(y.mean()), std=float(y.std()))
    return Schema(features=feats, target=tgt, example=typical_row(frame, feats))
