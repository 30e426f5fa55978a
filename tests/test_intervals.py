"""Price ranges: calibrated at training, measured on the held-out test split, served."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from estimator import config
from estimator.batch import predict_file
from estimator.data.sources import load
from estimator.intervals import CALIBRATION_FILE, Calibration
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import measure_ranges, raw_matrix, split_indices
from tests.serving_support import running


def held_out(version: VersionInfo) -> tuple[Predictor, Any, Any]:
    """The version, and the raw matrix and prices of the test split it never saw."""
    predictor = Predictor.load(version.path)
    cfg = config.validate(json.loads((version.path / "config.json").read_text()))
    dataset = load(cfg.data)
    raw = raw_matrix(predictor.schema, dataset)
    _, _, test = split_indices(len(dataset.target), cfg.split.test, cfg.split.validation,
                               cfg.split.seed)
    return predictor, raw[test], dataset.target[test]


def covers(report: dict[str, Any], level: float, overall: float, band: float) -> bool:
    """Whether measured coverage is within `overall` of the level, and each band within `band`."""
    return abs(report["coverage"] - level) <= overall and all(
        abs(b["coverage"] - level) <= band for b in report["bands"])


def test_ranges_hold_their_level_on_houses_the_model_never_saw(
        california_gbm: VersionInfo) -> None:
    predictor, raw, y = held_out(california_gbm)
    assert (california_gbm.path / CALIBRATION_FILE).is_file()
    report = measure_ranges(predictor, raw, y)
    assert report == california_gbm.meta["metrics"]["intervals"]  # recorded at training
    assert report["rows"] == len(y) > 4000 and len(report["bands"]) == 3
    # Each band holds about 1,400 houses: one standard error of a 90 % share is 0.8 points.
    assert covers(report, 0.9, overall=0.02, band=0.03), report
    calibration = predictor.calibration
    assert calibration is not None
    for broken in (
            dataclasses.replace(calibration, scores=[[s * 0.7 for s in b]
                                                     for b in calibration.scores]),
            dataclasses.replace(calibration, coef=[-c for c in calibration.coef]),
            dataclasses.replace(calibration, scores=[calibration.scores[0]] * 3)):
        predictor.calibration = broken
        assert not covers(measure_ranges(predictor, raw, y), 0.9, overall=0.02, band=0.03)


def test_a_range_widens_with_its_level_and_holds_the_price(california_gbm: VersionInfo) -> None:
    predictor, raw, _ = held_out(california_gbm)
    wide, narrow = predictor.estimate(raw[:200], 0.95), predictor.estimate(raw[:200], 0.5)
    assert wide.lower is not None and wide.upper is not None
    assert narrow.lower is not None and narrow.upper is not None
    assert (wide.lower <= narrow.lower).all() and (narrow.upper <= wide.upper).all()
    assert (narrow.lower < narrow.price).all() and (narrow.price < narrow.upper).all()
    assert Calibration.from_dict(predictor.calibration.to_dict()) == predictor.calibration  # type: ignore[union-attr]


def test_v2_answers_ranges_at_the_level_asked(session_registry: Registry,
                                              california_gbm: VersionInfo) -> None:
    predictor = Predictor.load(california_gbm.path)
    row = predictor.schema.example_row()
    expected = predictor.estimate(predictor.rules.rows([row]).matrix, 0.8)
    with running(session_registry.root, california_gbm.ref) as client:
        default = client.post("/v2/predict", json={"instances": [row]}).json()
        assert default["level"] == 0.9
        by_query = client.post("/v2/predict?level=0.8", json={"instances": [row]}).json()
        by_body = client.post("/v2/predict", json={"instances": [row], "level": 0.8}).json()
        for answer in (by_query, by_body):
            [p] = answer["predictions"]
            assert answer["level"] == 0.8
            assert (p["lower"], p["price"], p["upper"]) == pytest.approx(
                (expected.lower[0], expected.price[0], expected.upper[0]), rel=1e-12)  # type: ignore[index]
        assert default["predictions"][0]["upper"] > by_body["predictions"][0]["upper"]
        for refused in (client.post("/v2/predict?level=1.5", json={"instances": [row]}),
                        client.post("/v2/predict", json={"instances": [row], "level": "high"})):
            assert refused.status_code == 422
            assert refused.json()["field"] == "level"
        spec = client.get("/openapi.json").json()
        assert "lower" in spec["components"]["schemas"]["PredictionV2"]["properties"]


def test_batch_files_get_their_ranges_as_columns(california_gbm: VersionInfo,
                                                 tmp_path: Path) -> None:
    predictor = Predictor.load(california_gbm.path)
    frame = pd.read_csv(Path(__file__).parent / "data" / "california_housing.csv").head(50)
    frame.to_csv(tmp_path / "in.csv", index=False)
    predict_file(predictor, tmp_path / "in.csv", tmp_path / "out.csv", level=0.8)
    out = pd.read_csv(tmp_path / "out.csv")
    target = "median_house_value"
    assert (out[f"lower_{target}"] < out[f"predicted_{target}"]).all()
    assert (out[f"predicted_{target}"] < out[f"upper_{target}"]).all()
    rows = frame.drop(columns=[target])
    again = predictor.predict_columns({c: rows[c].where(rows[c].notna(), None).tolist()
                                       for c in predictor.schema.names}, level=0.8)[0]
    np.testing.assert_allclose(out[f"upper_{target}"], again.upper, rtol=1e-12)


def test_a_version_without_ranges_answers_without_them(tmp_path: Path) -> None:
    cfg = config.validate({"name": "plain", "model": {"family": "linear"}, "intervals": None})
    registry = Registry(tmp_path)
    from estimator.training import train

    version = train(cfg, registry=registry).version
    assert version is not None and not (version.path / CALIBRATION_FILE).exists()
    with running(registry.root, "plain") as client:
        row = Predictor.load(version.path).schema.example_row()
        answer: httpx.Response = client.post("/v2/predict", json={"instances": [row]})
        [p] = answer.json()["predictions"]
        assert "lower" not in p and answer.json()["level"] is None
