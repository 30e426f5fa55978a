"""Retraining with a gate: a challenger replaces the champion only when it is better.

The new labelled houses (a file of sold houses, or the estimates that got a
sale price in the prediction log since the champion was made) are put in
the order they sold. The most recent share is the judging window: neither
model trains on it. The challenger is trained on the rest, either from
scratch with the champion's config (its training data plus the new houses)
or fine-tuned from the champion on the new houses alone, as the article
does. Both price the window and the gate (`gate.judge`) decides. The
decision, its figures and its window are stored in the challenger's
version.json and in the alias history, promoted or not; a dry run stores
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimator.config import Config
from estimator.data.sources import Dataset, feature_columns, load, prepare, read_table
from estimator.errors import DataError
from estimator.monitoring.feedback import PRICE_COLUMNS
from estimator.monitoring.gate import Decision, judge
from estimator.monitoring.store import PredictionLog
from estimator.predictor import Estimates, Predictor, load_predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import TrainProgress, save_version, train

WHEN = "sold_at"


@dataclass(frozen=True)
class Retrained:
    decision: Decision
    champion: VersionInfo
    challenger: VersionInfo | None  # None after a dry run
    promoted: bool
    details: dict[str, Any]  # the decision, the window and how the challenger was trained


def _quiet(task: str, step: int, total: int, metrics: dict[str, float]) -> None:
    """Report nothing."""


def sold_houses(champion: Predictor, *, data: str | Path | None = None,
                url: str | None = None) -> pd.DataFrame:
    """The new labelled houses, in the order they sold: the features, the target column and
    `sold_at` (NaT where unknown; file order breaks ties).

    Raises DataError for a file without a price column or for too few sales.
    """
    target = champion.schema.target.name
    if data is not None:
        frame = read_table(data, text=("id",))
        frame.columns = [str(c) for c in frame.columns]
        price = next((c for c in (target, *PRICE_COLUMNS) if c in frame.columns), None)
        if price is None:
            raise DataError(f"'{data}' has no sale price column ({target} or "
                            f"{', '.join(PRICE_COLUMNS)}).", path=str(data), column=target)
        feature_columns(frame, champion.schema, source=f"'{data}'")  # names what it lacks
        houses = frame[champion.schema.names].copy()
        houses[target] = pd.to_numeric(frame[price], errors="coerce")
        when = frame[WHEN] if WHEN in frame.columns else None
    else:
        assert url is not None
        created = datetime.fromisoformat(champion.meta["created"])
        with PredictionLog(url) as log:
            sales = [p for p in log.sold(champion.name)
                     if p.received_at is not None and p.received_at >= created]
        houses = pd.DataFrame([{n: p.features.get(n) for n in champion.schema.names}
                               for p in sales], columns=champion.schema.names)
        houses[target] = [p.actual for p in sales]
        when = pd.Series([p.sold_at or p.received_at for p in sales], dtype=object)
    houses[WHEN] = (pd.NaT if when is None else
                    pd.to_datetime(when, utc=True, errors="coerce").set_axis(houses.index))
    return houses.sort_values(WHEN, kind="stable", na_position="first").reset_index(drop=True)


def _dataset(champion: Predictor, config: Config, new: pd.DataFrame,
             fine_tune: bool) -> Dataset:
    """The challenger's rows: the new houses, after the champion's own for a fresh fit."""
    target = champion.schema.target.name
    names = champion.schema.names
    frame = new[[*names, target]]
    base: dict[str, Any] | None = None
    if not fine_tune:
        original = load(config.data)
        base = original.fingerprint
        old = original.frame[names].assign(**{target: original.target})
        frame = pd.concat([old, frame], ignore_index=True)
    descriptions = {f.name: f.description for f in champion.schema.features if f.description}
    feats, y, schema, dropped = prepare(frame, target, names, descriptions)
    return Dataset(frame=feats, target=y, schema=schema, dropped_rows=dropped,
                   fingerprint={"source": "retrain", "base": base, "new_rows": len(new),
                                "rows": len(frame)})


def _estimates(predictor: Predictor, window: pd.DataFrame) -> tuple[Estimates, np.ndarray]:
    """The predictor's estimates of the window, and which rows it could price."""
    estimates, houses = predictor.predict_columns(feature_columns(window, predictor.schema))
    ok = np.ones(len(window), dtype=bool)
    ok[list(houses.errors)] = False
    return estimates, ok


def _take(e: Estimates, rows: np.ndarray) -> Estimates:
    return Estimates(price=e.price[rows], lower=None if e.lower is None else e.lower[rows],
                     upper=None if e.upper is None else e.upper[rows])


def retrain(model: str, *, data: str | Path | None = None, url: str | None = None,
            fine_tune: bool = False, dry_run: bool = False,
            registry: str | Path | None = None, window: float | None = None,
            confidence: float | None = None, progress: TrainProgress = _quiet) -> Retrained:
    """Train a challenger for `model` on new sales and promote it to `production` only when
    the gate says it is better; `data` is a file of sold houses, else the log at `url`.

    Raises DataError when there are too few new sales to train and judge,
    ModelNotFoundError for an unknown model, DatabaseError when the log
    cannot be read.
    """
    if (data is None) == (url is None):
        raise DataError("Give new sold houses: a file (--data) or the prediction log "
                        "(--from-feedback), one of them.")
    reg = Registry(registry)
    info = reg.resolve(model)
    champion = load_predictor(info.path)
    config = Config.model_validate_json((info.path / "config.json").read_text())
    rules = config.retrain.model_copy(update={k: v for k, v in
                                              {"window": window, "confidence": confidence}.items()
                                              if v is not None})
    new = sold_houses(champion, data=data, url=url)
    target = champion.schema.target.name
    new = new[new[target].notna()].reset_index(drop=True)
    judged = max(rules.min_window, round(len(new) * rules.window))
    if len(new) - judged < 20:
        raise DataError(f"Only {len(new)} new sold houses of {info.ref}: retraining needs at "
                        f"least {judged + 20} ({judged} to judge on, 20 to learn from).")
    learn, recent = new.iloc[:-judged], new.iloc[-judged:].reset_index(drop=True)
    config = config.model_copy(update={"pretrained": info.ref if fine_tune else None})
    result = train(config, registry=reg, save=False, progress=progress,
                   dataset=_dataset(champion, config, learn, fine_tune))
    challenger = result.predictor
    old, old_ok = _estimates(champion, recent)
    fresh, fresh_ok = _estimates(challenger, recent)
    rows = np.flatnonzero(old_ok & fresh_ok)
    level = challenger.calibration.level if challenger.calibration is not None else None
    decision = judge(recent[target].to_numpy(dtype=float)[rows], _take(old, rows),
                     _take(fresh, rows), confidence=rules.confidence, level=level,
                     resamples=rules.resamples, seed=config.seed)
    sold = recent[WHEN].dropna()
    details = {**decision.to_dict(), "champion_version": info.version,
               "how": "fine-tuned from the champion" if fine_tune else "from scratch",
               "source": str(data) if data is not None else "prediction log",
               "trained_on_new": len(learn), "window": {
                   "rows": len(recent), "unpriced": len(recent) - len(rows),
                   "from": sold.min().isoformat() if len(sold) else None,
                   "to": sold.max().isoformat() if len(sold) else None}}
    if dry_run:
        return Retrained(decision=decision, champion=info, challenger=None, promoted=False,
                         details=details)
    verdict = "promoted" if decision.promote else "not promoted"
    version = save_version(reg, config, result,
                           annotate=lambda folder: {"retrain": details},
                           reason=f"retrain: {verdict}: {decision.reason}", details=details)
    if decision.promote:
        reg.promote(version.ref, "production", reason=f"retrain: {decision.reason}",
                    details=details)
    return Retrained(decision=decision, champion=info, challenger=version,
                     promoted=decision.promote, details=details)

