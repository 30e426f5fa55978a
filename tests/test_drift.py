"""Drift that means something: no false alarms at any window size, a real shift flagged;
no verdict on a window too small to show either."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator import config
from estimator.data.sources import load
from estimator.predictor import Predictor
from estimator.profile import drift
from estimator.registry import Registry, VersionInfo
from estimator.training import raw_matrix, split_indices
from tests.conftest import CALIFORNIA
from tests.serving_support import running


@pytest.fixture(scope="module")
def california(california_gbm: VersionInfo) -> tuple[Predictor, np.ndarray, np.ndarray,
                                                       np.ndarray]:
    """The version, the whole data as a raw matrix, the validation rows it never fitted
    (drawn from the training distribution, and not in the reference profile), the prices."""
    predictor = Predictor.load(california_gbm.path)
    cfg = config.validate(json.loads((california_gbm.path / "config.json").read_text()))
    dataset = load(cfg.data)
    raw = raw_matrix(predictor.schema, dataset)
    _, validation, _ = split_indices(len(dataset.target), cfg.split.test, cfg.split.validation,
                                     cfg.split.seed)
    return predictor, raw, validation, dataset.target


@pytest.mark.parametrize("rows", [200, 2000, 20_000])
def test_a_window_of_the_training_distribution_raises_no_alarm_at_any_size(
        california: tuple[Predictor, np.ndarray, np.ndarray, np.ndarray], rows: int) -> None:
    predictor, raw, validation, _ = california
    assert predictor.reference is not None
    rng = np.random.default_rng(rows)
    alarms = 0
    windows = 20
    for _ in range(windows):
        window = raw[rng.choice(validation, rows)]
        report = drift(predictor.reference, predictor.schema, window,
                       predictor.predict_matrix(window))
        alarms += bool(report["drifted"] or report["prediction"]["drifted"])
    assert alarms <= 0.05 * windows, f"{alarms} false alarms in {windows} windows of {rows}"


@pytest.mark.parametrize("rows", [1, 20, 100])
def test_a_window_too_small_to_judge_gets_figures_but_no_verdict(
        california: tuple[Predictor, np.ndarray, np.ndarray, np.ndarray], rows: int) -> None:
    """Without the minimum, every one of these windows of training houses raised alarms
    (a few rows cannot fill ten bins); inland houses only are no more judged."""
    predictor, raw, validation, _ = california
    assert predictor.reference is not None
    ocean = predictor.schema.names.index("ocean_proximity")
    inland = np.flatnonzero(raw[:, ocean] == list(
        predictor.schema.feature("ocean_proximity").categories).index("INLAND"))
    rng = np.random.default_rng(rows)
    for pool in (validation, inland):
        window = raw[rng.choice(pool, rows)]
        report = drift(predictor.reference, predictor.schema, window,
                       predictor.predict_matrix(window))
        assert report["rows"] == rows < report["min_rows"] and not report["judged"]
        assert report["drifted"] == [] and not report["prediction"]["drifted"]
        assert all(f["psi"] is not None for f in report["features"])
    assert max(f["psi"] for f in report["features"]) > 0.1  # the figures still show it


@pytest.mark.parametrize("rows", [200, 2000])
def test_a_real_shift_is_flagged_and_ranked(
        california: tuple[Predictor, np.ndarray, np.ndarray, np.ndarray], rows: int) -> None:
    predictor, raw, _, _ = california
    assert predictor.reference is not None and predictor.explainer is not None
    ocean = predictor.schema.names.index("ocean_proximity")
    inland = list(predictor.schema.feature("ocean_proximity").categories).index("INLAND")
    window = raw[np.random.default_rng(1).choice(np.flatnonzero(raw[:, ocean] == inland), rows)]
    report = drift(predictor.reference, predictor.schema, window,
                   predictor.predict_matrix(window), predictor.explainer.importance)
    assert report["judged"] and {"ocean_proximity", "longitude"} <= set(report["drifted"])
    assert report["prediction"]["drifted"]
    scores = [f["score"] for f in report["features"]]
    assert scores == sorted(scores, reverse=True)


def test_a_market_that_moved_under_unchanged_houses_shows_in_the_errors(
        california: tuple[Predictor, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The same kind of houses selling 25 % dearer: no feature drifts, the errors do."""
    predictor, raw, validation, price = california
    assert predictor.reference is not None and predictor.reference.residual_edges
    rows = np.random.default_rng(5).choice(validation, 1000)
    estimate = predictor.predict_matrix(raw[rows])
    for rise, moved in ((1.0, False), (1.25, True)):
        report = drift(predictor.reference, predictor.schema, raw[rows], estimate,
                       errors=estimate / (price[rows] * rise) - 1)
        assert report["drifted"] == [] and not report["prediction"]["drifted"]
        assert report["residuals"]["rows"] == 1000
        assert report["residuals"]["drifted"] is moved, (rise, report["residuals"])


def test_the_service_measures_the_drift_of_what_it_served(
        session_registry: Registry, california_gbm: VersionInfo, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    frame = pd.read_csv(CALIFORNIA)
    inland = frame[frame["ocean_proximity"] == "INLAND"].drop(columns=["median_house_value"])
    houses = [{k: v for k, v in h.items() if not pd.isna(v)}
              for h in inland.sample(300, random_state=2).to_dict("records")]
    with running(session_registry.root, california_gbm.ref, database_url=url) as client:
        assert client.post("/v2/predict", json={"instances": houses[:2]}).status_code == 200
        first = client.get("/v1/monitoring/drift").json()  # just deployed: two estimates
        assert first["rows"] == 2 and first["drifted"] == []
        assert 'estimator_drift_alarm{feature="ocean_proximity"} 0.0' in client.get(
            "/metrics").text
        assert client.post("/v2/predict", json={"instances": houses}).status_code == 200
        report = client.get("/v1/monitoring/drift?window=300").json()
        assert report["rows"] == 300 and "ocean_proximity" in report["drifted"]
        assert report["version"] == california_gbm.version
        text = client.get("/metrics").text
        assert 'estimator_drift_alarm{feature="ocean_proximity"} 1.0' in text
    run = subprocess.run([sys.executable, "-m", "estimator", "monitor", "drift", "--model",
                          california_gbm.ref, "--url", url, "--window", "300", "--registry",
                          str(session_registry.root), "--out", str(tmp_path / "report")],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "300 estimates" in run.stdout and "ocean_proximity" in run.stdout
    saved = json.loads((tmp_path / "report" / "drift.json").read_text())
    assert "ocean_proximity" in saved["drifted"]
    assert "drifted" in (tmp_path / "report" / "drift.html").read_text()
