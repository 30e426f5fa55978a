"""The ensemble family: trained, saved, loaded and predicted like any other model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from estimator import config
from estimator.data.sources import load
from estimator.errors import ConfigError, ModelLoadError
from estimator.models.ensemble import EnsembleModel, combine
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import raw_matrix, train
from tests.conftest import price_with_training_stack_blocked

GBM_MLP = {"name": "boston-ensemble",
           "model": {"family": "ensemble", "folds": 3,
                     "members": [{"family": "gbm", "n_estimators": 80},
                                 {"family": "mlp", "layers": [16, 8]}]},
           "training": {"batch_size": 32, "epochs": 8}}


@pytest.fixture(scope="module")
def ensemble(session_registry: Registry) -> VersionInfo:
    result = train(config.validate(GBM_MLP), registry=session_registry)
    assert result.version is not None
    return result.version


def test_round_trip_reproduces_predictions(ensemble: VersionInfo) -> None:
    cfg = config.validate(GBM_MLP)
    dataset = load(cfg.data)
    raw = raw_matrix(dataset.schema, dataset)
    loaded = Predictor.load(ensemble.path)
    assert isinstance(loaded.model, EnsembleModel)
    # Retraining is deterministic, so the in-memory model of a second run is the saved one.
    fresh = train(cfg, save=False).predictor
    np.testing.assert_allclose(loaded.predict_matrix(raw), fresh.predict_matrix(raw), atol=1e-6)
    members = [loaded.model.members[i].predict(loaded.preprocessor.transform(raw))
               for i in range(2)]
    blended = np.column_stack(members) @ loaded.model.weights
    np.testing.assert_allclose(loaded.model.predict(loaded.preprocessor.transform(raw)),
                               blended, atol=1e-9)


def test_saved_as_member_folders_and_json(ensemble: VersionInfo) -> None:
    folder = ensemble.path / "model"
    meta = json.loads((folder / "ensemble.json").read_text())
    assert [m["family"] for m in meta["members"]] == ["gbm", "mlp"]
    assert (folder / "0-gbm" / "xgboost.json").is_file()
    assert (folder / "1-mlp" / "mlp.npz").is_file()
    weights = np.array(meta["weights"])
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert meta["intercept"] == 0.0
    assert ensemble.meta["family"] == "ensemble"
    assert "model/ensemble.json" in ensemble.meta["files"]


def test_predicts_with_torch_pandas_and_sklearn_blocked(ensemble: VersionInfo) -> None:
    price = price_with_training_stack_blocked(ensemble.path)
    expected = Predictor.load(ensemble.path)
    row = expected.schema.example_row()
    assert price == pytest.approx(float(expected.predict_rows([row])[0]), abs=1e-9)


def test_weights_favour_the_better_member_on_out_of_fold_predictions() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    good, bad = y + rng.normal(scale=0.1, size=400), y + rng.normal(scale=1.0, size=400)
    weights, intercept = combine(np.column_stack([bad, good]), y, "average", 1.0)
    assert intercept == 0.0
    assert weights.sum() == pytest.approx(1.0)
    assert weights[1] > 0.9 > 0.1 > weights[0] >= 0.0
    coef, _ = combine(np.column_stack([bad, good]), y, "stacking", 0.0)
    assert coef[1] > coef[0]


def test_stacking_round_trip(tmp_path: Path) -> None:
    cfg = config.validate({"name": "stacked", "model": {
        "family": "ensemble", "method": "stacking", "folds": 3,
        "members": [{"family": "linear"}, {"family": "gbm", "n_estimators": 50}]}})
    result = train(cfg, registry=tmp_path)
    assert result.version is not None
    meta = json.loads((result.version.path / "model" / "ensemble.json").read_text())
    assert meta["method"] == "stacking"
    assert meta["intercept"] != 0.0
    loaded = Predictor.load(result.version.path)
    row = loaded.schema.example_row()
    assert float(loaded.predict_rows([row])[0]) == pytest.approx(
        float(result.predictor.predict_rows([row])[0]), abs=1e-6)
    assert result.metrics["test"]["mae"] < 3.5


def test_inconsistent_ensemble_file_is_refused(ensemble: VersionInfo, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(ensemble.path / "model", folder)
    meta = json.loads((folder / "ensemble.json").read_text())
    (folder / "ensemble.json").write_text(json.dumps({**meta, "weights": [1.0]}))
    with pytest.raises(ModelLoadError, match="lists 2 members but 1 weights"):
        EnsembleModel.load(folder)
    meta["members"][0]["folder"] = "../../elsewhere"
    (folder / "ensemble.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"invalid member '\.\./\.\./elsewhere'"):
        EnsembleModel.load(folder)


def test_an_ensemble_needs_two_members_of_other_families() -> None:
    with pytest.raises(ConfigError, match=r"'model\.members' is invalid: List should have at "
                                          "least 2 items"):
        config.validate({"model": {"family": "ensemble", "members": [{"family": "gbm"}]}})
    with pytest.raises(ConfigError,
                       match=r"'model\.members\.1' is invalid: Input tag 'ensemble'"):
        config.validate({"model": {"family": "ensemble",
                                   "members": [{"family": "gbm"}, {"family": "ensemble"}]}})


def test_an_ensemble_cannot_be_fine_tuned(ensemble: VersionInfo,
                                          session_registry: Registry) -> None:
    cfg = config.validate({**GBM_MLP, "pretrained": ensemble.ref})
    with pytest.raises(ConfigError, match="An ensemble cannot be fine-tuned"):
        train(cfg, registry=session_registry)


def test_fixed_weights_skip_the_out_of_fold_fits(tmp_path: Path) -> None:
    cfg = config.validate({"name": "fixed", "model": {
        "family": "ensemble", "weights": [1, 3],
        "members": [{"family": "linear"}, {"family": "gbm", "n_estimators": 30}]}})
    result = train(cfg, registry=tmp_path)
    assert result.version is not None
    assert result.curves["weights"] == [0.25, 0.75] and "oof_mae" not in result.curves
    loaded = Predictor.load(result.version.path)
    assert isinstance(loaded.model, EnsembleModel)
    x = loaded.preprocessor.transform(raw_matrix(loaded.schema, load(cfg.data)))
    linear, gbm = (m.predict(x) for m in loaded.model.members)
    np.testing.assert_allclose(loaded.model.predict(x), 0.25 * linear + 0.75 * gbm, atol=1e-9)
    with pytest.raises(ConfigError, match="one non-negative weight per member"):
        config.validate({"model": {"family": "ensemble", "weights": [1.0]}})
    with pytest.raises(ConfigError, match="fixed 'weights' go with method 'average'"):
        config.validate({"model": {"family": "ensemble", "weights": [1, 1],
                                   "method": "stacking"}})
