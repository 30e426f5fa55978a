"""Choosing a model by the article's satisficing rule.

One number is optimised (the cross-validated metric) subject to a
constraint that only has to be met (single-house latency under a limit):
among the candidates whose p99 latency fits, the best metric wins. Each
candidate is cross-validated on the training split only, trained, written
as a version folder and read back with the same `Predictor` the service
uses, and timed over many one-house calls of `predict_rows`. The chosen
model is registered with the comparison table in its folder.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from estimator.config import CandidateConfig, Config, SelectionConfig
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import TrainResult, save_version, train
from estimator.tuning.objective import TrainingRows

# (candidate label, what is happening now)
SelectProgress = Callable[[str, str], None]
TABLE_FILES = ("selection.json", "selection.csv")


def _quiet(label: str, stage: str) -> None:
    """Report nothing."""


@dataclass
class SelectionResult:
    metric: str
    limit_ms: float
    rows: list[dict[str, Any]]
    chosen: int | None = None
    version: VersionInfo | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    # Each candidate as trained on the training split, for a closer look (curves, weights).
    trained: list[TrainResult] = field(default_factory=list, repr=False)

    @property
    def chosen_label(self) -> str | None:
        return None if self.chosen is None else str(self.rows[self.chosen]["candidate"])


def measure_latency(predictor: Predictor, calls: int = 1000) -> dict[str, float]:
    """Milliseconds per one-house `predict_rows` call, after a short warm-up."""
    row = predictor.schema.example_row()
    for _ in range(min(50, calls)):
        predictor.predict_rows([row])
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        predictor.predict_rows([row])
        times[i] = (time.perf_counter_ns() - start) / 1e6
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
            "mean": float(times.mean()), "calls": calls}


def choose(rows: list[dict[str, Any]], metric: str, limit_ms: float) -> int | None:
    """Index of the best cross-validated `metric` among rows whose p99 fits `limit_ms`."""
    fitting = [i for i, r in enumerate(rows) if r["latency_ms"]["p99"] <= limit_ms]
    if not fitting:
        return None
    sign = -1.0 if metric == "r2" else 1.0
    return min(fitting, key=lambda i: sign * float(rows[i]["cv"][metric]["mean"]))


def candidate_config(config: Config, candidate: CandidateConfig) -> Config:
    """The config with the candidate's model (and training, preprocessing) in place."""
    update: dict[str, Any] = {"model": candidate.model}
    if candidate.training is not None:
        update["training"] = candidate.training
    if candidate.preprocessing is not None:
        update["preprocessing"] = candidate.preprocessing
    return config.model_copy(update=update)


def _labels(candidates: list[CandidateConfig]) -> list[str]:
    labels: list[str] = []
    for c in candidates:
        base = c.label or c.model.family
        label, n = base, 2
        while label in labels:
            label, n = f"{base}-{n}", n + 1
        labels.append(label)
    return labels


def select(config: Config, *, registry: Registry | str | Path | None = None,
           config_dir: Path | None = None, register: bool = True,
           progress: SelectProgress = _quiet) -> SelectionResult:
    """Train and measure every candidate, apply the rule, register the chosen one.

    When no candidate fits the limit, nothing is registered and `chosen` is
    None. Raises what training raises for bad data or configs.
    """
    sc = config.selection or SelectionConfig()
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    data = TrainingRows.load(config, config_dir)
    rows: list[dict[str, Any]] = []
    trained: list[tuple[Config, TrainResult]] = []
    with tempfile.TemporaryDirectory(prefix="estimator-select-") as tmp:
        scratch = Registry(tmp)
        for label, candidate in zip(_labels(sc.candidates), sc.candidates, strict=True):
            cfg = candidate_config(config, candidate)
            progress(label, f"cross-validating ({sc.cv} folds x {sc.repeats})")
            cv = data.cross_validate(cfg, sc.cv, sc.repeats)
            progress(label, "training on the training split")
            result = train(cfg, registry=scratch, config_dir=config_dir)
            assert result.version is not None
            progress(label, f"timing {sc.calls} one-house predictions")
            latency = measure_latency(Predictor.load(result.version.path), sc.calls)
            rows.append({"candidate": label, "family": cfg.model.family,
                         "cv": {m: cv[m] for m in ("mae", "rmse", "r2", "mape")},
                         "test": result.metrics["test"], "latency_ms": latency})
            trained.append((cfg, result))
    chosen = choose(rows, sc.metric, sc.latency_ms)
    for i, row in enumerate(rows):
        row["within_limit"] = row["latency_ms"]["p99"] <= sc.latency_ms
        row["chosen"] = i == chosen
    out = SelectionResult(metric=sc.metric, limit_ms=sc.latency_ms, rows=rows, chosen=chosen,
                          trained=[r for _, r in trained])
    if chosen is None or not register:
        return out
    cfg, result = trained[chosen]
    rule = {"metric": sc.metric, "latency_ms": sc.latency_ms, "percentile": 99,
            "calls": sc.calls, "cv": {"splits": sc.cv, "repeats": sc.repeats},
            "chosen": rows[chosen]["candidate"]}

    def annotate(folder: Path) -> dict[str, Any]:
        write_table(rows, rule, folder)
        return {"selection": {**rule, "candidates": [
            {"candidate": r["candidate"], "family": r["family"],
             "cv": r["cv"][sc.metric]["mean"], "p99_ms": r["latency_ms"]["p99"]}
            for r in rows]}}

    out.version = save_version(reg, cfg, result, annotate)
    out.metrics = result.metrics
    return out


def flat_rows(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The comparison table as flat records: one per candidate, numbers rounded for reading."""
    return [{
        "candidate": r["candidate"], "family": r["family"],
        f"cv_{metric}": round(r["cv"][metric]["mean"], 6),
        f"cv_{metric}_std": round(r["cv"][metric]["std"], 6),
        "test_mae": round(r["test"]["mae"], 6), "test_rmse": round(r["test"]["rmse"], 6),
        "test_r2": round(r["test"]["r2"], 6),
        "p50_ms": round(r["latency_ms"]["p50"], 4), "p99_ms": round(r["latency_ms"]["p99"], 4),
        "within_limit": r.get("within_limit"), "chosen": r.get("chosen"),
    } for r in rows]


def write_table(rows: list[dict[str, Any]], rule: dict[str, Any], folder: Path) -> None:
    """selection.json (the rule and every measurement) and selection.csv (the table)."""
    (folder / TABLE_FILES[0]).write_text(json.dumps({"rule": rule, "candidates": rows},
                                                    indent=2))
    flat = flat_rows(rows, str(rule["metric"]))
    with (folder / TABLE_FILES[1]).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
