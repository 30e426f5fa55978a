"""Training: from a config to a registered, evaluated model version.

`train(config)` is the whole stage as one function a notebook can call:
load and check the data, split it, fit the preprocessing on the training
rows only, fit the model family, evaluate in the user's units, optionally
cross-validate, and write an immutable version into the registry.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from estimator.config import Config
from estimator.data.sources import Dataset, feature_columns, load
from estimator.errors import DataError, SchemaMismatchError
from estimator.evaluation import cross_validate, out_of_fold, regression_metrics, valuation
from estimator.explain import Explainer
from estimator.features import FloatArray, Preprocessor
from estimator.intervals import CALIBRATION_FILE, Calibration, coverage
from estimator.models import Curves, fit_model
from estimator.predictor import (
    MODEL_DIR,
    PREPROCESSING_FILE,
    SCHEMA_FILE,
    Predictor,
    file_digests,
    load_predictor,
)
from estimator.profile import REFERENCE_FILE, Reference
from estimator.registry import Registry, VersionInfo
from estimator.schema import Schema
from estimator.validation import HouseRules

# (task, step, total, metrics): "epoch", "round" or "fold" progress for a UI.
TrainProgress = Callable[[str, int, int, dict[str, float]], None]


def _quiet(task: str, step: int, total: int, metrics: dict[str, float]) -> None:
    """Report nothing."""


@dataclass
class TrainResult:
    predictor: Predictor
    metrics: dict[str, Any]
    curves: Curves
    dataset: Dataset
    parent: Predictor | None = None
    version: VersionInfo | None = None
    notes: list[str] = field(default_factory=list)


def raw_matrix(schema: Schema, dataset: Dataset) -> FloatArray:
    """The dataset checked and packed by the same rules the service applies to requests.

    Raises DataError for the first row that does not fit the schema (new data
    for a fine-tune, say).
    """
    houses = HouseRules(schema).columns(feature_columns(dataset.frame, schema))
    if houses.errors:
        first = houses.errors[min(houses.errors)]
        raise DataError(f"The data does not fit the model's schema: {first.message}.",
                        column=first.field)
    return houses.matrix


def merge_schema(parent: Schema, new: Schema) -> Schema:
    """The new data's schema, keeping the parent's category order so that codes stay valid.

    Raises SchemaMismatchError naming missing and extra columns.
    """
    missing = [n for n in parent.names if n not in new.names]
    extra = [n for n in new.names if n not in parent.names]
    if missing or extra:
        raise SchemaMismatchError(missing=missing, extra=extra)
    feats = []
    for old in parent.features:
        cur = new.feature(old.name)
        if (old.kind == "categorical") != (cur.kind == "categorical"):
            raise DataError(f"Column '{old.name}' was {old.kind} for the parent model but is "
                            f"{cur.kind} in the new data.", column=old.name)
        if old.kind == "categorical":
            cats = {c: cur.categories.get(c, 0) for c in old.categories}
            cats.update({c: n for c, n in cur.categories.items() if c not in cats})
            cur = type(cur)(**{**cur.__dict__, "categories": cats})
        feats.append(cur)
    return Schema(features=tuple(feats), target=new.target, example=new.example)


def split_indices(n: int, test: float, validation: float, seed: int) -> tuple[Any, Any, Any]:
    """Train, validation and test row indices; validation is a share of all rows."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    rest, test_idx = train_test_split(idx, test_size=test, random_state=seed)
    if validation <= 0:
        return rest, np.array([], dtype=int), test_idx
    train_idx, val_idx = train_test_split(rest, test_size=validation / (1 - test),
                                          random_state=seed)
    return train_idx, val_idx, test_idx


def fit(config: Config, schema: Schema, raw: FloatArray, y: FloatArray, train_idx: Any,
        val_idx: Any, *, parent: Predictor | None = None,
        progress: TrainProgress = _quiet) -> tuple[Predictor, Curves]:
    """Fit preprocessing (unless inherited from `parent`) and the model on the given rows."""
    if parent is not None:
        pre = parent.preprocessor
    else:
        pp = config.preprocessing
        pre = Preprocessor(**pp.model_dump())
        pre.fit(schema, raw[train_idx])
    if pre.log_target and (y <= -1).any():
        raise DataError("preprocessing.log_target needs target values above -1.")
    x_train = pre.transform(raw[train_idx])
    y_train = pre.transform_target(y[train_idx])
    x_val = pre.transform(raw[val_idx]) if len(val_idx) else None
    y_val = pre.transform_target(y[val_idx]) if len(val_idx) else None
    task = "round" if config.model.family == "gbm" else "epoch"
    model, curves = fit_model(
        config, x_train, y_train, x_val, y_val,
        init=parent.model if parent is not None else None, to_price=pre.inverse_target,
        progress=lambda s, t, m: progress(task, s, t, m))
    return Predictor(schema=schema, preprocessor=pre, model=model, meta={}), curves


def calibrate(config: Config, predictor: Predictor, raw: FloatArray, y: FloatArray,
              rows: Any, parent: Predictor | None = None) -> Calibration:
    """The conformal calibration of a fitted predictor from held-out residuals of `rows`."""
    assert config.intervals is not None
    pre = predictor.preprocessor
    held_out = out_of_fold(config, predictor.schema, raw, y, rows, config.intervals.folds,
                           parent=parent)
    return Calibration.fit(pre.transform(raw[rows]), pre.transform_target(y[rows]) - held_out,
                           held_out, level=config.intervals.level, bands=config.intervals.bands)


def measure_ranges(predictor: Predictor, raw: FloatArray, y: FloatArray) -> dict[str, Any]:
    """Coverage and mean width of the ranges on rows the model never saw (the test split)."""
    assert predictor.calibration is not None
    estimates = predictor.estimate(raw)
    assert estimates.lower is not None and estimates.upper is not None
    edges = predictor.preprocessor.inverse_target(np.asarray(predictor.calibration.edges))
    return {"level": predictor.calibration.level,
            **coverage(y, estimates.lower, estimates.upper, estimates.price, edges.tolist())}


def _libraries(family: str) -> dict[str, str]:
    names = ["estimator", "numpy", "pandas", "scikit-learn", "xgboost-cpu", "xgboost"]
    if family == "mlp":
        names.append("torch")
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


# Writes extra files into a version folder before it is published; returns extra metadata.
Annotate = Callable[[Path], dict[str, Any]]


def save_version(registry: Registry, config: Config, result: TrainResult,
                 annotate: Annotate | None = None, reason: str = "trained",
                 details: dict[str, Any] | None = None) -> VersionInfo:
    """Write the predictor and its records as a new registry version.

    `annotate` (tuning, selection, retraining) adds its own files and metadata;
    they are checksummed and published with the rest. `reason` and `details`
    go into the alias history with the move of `latest`.
    """
    dataset, parent = result.dataset, result.parent
    from estimator.reports.plots import learning_curves_png

    def write(folder: Path) -> dict[str, Any]:
        pred = result.predictor
        (folder / MODEL_DIR).mkdir()
        pred.model.save(folder / MODEL_DIR)
        (folder / SCHEMA_FILE).write_text(json.dumps(pred.schema.to_dict(), indent=2))
        (folder / PREPROCESSING_FILE).write_text(json.dumps(pred.preprocessor.to_dict(),
                                                            indent=2))
        (folder / "curves.json").write_text(json.dumps(result.curves, indent=2))
        (folder / "config.json").write_text(json.dumps(config.model_dump(mode="json"),
                                                       indent=2))
        (folder / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
        if pred.calibration is not None:
            (folder / CALIBRATION_FILE).write_text(json.dumps(pred.calibration.to_dict()))
        if pred.explainer is not None:
            pred.explainer.save(folder)
        if pred.reference is not None:
            (folder / REFERENCE_FILE).write_text(json.dumps(pred.reference.to_dict()))
        learning_curves_png(result.curves, folder / "curves.png", title=config.name)
        extra = annotate(folder) if annotate is not None else {}
        return {
            "family": config.model.family,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "metrics": result.metrics,
            "data": {**dataset.fingerprint, "rows_used": dataset.rows,
                     "rows_dropped_missing_target": dataset.dropped_rows},
            "parent": parent.meta.get("name", "") + "@" + parent.version if parent else None,
            "libraries": _libraries(config.model.family),
            "target": pred.schema.target.name,
            "features": pred.schema.names,
            **extra,
            "files": file_digests(folder),
        }

    return registry.create_version(config.name, write, reason=reason, details=details)


def train(config: Config, *, registry: Registry | str | Path | None = None,
          config_dir: Path | None = None, cv: int | None = None, repeats: int | None = None,
          save: bool = True, progress: TrainProgress = _quiet,
          annotate: Annotate | None = None, dataset: Dataset | None = None) -> TrainResult:
    """Train the model a config describes and register it as a new version.

    `dataset` replaces the rows the config points at (retraining on new sales).

    Raises DataError or SchemaMismatchError for unusable data, ConfigError
    for a fine-tune whose architecture differs, ModelNotFoundError for an
    unknown `pretrained` reference.
    """
    reg = registry if isinstance(registry, Registry) else Registry(registry)
    dataset = dataset if dataset is not None else load(config.data, base_dir=config_dir)
    parent = load_predictor(config.pretrained, reg.root) if config.pretrained else None
    schema = dataset.schema
    if parent is not None:
        schema = merge_schema(parent.schema, dataset.schema)
        if parent.meta.get("family") != config.model.family:
            from estimator.errors import ConfigError

            raise ConfigError(f"The pretrained model is a {parent.meta.get('family')} model but "
                              f"the config trains a {config.model.family}.", key="model.family")
    raw = raw_matrix(schema, dataset)
    y = dataset.target
    sp = config.split
    train_idx, val_idx, test_idx = split_indices(len(y), sp.test, sp.validation, sp.seed)
    predictor, curves = fit(config, schema, raw, y, train_idx, val_idx, parent=parent,
                            progress=progress)
    tested, y_test = predictor.predict_matrix(raw[test_idx]), y[test_idx]
    metrics: dict[str, Any] = {
        "test": regression_metrics(y_test, tested),
        "train": regression_metrics(y[train_idx], predictor.predict_matrix(raw[train_idx])),
        "rows": {"train": len(train_idx), "validation": len(val_idx), "test": len(test_idx)},
    }
    if len(val_idx):
        metrics["validation"] = regression_metrics(y[val_idx],
                                                   predictor.predict_matrix(raw[val_idx]))
    predictor.explainer = Explainer.fit(schema, predictor.preprocessor, predictor.model,
                                        raw[train_idx], y[train_idx])
    predictor.reference = Reference.fit(
        schema, raw[train_idx], predictor.predict_matrix(raw[train_idx]),
        errors=tested[y_test != 0] / y_test[y_test != 0] - 1)
    if config.intervals is not None:
        progress("ranges", 0, 1, {})
        predictor.calibration = calibrate(config, predictor, raw, y,
                                          np.sort(np.concatenate([train_idx, val_idx])), parent)
        metrics["intervals"] = measure_ranges(predictor, raw[test_idx], y[test_idx])
        progress("ranges", 1, 1, {"coverage": metrics["intervals"]["coverage"]})
    held = predictor.estimate(raw[test_idx])
    metrics["valuation"] = valuation(y[test_idx], held.price, held.lower, held.upper)
    folds = cv or sp.cv
    if folds:
        def fold_progress(fold: int, task: str, step: int, total: int,
                          values: dict[str, float]) -> None:
            if task == "fold":
                progress(task, step, total, values)

        metrics["cv"] = cross_validate(config, schema, raw, y, np.arange(len(y)), folds,
                                       repeats or sp.repeats, progress=fold_progress)
    result = TrainResult(predictor=predictor, metrics=metrics, curves=curves, dataset=dataset,
                         parent=parent, notes=list(dataset.notes))
    if save:
        result.version = save_version(reg, config, result, annotate)
        predictor.meta = result.version.meta
    return result
