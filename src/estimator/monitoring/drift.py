"""Drift of a served version, measured on the estimates the prediction log holds.

The statistics live in `estimator.profile`, beside the reference profile each
version stores; this module reads the latest logged houses and measures them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from estimator.errors import ModelLoadError
from estimator.monitoring.store import PredictionLog
from estimator.predictor import Predictor
from estimator.profile import drift

# The bootstrap resamples a window 200 times: 50,000 rows are 10 million draws, about a second.
MAX_WINDOW = 50_000


def drift_report(url: str, predictor: Predictor, *, since: datetime | None = None,
                 window: int | None = None) -> dict[str, Any]:
    """The drift of a version's model in its latest logged estimates (`window` of them, at
    most MAX_WINDOW, made since `since`).

    Raises ModelLoadError for a version saved without a reference profile, DatabaseError
    when the log cannot be read.
    """
    if predictor.reference is None:
        raise ModelLoadError(f"{predictor.name}@{predictor.version} was saved without a "
                             "reference profile; retrain it to watch its drift.")
    with PredictionLog(url) as log:
        logged = log.latest(predictor.name, min(window or MAX_WINDOW, MAX_WINDOW), since)
        sold = [p for p in log.sold(predictor.name, since) if p.version == predictor.version]
    sold = sold[-min(window or MAX_WINDOW, MAX_WINDOW):]
    raw = (predictor.rules.pack([p.features for p in logged], warnings=False).matrix
           if logged else np.empty((0, len(predictor.schema.features))))
    prices = np.array([p.price for p in logged], dtype=np.float64)
    importance = predictor.explainer.importance if predictor.explainer is not None else None
    errors = np.array([p.price / p.actual - 1 for p in sold if p.actual], dtype=np.float64)
    report = drift(predictor.reference, predictor.schema, raw, prices, importance, errors)
    return {"model": predictor.name, "version": predictor.version,
            "since": logged[0].created_at.isoformat() if logged else None, **report}


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """`drift.json` and a self-contained `drift.html` in `folder`."""
    from estimator.reports.pages import write_pages

    return write_pages("drift", report, folder)
