"""Realized accuracy: how far the estimates were from what the houses sold for.

The figures buyers judge a valuation by (the Zestimate reports them so): the
median absolute percentage error, the share of estimates within 5, 10 and
20 % of the sale price, and how often the range held the price. They are
computed from the estimates that got a sale price, by month of sale and by
version, beside the same figures measured on the test split when each
version was trained (`metrics.json`, `valuation`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from estimator.evaluation import valuation
from estimator.monitoring.store import Prediction, PredictionLog
from estimator.registry import Registry, split_ref


def _figures(sold: list[Prediction]) -> dict[str, Any]:
    nan = float("nan")
    return valuation(np.array([p.actual for p in sold], dtype=float),
                     np.array([p.price for p in sold]),
                     np.array([nan if p.lower is None else p.lower for p in sold]),
                     np.array([nan if p.upper is None else p.upper for p in sold]))


def _month(p: Prediction) -> str:
    when: datetime = p.sold_at or p.received_at or p.created_at
    return when.strftime("%Y-%m")


def accuracy(url: str, model: str, registry: str | Path | None = None,
             since: datetime | None = None) -> dict[str, Any]:
    """The realized figures of a model, overall, by month of sale and by version.

    Raises DatabaseError when the log cannot be read, RegistryError for a bad name.
    """
    name, _ = split_ref(model)
    with PredictionLog(url) as log:
        sold = log.sold(name, since)
    trained = {v.version: v.meta.get("metrics", {}).get("valuation")
               for v in Registry(registry).versions(name)}
    months: dict[str, list[Prediction]] = defaultdict(list)
    versions: dict[str, list[Prediction]] = defaultdict(list)
    for p in sold:
        months[_month(p)].append(p)
        versions[p.version].append(p)
    return {
        "model": name,
        "overall": _figures(sold),
        "months": [{"month": m, **_figures(rows)} for m, rows in sorted(months.items())],
        "versions": [{"version": v, "realized": _figures(versions[v]),
                      "test_split": trained.get(v)}
                     for v in sorted(set(versions) | {k for k, t in trained.items() if t})],
    }


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """`accuracy.json` and a self-contained `accuracy.html` in `folder`."""
    from estimator.reports.pages import write_pages

    return write_pages("accuracy", report, folder)
