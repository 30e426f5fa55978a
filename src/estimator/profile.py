"""Drift that means something: effect sizes with confidence intervals, not p-values.

Each version keeps a reference profile of its training rows (`reference.json`):
per feature the decile edges (numbers) or the categories, the share of rows
in each bin with one more bin for gaps and unseen categories, and the same
for the model's predictions, and the deciles of its relative errors on the
test split. A window of served houses is binned alike and compared by the
population stability index, PSI = sum (o - e) ln(o / e); the estimates that
got a sale price compare their errors with the test split's, which shows a
market that moved under features that did not (prices up 20 %, say).

A p-value test flags everything on a large window, since any real market
differs from its training year by something. PSI is an effect size instead,
but on a small window it is inflated by chance alone, by about (bins - 1) / n
(n PSI is close to a chi-square with bins - 1 degrees of freedom), so that
expected noise is subtracted, and a 95 % bootstrap interval of the window's
rows is put around it. A feature has drifted when the interval's low end is
above 0.1, the conventional line of a moderate shift: a window drawn from the
training distribution itself then almost never raises an alarm, while a real
shift is flagged once the window holds enough rows to show it. Below MIN_ROWS
rows neither holds: ten bins cannot all be filled, the empty ones weigh like a
shift, and a bootstrap of a few rows varies too little; drawn from the training
data, every window of 20 rows or fewer raised alarms and one of 100 rows still
did 5 % of the time for a skewed category. So a smaller window gets its figures
but no verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from estimator.features import FloatArray
from estimator.schema import Schema

REFERENCE_FILE = "reference.json"
BINS = 10
THRESHOLD = 0.1
MIN_ROWS = 200  # the fewest rows a verdict rests on (see above)
RESAMPLES = 200
FLOOR = 1e-4  # the smallest share a bin is taken to have, so that ln(o / e) stays finite


@dataclass(frozen=True)
class Reference:
    """Bin edges and shares of the training rows, per feature and for the predictions, and
    of the relative errors (estimate / price - 1) on the test split."""

    edges: list[list[float]]
    shares: list[list[float]]
    prediction_edges: list[float]
    prediction_shares: list[float]
    residual_edges: list[float] = field(default_factory=list)
    residual_shares: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, schema: Schema, raw: FloatArray, predicted: FloatArray,
            errors: FloatArray | None = None) -> Reference:
        edges = [_edges(raw[:, j]) if f.kind != "categorical" else []
                 for j, f in enumerate(schema.features)]
        shares = [_shares(_bin(raw[:, j], e, f.kind, len(f.categories)),
                          _width(e, f.kind, len(f.categories)))
                  for j, (f, e) in enumerate(zip(schema.features, edges, strict=True))]
        p_edges = _edges(predicted)
        e_edges = _edges(errors) if errors is not None else []
        return cls(edges=edges, shares=shares, prediction_edges=p_edges,
                   prediction_shares=_numeric_shares(predicted, p_edges),
                   residual_edges=e_edges,
                   residual_shares=_numeric_shares(errors, e_edges)
                   if errors is not None and e_edges else [])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Reference:
        return cls(**raw)


def _edges(values: FloatArray) -> list[float]:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    return sorted(set(np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]).tolist()))


def _width(edges: list[float], kind: str, categories: int) -> int:
    """Bins of a feature: its value bins, then one for gaps (and unseen categories)."""
    return categories + 1 if kind == "categorical" else len(edges) + 2


def _bin(values: FloatArray, edges: list[float], kind: str, categories: int) -> Any:
    last = _width(edges, kind, categories) - 1
    gaps = np.isnan(values)
    if kind == "categorical":
        codes = np.where(gaps | (values < 0), last, np.nan_to_num(values, nan=0.0))
        return codes.astype(np.int64)
    return np.where(gaps, last, np.searchsorted(edges, np.nan_to_num(values), side="right"))


def _numeric_shares(values: FloatArray, edges: list[float]) -> list[float]:
    return _shares(_bin(values, edges, "numeric", 0), len(edges) + 2)


def _shares(codes: Any, width: int) -> list[float]:
    counts = np.bincount(codes, minlength=width)[:width]
    shares: list[float] = (counts / max(len(codes), 1)).tolist()
    return shares


def _psi(expected: FloatArray, counts: FloatArray, n: int) -> FloatArray:
    """PSI of observed bin counts (rows: resamples) against expected shares, less the part
    chance alone gives a window of n rows."""
    observed = np.maximum(counts / n, FLOOR)
    e = np.maximum(expected, FLOOR)
    psi = ((observed - e) * np.log(observed / e)).sum(axis=-1)
    return np.asarray(psi - (np.count_nonzero(expected) - 1) / n)


def compare(expected: list[float], codes: Any, seed: int = 0) -> dict[str, Any]:
    """The debiased PSI of a window's bins, its 95 % bootstrap interval and the verdict
    (never 'drifted' under MIN_ROWS rows)."""
    e = np.asarray(expected, dtype=np.float64)
    n, width = len(codes), len(expected)
    if n == 0:
        return {"psi": None, "low": None, "high": None, "drifted": False}
    psi = float(_psi(e, np.bincount(codes, minlength=width)[:width].astype(np.float64), n))
    rng = np.random.default_rng(seed)
    drawn = codes[rng.integers(0, n, size=(RESAMPLES, n))]
    offsets = (np.arange(RESAMPLES) * width)[:, None]
    counts = np.bincount((drawn + offsets).ravel(), minlength=RESAMPLES * width)
    boot = _psi(e, counts.reshape(RESAMPLES, width).astype(np.float64), n)
    low, high = np.percentile(boot, [2.5, 97.5]).tolist()
    return {"psi": max(psi, 0.0), "low": max(low, 0.0), "high": max(high, 0.0),
            "drifted": n >= MIN_ROWS and low > THRESHOLD}


def drift(reference: Reference, schema: Schema, raw: FloatArray, predicted: FloatArray,
          importance: FloatArray | None = None,
          errors: FloatArray | None = None) -> dict[str, Any]:
    """Per feature, for the predictions and for the relative errors of the estimates that
    got a sale price (`errors`): effect, interval, verdict; features ranked by drift times
    the model's importance of the feature."""
    weight = (importance / importance.sum() if importance is not None and importance.sum() > 0
              else np.full(len(schema.features), 1.0 / len(schema.features)))
    features = []
    for j, f in enumerate(schema.features):
        edges = reference.edges[j]
        found = compare(reference.shares[j], _bin(raw[:, j], edges, f.kind, len(f.categories)),
                        seed=j)
        features.append({"feature": f.name, **found, "importance": float(weight[j]),
                         "score": (found["psi"] or 0.0) * float(weight[j])})
    features.sort(key=lambda f: -f["score"])
    prediction = compare(reference.prediction_shares,
                         _bin(predicted, reference.prediction_edges, "numeric", 0), seed=99)
    sold = errors if errors is not None else np.empty(0)
    residuals = ({"rows": int(sold.size), **compare(
        reference.residual_shares, _bin(sold, reference.residual_edges, "numeric", 0),
        seed=98)} if reference.residual_edges else None)
    rows = int(raw.shape[0])
    return {"rows": rows, "threshold": THRESHOLD, "min_rows": MIN_ROWS,
            "judged": rows >= MIN_ROWS, "features": features,
            "prediction": prediction, "residuals": residuals,
            "drifted": [f["feature"] for f in features if f["drifted"]]}
