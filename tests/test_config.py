"""Config files: both shapes, strict checking, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from estimator import config
from estimator.config import GBMConfig, MLPConfig
from estimator.errors import ConfigError
from tests.conftest import EXAMPLES


@pytest.mark.parametrize(("name", "layers", "epochs"), [
    ("seed_config_final.json", [64, 64, 32], 17),
    ("seed_config_wide.json", [64, 64, 32], 100),
    ("seed_config_first.json", [12, 5], 100),
])
def test_article_configs_build_the_architecture_they_describe(name: str, layers: list[int],
                                                              epochs: int) -> None:
    cfg = config.load(EXAMPLES / name)
    assert isinstance(cfg.model, MLPConfig)
    assert cfg.model.layers == layers
    assert cfg.model.activations == ["relu"] * len(layers)
    assert cfg.model.loss == "mse"
    assert cfg.model.optimizer.name == "adam"
    assert cfg.training.batch_size == 10
    assert cfg.training.epochs == epochs
    assert cfg.split.test == 0.2
    assert cfg.data.source == "boston"
    assert cfg.name == "house_pricing_model"


def test_native_yaml_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: gbm-test\nmodel: {family: gbm, max_depth: 3}\n"
                    "data: {path: houses.csv, target: price, exclude: [id]}\n")
    cfg = config.load(path)
    assert isinstance(cfg.model, GBMConfig)
    assert cfg.model.max_depth == 3
    assert cfg.data.exclude == ["id"]


@pytest.mark.parametrize(("raw", "match"), [
    ({"modle": {}}, r"Unknown config key 'modle'"),
    ({"training": {"epochs": -3}}, r"'training.epochs' is invalid.*greater than 0.*Got -3"),
    ({"training": {"epochs": "many"}}, r"'training.epochs' is invalid.*Got 'many'"),
    ({"split": {"test": 1.5}}, r"'split.test' is invalid.*less than 1.*Got 1.5"),
    ({"split": {"test": 0}}, r"'split.test' is invalid.*greater than 0"),
    ({"model": {"family": "mlp", "layers": [8, 4], "activations": ["relu"]}},
     r"'model'.*'activations' has 1 entries but 'layers' has 2"),
    ({"model": {"family": "mlp", "activations": ["relu", "swish", "relu"]}},
     r"unknown activation 'swish'"),
    ({"model": {"family": "forest"}}, r"'model' is invalid.*"),
    ({"model": {"family": "gbm", "depth": 3}}, r"Unknown config key 'model.depth'"),
    ({"data": {"path": "x.csv"}}, r"'data'.*needs 'target'"),
])
def test_bad_configs_name_the_key_and_value(raw: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config.validate(raw)


def test_seed_config_output_layer_must_be_linear() -> None:
    raw = json.loads((EXAMPLES / "seed_config_first.json").read_text())
    raw["model_config"]["activations"][-1] = "relu"
    with pytest.raises(ConfigError, match=r"output layer's activation must be null.*'relu'"):
        config.validate(raw)


def test_seed_config_activation_count_checked() -> None:
    raw = json.loads((EXAMPLES / "seed_config_first.json").read_text())
    raw["model_config"]["activations"] = ["relu", None]
    with pytest.raises(ConfigError, match=r"'model_config.activations' has 2 entries but"):
        config.validate(raw)


def test_overrides_set_any_key_with_yaml_values() -> None:
    cfg = config.validate({}, ["training.epochs=5", "model.layers=[8, 4]",
                               "model.activations=[tanh, relu]", "split.seed=7", "name=other"])
    assert isinstance(cfg.model, MLPConfig)
    assert cfg.training.epochs == 5
    assert cfg.model.layers == [8, 4]
    assert cfg.model.activations == ["tanh", "relu"]
    assert cfg.split.seed == 7
    assert cfg.name == "other"


def test_overrides_apply_to_article_configs() -> None:
    cfg = config.load(EXAMPLES / "seed_config_final.json", ["training.epochs=3"])
    assert cfg.training.epochs == 3


def test_override_without_equals_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"key=value.*'training.epochs'"):
        config.validate({}, ["training.epochs"])


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist"):
        config.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=r"is not valid json near line 1"):
        config.load(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"is empty"):
        config.load(empty)
