"""Training real models: the article's configs, every family, CV, fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from estimator import config
from estimator.data.sources import load
from estimator.errors import ConfigError, SchemaMismatchError
from estimator.predictor import Predictor, load_predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import raw_matrix, train
from tests.conftest import CALIFORNIA, EXAMPLES
from tests.test_data import messy_csv


@pytest.mark.parametrize("name", ["seed_config_final.json", "seed_config_first.json",
                                  "seed_config_wide.json"])
def test_article_configs_train_unchanged(tmp_path: Path, name: str) -> None:
    cfg = config.load(EXAMPLES / name)
    result = train(cfg, registry=tmp_path)
    assert result.version is not None
    assert result.version.name == "house_pricing_model"
    assert result.curves["epochs_run"] == cfg.training.epochs
    assert len(result.curves["val_mae"]) == cfg.training.epochs
    test = result.metrics["test"]
    assert test["mae"] < 4.5, test  # the mean predictor's MAE on Boston is about 6.6
    assert set(test) == {"mae", "rmse", "r2", "mape", "mae_share"}
    assert result.metrics["rows"] == {"train": 353, "validation": 51, "test": 102}


def test_round_trip_reproduces_in_memory_predictions(tmp_path: Path) -> None:
    for family in ("mlp", "gbm", "linear"):
        cfg = config.validate({"name": f"rt-{family}", "model": {"family": family},
                               "training": {"epochs": 5}})
        result = train(cfg, registry=tmp_path)
        assert result.version is not None
        ds = load(cfg.data)
        raw = raw_matrix(ds.schema, ds)
        loaded = Predictor.load(result.version.path)
        np.testing.assert_allclose(loaded.predict_matrix(raw),
                                   result.predictor.predict_matrix(raw), rtol=0, atol=1e-6)


def test_training_is_deterministic(tmp_path: Path) -> None:
    cfg = config.validate({"model": {"layers": [16, 8]}, "training": {"epochs": 4}})
    a = train(cfg, registry=tmp_path, save=False)
    b = train(cfg, registry=tmp_path, save=False)
    assert a.metrics["test"] == b.metrics["test"]


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    cfg = config.validate({"model": {"layers": [64, 64], "optimizer": {"lr": 0.01}},
                           "training": {"epochs": 300, "batch_size": 16,
                                        "early_stopping": {"patience": 5}}})
    result = train(cfg, registry=tmp_path, save=False)
    curves = result.curves
    assert curves["epochs_run"] < 300
    assert curves["best_epoch"] == int(np.argmin(curves["val_loss"])) + 1
    assert curves["epochs_run"] == curves["best_epoch"] + 5
    best_val_mae = curves["val_mae"][curves["best_epoch"] - 1]
    assert result.metrics["validation"]["mae"] == pytest.approx(best_val_mae, rel=1e-4)


def test_gbm_early_stopping_keeps_trees_up_to_the_best_round(tmp_path: Path) -> None:
    cfg = config.validate({"model": {"family": "gbm", "n_estimators": 3000,
                                     "learning_rate": 0.3, "early_stopping_rounds": 10}})
    result = train(cfg, registry=tmp_path)
    assert result.version is not None
    meta = json.loads((result.version.path / "model" / "gbm.json").read_text())
    assert meta["rounds"] == result.curves["best_epoch"] < 3000
    assert result.curves["epochs_run"] == result.curves["best_epoch"] + 10


def test_cross_validation_on_request(tmp_path: Path) -> None:
    cfg = config.validate({"model": {"family": "linear"}})
    result = train(cfg, registry=tmp_path, cv=3, repeats=2)
    cv = result.metrics["cv"]
    assert cv["folds"] == 6 and cv["splits"] == 3 and cv["repeats"] == 2
    assert 2.5 < cv["mae"]["mean"] < 5 and cv["mae"]["std"] > 0


def test_log_target_and_messy_file(tmp_path: Path) -> None:
    path = messy_csv(tmp_path / "houses.csv", rows=200)
    cfg = config.validate({"name": "agency", "data": {"path": str(path), "target": "price"},
                           "preprocessing": {"log_target": True},
                           "model": {"family": "gbm", "n_estimators": 50}})
    result = train(cfg, registry=tmp_path)
    assert result.version is not None
    assert result.version.meta["data"]["rows_dropped_missing_target"] == 15
    predictor = load_predictor(result.version.path)
    price = predictor.predict_rows([{"living area/m2": 90.0, "n rooms": 3, "district": "west",
                                     "has garden": 1}])
    assert 1e5 < price[0] < 9e5


def test_california_families(california_gbm: VersionInfo, tmp_path: Path) -> None:
    """gbm (session fixture) and a small mlp on the agency-style CSV."""
    assert california_gbm.meta["metrics"]["test"]["rmse"] < 60_000
    cfg = config.validate({
        "name": "california-mlp",
        "data": {"path": str(CALIFORNIA), "target": "median_house_value"},
        "model": {"family": "mlp", "layers": [32, 16]},
        "training": {"epochs": 3, "batch_size": 256},
    })
    result = train(cfg, registry=tmp_path)
    assert result.metrics["test"]["rmse"] < 90_000
    onehot = [n for n in result.predictor.preprocessor.output_names_ if n.startswith("ocean")]
    assert "ocean_proximity=<unknown>" in onehot and len(onehot) == 6


def test_fine_tuning_records_its_parent(boston_mlp: VersionInfo, boston_gbm: VersionInfo,
                                        session_registry: Registry) -> None:
    for parent in (boston_mlp, boston_gbm):
        cfg = config.validate({"name": parent.name, "model": {"family": parent.meta["family"],
                                                               "n_estimators": 20}
                               if parent.meta["family"] == "gbm" else {"family": "mlp"},
                               "training": {"epochs": 3},
                               "pretrained": f"{parent.name}@{parent.version}"})
        result = train(cfg, registry=session_registry)
        assert result.version is not None
        assert result.version.meta["parent"] == parent.ref
        old, new = Predictor.load(parent.path), result.predictor
        assert new.preprocessor.to_dict() == old.preprocessor.to_dict()
        if parent.meta["family"] == "gbm":
            assert new.model.booster.num_boosted_rounds() > old.model.booster.num_boosted_rounds()  # type: ignore[attr-defined]
        assert session_registry.resolve(parent.name + "@latest").version == result.version.version


def test_fine_tuning_on_mismatched_columns(boston_mlp: VersionInfo, session_registry: Registry,
                                           tmp_path: Path) -> None:
    cfg = config.validate({"name": "x", "data": {"source": "boston", "exclude": ["B"]},
                           "pretrained": boston_mlp.ref, "training": {"epochs": 1}})
    with pytest.raises(SchemaMismatchError, match=r"missing columns \['B'\]"):
        train(cfg, registry=session_registry)
    path = messy_csv(tmp_path / "h.csv")
    cfg = config.validate({"name": "x", "data": {"path": str(path), "target": "price"},
                           "pretrained": boston_mlp.ref})
    with pytest.raises(SchemaMismatchError, match=r"missing columns \['CRIM'.*extra columns "
                                                  r"\['living area/m2'"):
        train(cfg, registry=session_registry)


def test_fine_tuning_needs_the_same_architecture(boston_mlp: VersionInfo,
                                                 session_registry: Registry) -> None:
    cfg = config.validate({"name": "x", "model": {"layers": [8]}, "pretrained": boston_mlp.ref})
    with pytest.raises(ConfigError, match=r"layers \[64, 64, 32\] do not match"):
        train(cfg, registry=session_registry)
