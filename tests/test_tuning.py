"""Tuning on Boston: short real studies per family, pruning, the search space, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest

from estimator import config
from estimator.cli import main
from estimator.errors import ConfigError
from estimator.registry import Registry
from estimator.schema import Feature, Schema, Target
from estimator.training import split_indices
from estimator.tuning import (
    DEFAULT_SPACES,
    TrainingRows,
    apply,
    default_url,
    public_url,
    resolve,
    tune,
)
from estimator.tuning.objective import Objective
from estimator.tuning.storage import normalise

# Small budgets: a few trials of few epochs or rounds, 3-fold CV.
SMALL: dict[str, dict[str, Any]] = {
    "linear": {},
    "gbm": {"model.n_estimators": {"low": 20, "high": 60}},
    "mlp": {"model.layers": {"layers": [1, 2], "units": [8, 32]},
            "training.epochs": {"low": 3, "high": 6}},
}


def small(family: str, **extra: Any) -> config.Config:
    return config.validate({"name": f"tuned-{family}", "model": {"family": family},
                            "tune": {"cv": 3, "startup_trials": 2, "space": SMALL[family],
                                     **extra}})


@pytest.mark.parametrize("family", ["linear", "gbm", "mlp"])
def test_short_study_registers_the_best_trial(tmp_path: Path, family: str) -> None:
    reg = Registry(tmp_path / "models")
    seen: list[tuple[int, float | None]] = []
    result = tune(small(family), trials=3, registry=reg,
                  progress=lambda done, total, best, number: seen.append((done, best)))
    assert result.trials == {"complete": 3}
    assert [d for d, _ in seen] == [0, 1, 2, 3] and seen[0][1] is None
    assert seen[-1][1] == result.best_value
    version = result.version
    assert version is not None and version.name == f"tuned-{family}"
    meta = version.meta["tuning"]
    assert meta["study"] == f"tuned-{family}-{family}"
    assert meta["storage"] == default_url(reg.root)
    assert meta["trial"] == result.best_trial
    assert meta["params"] == result.best_params
    assert meta["best_value"] == pytest.approx(result.best_value)
    assert meta["cv"]["mae"]["mean"] == pytest.approx(result.best_value)
    saved = config.validate(json.loads((version.path / "config.json").read_text()))
    for key, value in result.best_params.items():
        if key.startswith("model.layers"):
            continue
        node: Any = saved
        for part in key.split("."):
            node = getattr(node, part)
        assert node == pytest.approx(value)
    if family == "mlp":
        n = result.best_params["model.layers.n"]
        assert saved.model.layers == [result.best_params[f"model.layers.{i}"] for i in range(n)]
    assert 0 < version.meta["metrics"]["test"]["mae"] < 10
    folder = version.path / "tuning"
    with (folder / "trials.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert json.loads((folder / "study.json").read_text())["best_params"] == result.best_params
    assert (folder / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert {"tuning/trials.csv", "tuning/study.json", "tuning/history.png"} <= set(
        version.meta["files"])


def test_tuning_never_sees_the_test_split() -> None:
    cfg = small("linear")
    data = TrainingRows.load(cfg)
    _, _, test_idx = split_indices(len(data.y), cfg.split.test, cfg.split.validation,
                                   cfg.split.seed)
    assert not set(data.rows.tolist()) & set(test_idx.tolist())
    assert len(data.rows) + len(test_idx) == len(data.y)


@pytest.mark.parametrize("family", ["mlp", "gbm"])
def test_pruning_stops_a_trial_inside_the_first_fold(family: str) -> None:
    space = {"training.epochs": {"low": 30, "high": 30}} if family == "mlp" else \
        {"model.n_estimators": {"low": 300, "high": 300}}
    cfg = config.validate({"model": {"family": family, "early_stopping_rounds": None}
                           if family == "gbm" else {"family": family, "layers": [8]},
                           "tune": {"cv": 3, "space": space, "replace_space": True}})
    # A pruner that prunes at the first report: the callback must stop training right there.
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    study.optimize(Objective(cfg, TrainingRows.load(cfg), resolve(cfg)), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.last_step == (1 if family == "mlp" else 10)
    assert "cv" not in trial.user_attrs


def test_space_adds_replaces_and_drops_keys() -> None:
    cfg = config.validate({"model": {"family": "gbm"}, "tune": {"space": {
        "model.max_depth": {"low": 3, "high": 4}, "model.gamma": {"low": 0.0, "high": 1.0},
        "model.reg_alpha": None}}})
    space = resolve(cfg)
    assert set(space) == set(DEFAULT_SPACES["gbm"]) - {"model.reg_alpha"} | {"model.gamma"}
    assert space["model.max_depth"].high == 4
    only = config.validate({"model": {"family": "linear"}, "tune": {
        "replace_space": True, "space": {"preprocessing.log_target": {"choices": [True, False]}}}})
    assert list(resolve(only)) == ["preprocessing.log_target"]


def test_trees_may_try_derived_columns_the_data_allows() -> None:
    gbm, mlp = (config.validate({"model": {"family": f}}) for f in ("gbm", "mlp"))
    boston = TrainingRows.load(gbm).schema
    assert resolve(gbm, schema=boston)["preprocessing.ratios"].choices == [False, True]
    assert "preprocessing.coordinates" not in resolve(gbm, schema=boston)
    located = Schema(features=(Feature(name="Latitude", kind="numeric"),
                               Feature(name="lon", kind="numeric")), target=Target(name="price"))
    assert "preprocessing.coordinates" in resolve(gbm, schema=located)
    assert not {"preprocessing.ratios", "preprocessing.coordinates"} & set(
        resolve(mlp, schema=located))


def test_mlp_batch_sizes_follow_the_size_of_the_data() -> None:
    cfg = config.validate({"model": {"family": "mlp"}})
    assert resolve(cfg, rows=404)["training.batch_size"].choices == [8, 16, 32, 64]
    assert resolve(cfg, rows=16512)["training.batch_size"].choices == [64, 128, 256, 512]
    mine = config.validate({"model": {"family": "mlp"}, "tune": {"space": {
        "training.batch_size": {"choices": [4, 1024]}}}})
    assert resolve(mine, rows=16512)["training.batch_size"].choices == [4, 1024]


def test_apply_keeps_activations_in_step_with_layers() -> None:
    cfg = config.validate({"model": {"family": "mlp", "layers": [64, 64, 32],
                                     "activations": ["tanh", "tanh", "tanh"]}})
    out = apply(cfg, {"model.layers": [40, 20], "training.early_stopping.patience": 7})
    assert out.model.layers == [40, 20]  # type: ignore[union-attr]
    assert out.model.activations == ["tanh", "tanh"]  # type: ignore[union-attr]
    assert out.training.early_stopping is not None
    assert out.training.early_stopping.patience == 7
    ens = config.validate({"model": {"family": "ensemble"}})
    tuned = apply(ens, {"model.members.0.max_depth": 3})
    assert tuned.model.members[0].max_depth == 3  # type: ignore[union-attr]


@pytest.mark.parametrize(("space", "message"), [
    ({"model.max_dept": {"low": 2, "high": 5}}, "Unknown config key 'model.max_dept'"),
    ({"model.max_depth": {"low": 5, "high": 2}}, r"needs low <= high\. Got low=5, high=2"),
    ({"model.learning_rate": {"low": 0.0, "high": 0.3, "log": True}},
     "log scale, so low must be above 0"),
    ({"model.max_depth": {"choices": [3], "low": 1, "high": 2}}, "either low and high, or"),
    ({"model.max_depth": {"layers": [1, 2], "units": [8, 16]}}, "only with model.layers"),
    ({"model.max_depth": {"low": 0, "high": 3}}, "'model.max_depth' is invalid"),
])
def test_bad_space_is_refused_before_any_trial(space: dict[str, Any], message: str) -> None:
    cfg = config.validate({"model": {"family": "gbm"}, "tune": {"space": space}})
    with pytest.raises(ConfigError, match=message):
        resolve(cfg)


def test_an_ensemble_needs_an_explicit_space(tmp_path: Path) -> None:
    cfg = config.validate({"model": {"family": "ensemble"}})
    with pytest.raises(ConfigError, match="the ensemble family has no default search space"):
        tune(cfg, trials=1, registry=tmp_path)


def test_a_study_keeps_its_family(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    tune(small("linear"), trials=1, registry=reg, study="shared", register=False)
    with pytest.raises(ConfigError, match="tunes the mae of a linear model, not the mae of a "
                                          "gbm"):
        tune(small("gbm"), trials=1, registry=reg, study="shared")


def test_storage_urls_are_normalised_and_shown_without_credentials() -> None:
    assert normalise("postgresql://u:p@db/x") == ("rdb", "postgresql+psycopg://u:p@db/x")
    assert normalise("runs/studies.log") == ("journal", "journal:///runs/studies.log")
    assert normalise("studies.db") == ("rdb", "sqlite:///studies.db")
    shown = public_url("postgresql+psycopg://alice:s3cret@db.example:5432/optuna")
    assert shown == "postgresql+psycopg://db.example:5432/optuna"
    assert public_url("journal:///a.log") == "journal:///a.log"


@pytest.mark.parametrize(("storage", "code", "message"), [
    ("mysql://root@localhost/x", 2, "error: Study storage scheme 'mysql' is not supported"),
    ("studies", 2, "error: 'studies' is not a study storage URL"),
    ("sqlite://", 2, "an in-memory study cannot be shared or resumed"),
    ("postgresql+psycopg://nobody:s3cret@127.0.0.1:1/none", 1,
     "error: Cannot open the study storage postgresql+psycopg://127.0.0.1:1/none: "),
])
def test_storage_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     storage: str, code: int, message: str) -> None:
    rc = main(["tune", "--trials", "1", "--storage", storage, "--registry", str(tmp_path),
               "--set", "model.family=linear", "--quiet"])
    err = capsys.readouterr().err
    assert rc == code
    assert err.startswith(message) or message in err
    assert err.count("\n") == 1 and "s3cret" not in err and "Traceback" not in err


def test_tune_command_runs_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "linear.yaml"
    conf.write_text("name: cli-linear\nmodel: {family: linear}\ntune: {cv: 3}\n")
    args = ["tune", "--conf", str(conf), "--registry", str(tmp_path / "models"), "--json"]
    assert main([*args, "--trials", "2", "--no-register"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["trials"] == {"complete": 2} and first["model"] is None
    assert main([*args, "--trials", "3"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["study"] == first["study"] == "cli-linear-linear"
    assert second["trials"] == {"complete": 5}
    assert second["best_value"] <= first["best_value"]
    assert second["model"].startswith("cli-linear@v1-")
    assert np.isfinite(second["metrics"]["test"]["mae"])
