"""The article's satisficing rule, on real models with measured latencies."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from estimator import config
from estimator.cli import main
from estimator.predictor import Predictor
from estimator.registry import Registry
from estimator.selection import SelectionResult, choose, select

# A big forest of deep trees: slower to call than a linear model, and more accurate.
SLOW_GBM = {"label": "slow-gbm", "model": {"family": "gbm", "n_estimators": 1500,
                                           "max_depth": 8, "early_stopping_rounds": None}}


@pytest.fixture(scope="module")
def selected(tmp_path_factory: pytest.TempPathFactory) -> SelectionResult:
    cfg = config.validate({"name": "chosen", "selection": {
        "candidates": ["linear", SLOW_GBM], "cv": 3, "latency_ms": 1e6}})
    return select(cfg, registry=Registry(tmp_path_factory.mktemp("models")))


def _row(result: SelectionResult, label: str) -> dict[str, Any]:
    return next(r for r in result.rows if r["candidate"] == label)


def test_without_a_binding_limit_the_best_metric_wins(selected: SelectionResult) -> None:
    linear, gbm = _row(selected, "linear"), _row(selected, "slow-gbm")
    assert gbm["cv"]["mae"]["mean"] < linear["cv"]["mae"]["mean"]
    assert selected.chosen_label == "slow-gbm"
    assert [r["chosen"] for r in selected.rows] == [False, True]
    assert all(r["within_limit"] for r in selected.rows)
    for row in selected.rows:
        lat = row["latency_ms"]
        assert lat["calls"] == 1000 and 0 < lat["p50"] <= lat["p99"]


def test_a_limit_between_the_latencies_picks_the_faster_model(selected: SelectionResult) -> None:
    # The limit is set from the measured latencies, so the test holds on a noisy machine: on
    # a quiet one the linear model is the fast one, and the better, slower forest is refused.
    by_speed = sorted(range(2), key=lambda i: selected.rows[i]["latency_ms"]["p99"])
    fast, slow = (selected.rows[i]["latency_ms"]["p99"] for i in by_speed)
    assert choose(selected.rows, "mae", (fast + slow) / 2) == by_speed[0]
    assert choose(selected.rows, "mae", slow) == 1  # both fit: the better metric wins
    assert choose(selected.rows, "mae", fast * 0.99) is None


def test_r2_is_maximised(selected: SelectionResult) -> None:
    best_r2 = max(range(2), key=lambda i: selected.rows[i]["cv"]["r2"]["mean"])
    assert choose(selected.rows, "r2", 1e6) == best_r2


def test_the_choice_is_registered_with_the_table(selected: SelectionResult) -> None:
    version = selected.version
    assert version is not None and version.name == "chosen"
    assert version.meta["family"] == "gbm"
    meta = version.meta["selection"]
    assert meta["chosen"] == "slow-gbm" and meta["latency_ms"] == 1e6 and meta["metric"] == "mae"
    assert [c["candidate"] for c in meta["candidates"]] == ["linear", "slow-gbm"]
    table = json.loads((version.path / "selection.json").read_text())
    assert table["candidates"] == json.loads(json.dumps(selected.rows))
    with (version.path / "selection.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["candidate"] for r in rows] == ["linear", "slow-gbm"]
    assert {"selection.json", "selection.csv"} <= set(version.meta["files"])
    served = Predictor.load(version.path)
    row = served.schema.example_row()
    assert float(served.predict_rows([row])[0]) > 0
    assert version.meta["metrics"]["test"] == selected.metrics["test"]


def test_select_command_prints_the_table_and_refuses_an_impossible_limit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "select.yaml"
    conf.write_text("name: picky\nselection: {candidates: [linear], cv: 3, calls: 50}\n")
    base = ["select", "--conf", str(conf), "--registry", str(tmp_path / "models"), "--quiet"]
    assert main([*base, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["chosen"] == "linear" and out["model"].startswith("picky@v1-")
    rc = main([*base, "--set", "selection.latency_ms=0.000001"])
    captured = capsys.readouterr()
    assert rc == 2
    assert "linear" in captured.out
    assert captured.err.startswith("error: No candidate predicts one house within 1e-06 ms")
    assert captured.err.count("\n") == 1
    assert [v.version for v in Registry(tmp_path / "models").versions("picky")] == [
        out["model"].split("@")[1]]


def test_candidates_are_checked_like_any_config() -> None:
    with pytest.raises(config.ConfigError, match=r"selection\.candidates\.1\.model"):
        config.validate({"selection": {"candidates": ["linear", "forest"]}})
    with pytest.raises(config.ConfigError, match=r"selection\.latency_ms"):
        config.validate({"selection": {"latency_ms": 0}})
