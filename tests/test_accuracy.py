"""Realized accuracy, the way buyers judge a valuation: from sale prices that came back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator.data import boston
from estimator.evaluation import valuation
from estimator.registry import Registry, VersionInfo
from tests.serving_support import TOKEN, running


def test_valuation_figures_on_known_numbers() -> None:
    actual = np.array([100.0, 200.0, 300.0, 400.0])
    estimate = np.array([104.0, 180.0, 330.0, 400.0])  # errors 4 %, 10 %, 10 %, 0 %
    figures = valuation(actual, estimate, actual - 5, actual + 5)
    assert figures == {"rows": 4, "median_ape": 7.0, "within_5": 50.0, "within_10": 100.0,
                       "within_20": 100.0, "coverage": 100.0}
    assert valuation(actual, estimate)["coverage"] is None
    assert valuation(np.array([]), np.array([]))["median_ape"] is None


def test_sales_that_came_back_give_the_realized_accuracy(
        session_registry: Registry, boston_gbm: VersionInfo, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    frame = pd.read_csv(boston.csv_path(), header=None,
                        names=[*boston.COLUMNS, boston.TARGET]).sample(30, random_state=4)
    houses = frame.drop(columns=[boston.TARGET]).to_dict("records")
    truth = frame[boston.TARGET].tolist()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with running(session_registry.root, boston_gbm.ref, database_url=url,
                 admin_token=TOKEN) as client:
        served = client.post("/v2/predict", json={"instances": houses}).json()["predictions"]
        sales = [{"id": p["id"], "price": t, "sold_at": "2026-10-15" if i < 10 else "2026-11-20"}
                 for i, (p, t) in enumerate(zip(served, truth, strict=True))]
        assert client.post("/v1/feedback", json=sales, headers=auth).json() == {"stored": 30}
        report = client.get("/v1/monitoring/accuracy").json()
    prices = np.array([p["price"] for p in served])
    expected = valuation(np.array(truth), prices, np.array([p["lower"] for p in served]),
                         np.array([p["upper"] for p in served]))
    assert report["overall"] == pytest.approx(expected)
    assert [(m["month"], m["rows"]) for m in report["months"]] == [("2026-10", 10),
                                                                   ("2026-11", 20)]
    [version] = [v for v in report["versions"] if v["version"] == boston_gbm.version]
    assert version["realized"]["rows"] == 30
    assert version["test_split"] == boston_gbm.meta["metrics"]["valuation"]
    assert 0 < version["test_split"]["median_ape"] < 50

    run = subprocess.run([sys.executable, "-m", "estimator", "monitor", "accuracy", "--model",
                          boston_gbm.name, "--url", url, "--registry", str(session_registry.root),
                          "--out", str(tmp_path / "report")], capture_output=True, text=True,
                         check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "all sales" in run.stdout and "test split" in run.stdout
    saved = json.loads((tmp_path / "report" / "accuracy.json").read_text())
    assert saved["overall"] == pytest.approx(expected)
    html = (tmp_path / "report" / "accuracy.html").read_text()
    assert "Realized accuracy: boston-gbm" in html and "2026-11" in html
