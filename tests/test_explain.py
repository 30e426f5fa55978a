"""Why this price: contributions that add up, comparables that are real training houses."""

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
from estimator.registry import Registry, VersionInfo
from estimator.training import train
from tests.serving_support import running

FAMILIES = {
    "linear": {"model": {"family": "linear"}},
    "gbm-log": {"model": {"family": "gbm", "n_estimators": 60},
                "preprocessing": {"log_target": True}},
    "mlp": {"model": {"family": "mlp", "layers": [16, 8], "activations": ["relu", "tanh"]},
            "training": {"epochs": 5}},
    "mlp-gelu-log": {"model": {"family": "mlp", "layers": [8], "activations": ["gelu"]},
                     "training": {"epochs": 3}, "preprocessing": {"log_target": True}},
    "ensemble": {"model": {"family": "ensemble", "folds": 2, "members": [
        {"family": "linear"}, {"family": "gbm", "n_estimators": 20}]}},
}


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Predictor]:
    registry = Registry(tmp_path_factory.mktemp("explain"))
    out = {}
    for name, section in FAMILIES.items():
        cfg = config.validate({"name": name, "intervals": None, **section})
        version = train(cfg, registry=registry).version
        assert version is not None
        out[name] = Predictor.load(version.path)
    return out


@pytest.mark.parametrize("family", list(FAMILIES))
def test_contributions_add_up_to_the_price(explained: dict[str, Predictor], family: str) -> None:
    predictor = explained[family]
    rows = load(config.validate({}).data).frame.sample(40, random_state=1).to_dict("records")
    raw = predictor.rules.rows(rows).matrix
    prices = predictor.predict_matrix(raw)
    for price, why in zip(prices, predictor.explain(raw), strict=True):
        assert list(why["contributions"]) == predictor.schema.names
        total = why["base"] + sum(why["contributions"].values())
        assert total == pytest.approx(price, abs=1e-6 * max(1.0, abs(price)))
    assert len({round(w["base"], 9) for w in predictor.explain(raw)}) <= 40


def test_contributions_of_a_category_and_derived_columns_gather_on_their_features(
        california_gbm: VersionInfo) -> None:
    predictor = Predictor.load(california_gbm.path)
    rows = [predictor.schema.example_row(), predictor.schema.example_row() | {
        "ocean_proximity": "INLAND", "total_bedrooms": None}]
    raw = predictor.rules.rows(rows).matrix
    first, second = predictor.explain(raw)
    assert set(first["contributions"]) == set(predictor.schema.names)
    for why, price in zip((first, second), predictor.predict_matrix(raw), strict=True):
        assert why["base"] + sum(why["contributions"].values()) == pytest.approx(price,
                                                                                 rel=1e-9)
    assert second["contributions"]["ocean_proximity"] < first["contributions"][
        "ocean_proximity"]  # inland is cheaper than the example's <1H OCEAN


def test_comparables_are_real_training_houses(california_gbm: VersionInfo) -> None:
    predictor = Predictor.load(california_gbm.path)
    data = pd.read_csv(Path(__file__).parent / "data" / "california_housing.csv")
    house = data.drop(columns=["median_house_value"]).iloc[[123]]
    raw = predictor.rules.rows(house.where(house.notna(), None).to_dict("records")).matrix
    [why] = predictor.explain(raw)
    assert len(why["comparables"]) == 5
    distances = [c["distance"] for c in why["comparables"]]
    assert distances == sorted(distances)
    for comparable in why["comparables"]:
        same = data[list(comparable["house"])].eq(pd.Series(comparable["house"])).all(axis=1)
        matches = data.loc[same, "median_house_value"]
        assert comparable["price"] in set(matches), comparable
        for difference in comparable["differences"]:
            assert comparable["house"][difference["field"]] == difference["comparable"]


def test_v2_explains_when_asked(session_registry: Registry, boston_mlp: VersionInfo) -> None:
    predictor = Predictor.load(boston_mlp.path)
    row = predictor.schema.example_row()
    with running(session_registry.root, boston_mlp.ref) as client:
        plain = client.post("/v2/predict", json={"instances": [row]}).json()["predictions"][0]
        assert "contributions" not in plain
        answer = client.post("/v2/predict", json={"instances": [row, row | {"RM": 8.0}],
                                                  "explain": True})
        assert answer.status_code == 200, answer.text
        for p in answer.json()["predictions"]:
            assert p["base"] + sum(p["contributions"].values()) == pytest.approx(p["price"],
                                                                                 abs=1e-6)
            assert len(p["comparables"]) == 5 and p["lower"] < p["price"] < p["upper"]
        rich, poor = answer.json()["predictions"][1], answer.json()["predictions"][0]
        assert rich["contributions"]["RM"] > poor["contributions"]["RM"]


def test_the_explain_command_reads_a_file(boston_gbm: VersionInfo, session_registry: Registry,
                                          tmp_path: Path) -> None:
    frame = load(config.validate({}).data).frame.head(3).copy()
    frame["RM"] = frame["RM"].astype(object)
    frame.loc[2, "RM"] = "big"
    frame.to_csv(tmp_path / "houses.csv", index=False)
    run = subprocess.run([sys.executable, "-m", "estimator", "explain", "--model",
                          boston_gbm.ref, "--input", str(tmp_path / "houses.csv"),
                          "--registry", str(session_registry.root), "--output",
                          str(tmp_path / "why" / "out.json")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert "row 0: MEDV" in run.stdout and "moves the price by" in run.stdout
    assert "row 2: refused: row 2, field 'RM': must be a number, got \"big\"" in run.stdout
    saved = json.loads((tmp_path / "why" / "out.json").read_text())
    assert [len(h.get("comparables", [])) for h in saved] == [5, 5, 0]
    assert np.isfinite(saved[0]["base"])
    missing = subprocess.run([sys.executable, "-m", "estimator", "explain", "--model",
                              boston_gbm.ref, "--input", str(tmp_path / "none.csv"),
                              "--registry", str(session_registry.root)],
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: Data file '{tmp_path / 'none.csv'}' does not exist."]


def test_trees_explain_houses_beyond_float32_like_any_other(boston_gbm: VersionInfo) -> None:
    rows = [{"TAX": 296.0}, {"TAX": 1e308}, {"TAX": -1e308}]
    trees = Predictor.load(boston_gbm.path)
    raw = trees.rules.rows([trees.schema.example_row() | r for r in rows]).matrix
    for why, price in zip(trees.explain(raw), trees.predict_matrix(raw), strict=True):
        assert why["base"] + sum(why["contributions"].values()) == pytest.approx(price,
                                                                                 abs=1e-6)
