"""The promotion gate: is a challenger really better than the champion on recent sales?

Both models price the same recent window of sold houses that neither trained
on. A paired bootstrap resamples those houses (the same draw for both, so
the comparison is not swamped by how hard the houses are) and gives a
one-sided confidence bound on how much the challenger lowers the median
absolute percentage error. The challenger passes when that bound is above
zero at the configured confidence and its ranges still hold the sale price
about as often as they promise: no more than two standard errors of a
binomial proportion (and at least two points) below the nominal level, so a
small window does not refuse a good model on noise alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from estimator.evaluation import valuation
from estimator.features import FloatArray
from estimator.predictor import Estimates


@dataclass(frozen=True)
class Decision:
    """What the gate decided and the figures behind it, as stored with the version."""

    promote: bool
    reason: str
    rows: int
    confidence: float
    champion: dict[str, Any]
    challenger: dict[str, Any]
    improvement: float  # median APE points the challenger saves (positive is better)
    improvement_low: float  # the one-sided bound at `confidence`
    improvement_high: float
    coverage_floor: float | None  # the least coverage (%) the challenger's ranges may show

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ape(actual: FloatArray, price: FloatArray) -> FloatArray:
    return np.abs(price - actual) / np.abs(actual) * 100


def judge(actual: FloatArray, champion: Estimates, challenger: Estimates, *,
          confidence: float = 0.95, level: float | None = None, resamples: int = 2000,
          seed: int = 0) -> Decision:
    """Decide whether `challenger` should replace `champion`, from their estimates of the
    same sold houses; `level` is the challenger's nominal range level (None: no ranges)."""
    actual = np.asarray(actual, dtype=float)
    n = actual.size
    champ_ape, chall_ape = _ape(actual, champion.price), _ape(actual, challenger.price)
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    saved = np.median(champ_ape[draws], axis=1) - np.median(chall_ape[draws], axis=1)
    low = float(np.quantile(saved, 1 - confidence))
    high = float(np.quantile(saved, confidence))
    improvement = float(np.median(champ_ape) - np.median(chall_ape))
    figures = {"champion": valuation(actual, champion.price, champion.lower, champion.upper),
               "challenger": valuation(actual, challenger.price, challenger.lower,
                                       challenger.upper)}
    floor = None
    held = figures["challenger"]["coverage"]
    if level is not None:
        floor = 100 * (level - max(0.02, 2 * math.sqrt(level * (1 - level) / n)))
    better = low > 0
    holds = floor is None or (held is not None and held >= floor)
    before, after = figures["champion"]["median_ape"], figures["challenger"]["median_ape"]
    pct = f"{confidence:.0%}"
    if not better:
        reason = (f"not better: median APE {before:.1f} % -> {after:.1f} %, but at {pct} "
                  f"confidence the saving could be {low:+.2f} points (needs > 0)")
    elif not holds:
        shown = "no ranges" if held is None else f"{held:.1f} %"
        reason = (f"better on error ({before:.1f} % -> {after:.1f} %) but its ranges do not "
                  f"hold: coverage {shown} < {floor:.1f} %")
    else:
        reason = (f"better: median APE {before:.1f} % -> {after:.1f} %, saving at least "
                  f"{low:.2f} points at {pct} confidence"
                  + (f"; coverage {held:.1f} % >= {floor:.1f} %" if floor is not None else ""))
    return Decision(promote=better and holds, reason=reason, rows=n, confidence=confidence,
                    improvement=improvement, improvement_low=low, improvement_high=high,
                    coverage_floor=floor, **figures)
