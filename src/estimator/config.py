"""The training config: pydantic models, the article's seed format, and overrides.

A config is YAML or JSON. Two shapes are accepted: the native one (see
DESIGN.md) and the article's `config.json` (`model_config`,
`training_config`, Keras vocabulary), which is translated to the native
shape before validation so that both are checked by the same rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from estimator.errors import ConfigError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "linear")
_KERAS_LOSSES = {
    "mse": "mse", "mean_squared_error": "mse",
    "mae": "mae", "mean_absolute_error": "mae",
    "huber": "huber", "huber_loss": "huber",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the rows come from: the bundled Boston data or a CSV/Parquet file."""

    source: Literal["boston"] | None = None
    path: str | None = None
    target: str | None = None
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.source is None) == (self.path is None):
            raise ValueError("give exactly one of 'source: boston' or 'path: FILE'")
        if self.path is not None and not self.target:
            raise ValueError("a data file needs 'target', the column to predict")
        return self


class SplitConfig(_Strict):
    """How rows are split; `cv` > 1 asks for repeated k-fold cross-validation as well."""

    test: float = Field(0.2, gt=0, lt=1)
    validation: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    cv: int | None = Field(None, ge=2)
    repeats: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.test + self.validation >= 0.9:
            raise ValueError(
                f"test + validation must leave at least 10 % to train; got {self.test} + "
                f"{self.validation}")
        return self


class PreprocessingConfig(_Strict):
    """Fitted on the training split only and saved with the model."""

    impute: Literal["median", "mean"] = "median"
    scale: bool = True
    log_target: bool = False


class OptimizerConfig(_Strict):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(0.001, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v


class MLPConfig(_Strict):
    """A feed-forward network; `layers` are the hidden layers, the output is one linear unit."""

    family: Literal["mlp"] = "mlp"
    layers: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [64, 64, 32])
    activations: list[str] | None = None
    dropout: float = Field(0.0, ge=0, lt=1)
    loss: Literal["mse", "mae", "huber"] = "mse"
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)

    @field_validator("loss", mode="before")
    @classmethod
    def _keras_loss(cls, v: Any) -> Any:
        return _KERAS_LOSSES.get(v.lower(), v) if isinstance(v, str) else v

    @field_validator("activations", mode="before")
    @classmethod
    def _keras_activations(cls, v: Any) -> Any:
        if isinstance(v, list):
            return ["linear" if a is None else (a.lower() if isinstance(a, str) else a) for a in v]
        return v

    @model_validator(mode="after")
    def _activations_match(self) -> MLPConfig:
        if not self.layers:
            raise ValueError("'layers' needs at least one hidden layer")
        acts = self.activations
        if acts is None:
            object.__setattr__(self, "activations", ["relu"] * len(self.layers))
            return self
        if len(acts) != len(self.layers):
            raise ValueError(
                f"'activations' has {len(acts)} entries but 'layers' has {len(self.layers)}")
        bad = [a for a in acts if a not in ACTIVATIONS]
        if bad:
            raise ValueError(f"unknown activation {bad[0]!r}; use one of {list(ACTIVATIONS)}")
        return self

    @property
    def hidden_activations(self) -> list[str]:
        return list(self.activations or [])


class GBMConfig(_Strict):
    """Gradient-boosted trees with XGBoost."""

    family: Literal["gbm"] = "gbm"
    n_estimators: int = Field(1000, gt=0)
    learning_rate: float = Field(0.05, gt=0, le=1)
    max_depth: int = Field(6, ge=1, le=32)
    min_child_weight: float = Field(1.0, ge=0)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    reg_alpha: float = Field(0.0, ge=0)
    gamma: float = Field(0.0, ge=0)
    early_stopping_rounds: int | None = Field(50, gt=0)


class LinearConfig(_Strict):
    """Ridge regression: the baseline every other family must beat."""

    family: Literal["linear"] = "linear"
    alpha: float = Field(1.0, ge=0)


MemberConfig = Annotated[MLPConfig | GBMConfig | LinearConfig, Field(discriminator="family")]


def _gbm_and_mlp() -> list[MLPConfig | GBMConfig | LinearConfig]:
    return [GBMConfig(), MLPConfig()]


class EnsembleConfig(_Strict):
    """Members of other families averaged with weights fitted on out-of-fold predictions.

    `average` keeps the weights non-negative and summing to 1; `stacking`
    fits a ridge meta-model (weights and intercept, penalty `alpha`) instead.
    Given `weights` (an average, e.g. found by an earlier run) skip the
    out-of-fold fits. MLP members train with the config's `training` section.
    """

    family: Literal["ensemble"] = "ensemble"
    members: list[MemberConfig] = Field(default_factory=lambda: _gbm_and_mlp(), min_length=2)
    method: Literal["average", "stacking"] = "average"
    folds: int = Field(5, ge=2)
    alpha: float = Field(1.0, ge=0)
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> EnsembleConfig:
        if self.weights is None:
            return self
        if len(self.weights) != len(self.members) or sum(self.weights) <= 0:
            raise ValueError(f"'weights' needs one non-negative weight per member "
                             f"({len(self.members)}), not all zero")
        if self.method != "average":
            raise ValueError("fixed 'weights' go with method 'average'")
        return self


ModelConfig = Annotated[MLPConfig | GBMConfig | LinearConfig | EnsembleConfig,
                        Field(discriminator="family")]


class EarlyStoppingConfig(_Strict):
    patience: int = Field(20, gt=0)
    min_delta: float = Field(0.0, ge=0)


class TrainingConfig(_Strict):
    """Epoch-based settings; used by the MLP."""

    batch_size: int = Field(32, gt=0)
    epochs: int = Field(200, gt=0)
    early_stopping: EarlyStoppingConfig | None = None


TuneMetric = Literal["mae", "rmse", "r2", "mape"]


class ParamSpec(_Strict):
    """One searched config key: a range `low`..`high` (integers give an integer range) or
    `choices`; `model.layers` takes `layers: [min, max]` hidden layers of `units: [min, max]`."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: list[Any] | None = None
    layers: tuple[int, int] | None = None
    units: tuple[int, int] | None = None


class TuneConfig(_Strict):
    """`estimator tune`: the metric, the cross-validation on the training split, the search.

    `space` adds to (or, with `replace_space`, replaces) the family's default
    search space; a key set to null leaves that key at its config value.
    """

    metric: TuneMetric = "mae"
    cv: int = Field(3, ge=2)
    repeats: int = Field(1, ge=1)
    space: dict[str, ParamSpec | None] = Field(default_factory=dict)
    replace_space: bool = False
    pruning: bool = True
    startup_trials: int = Field(10, ge=1)
    seed: int | None = None
    retries: int = Field(2, ge=0)
    heartbeat: int = Field(30, ge=1)


class CandidateConfig(_Strict):
    """A candidate of `estimator select`: the config with these sections replaced."""

    label: str | None = None
    model: ModelConfig
    training: TrainingConfig | None = None
    preprocessing: PreprocessingConfig | None = None


class SelectionConfig(_Strict):
    """The article's rule: the best `metric` among candidates whose p99 latency fits the limit."""

    candidates: list[CandidateConfig] = Field(
        default_factory=lambda: [CandidateConfig(model=LinearConfig()),
                                 CandidateConfig(model=GBMConfig()),
                                 CandidateConfig(model=MLPConfig())], min_length=1)
    latency_ms: float = Field(10.0, gt=0)
    metric: TuneMetric = "mae"
    cv: int = Field(5, ge=2)
    repeats: int = Field(1, ge=1)
    calls: int = Field(1000, ge=10)

    @field_validator("candidates", mode="before")
    @classmethod
    def _family_names(cls, v: Any) -> Any:
        # `candidates: [linear, gbm]` is short for the families with their default settings.
        if isinstance(v, list):
            return [{"model": {"family": c}} if isinstance(c, str) else c for c in v]
        return v


class Config(_Strict):
    """A whole training run, as read from a config file."""

    name: str = Field("boston-price", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataConfig = Field(default_factory=lambda: DataConfig(source="boston"))
    split: SplitConfig = Field(default_factory=SplitConfig)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelConfig = Field(default_factory=MLPConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    pretrained: str | None = None
    seed: int = 42
    metrics: list[str] = Field(default_factory=lambda: ["mae"])
    tune: TuneConfig | None = None
    selection: SelectionConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_family(cls, raw: Any) -> Any:
        # A model table without a family is an MLP, as in the article.
        if isinstance(raw, dict) and isinstance(raw.get("model"), dict) \
                and "family" not in raw["model"]:
            return {**raw, "model": {"family": "mlp", **raw["model"]}}
        return raw


def from_seed_format(raw: dict[str, Any]) -> dict[str, Any]:
    """Translate the article's `config.json` into the native shape.

    The article lists its layers as `first_layer ... output_layer` with one
    activation each (`null` for the linear output); the native shape keeps
    the hidden layers only, since the output is always one linear unit.
    """
    known = {"data", "train_test_ratio", "model_config", "training_config"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"Unknown key '{unknown[0]}' in the article-style config.",
                          key=unknown[0])
    mc = dict(raw.get("model_config") or {})
    tc = dict(raw.get("training_config") or {})
    layers_raw = mc.pop("layers", {})
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise ConfigError("'model_config.layers' must map layer names to unit counts.",
                          key="model_config.layers", value=layers_raw)
    units = list(layers_raw.values())
    activations = list(mc.pop("activations", [None] * len(units)))
    if "output_layer" in layers_raw:
        if layers_raw["output_layer"] != 1:
            raise ConfigError("'model_config.layers.output_layer' must be 1 for a price. Got "
                              f"{layers_raw['output_layer']!r} instead.",
                              key="model_config.layers.output_layer",
                              value=layers_raw["output_layer"])
        if len(activations) != len(units):
            raise ConfigError(
                f"'model_config.activations' has {len(activations)} entries but "
                f"'model_config.layers' has {len(units)}.", key="model_config.activations",
                value=activations)
        out_act = activations[-1]
        if out_act not in (None, "linear"):
            raise ConfigError("The output layer's activation must be null (linear). Got "
                              f"{out_act!r} instead.", key="model_config.activations",
                              value=out_act)
        units, activations = units[:-1], activations[:-1]
    optimiser = mc.pop("optimiser", mc.pop("optimizer", "adam"))
    model: dict[str, Any] = {
        "family": "mlp",
        "layers": units,
        "activations": activations,
        "loss": mc.pop("loss_function", "mse"),
        "optimizer": {"name": optimiser} if isinstance(optimiser, str) else optimiser,
    }
    native: dict[str, Any] = {"model": model}
    if "model_name" in mc:
        native["name"] = str(mc.pop("model_name"))
    if "metrics" in mc:
        native["metrics"] = mc.pop("metrics")
    if mc:
        key = sorted(mc)[0]
        raise ConfigError(f"Unknown key 'model_config.{key}' in the article-style config.",
                          key=f"model_config.{key}")
    data = raw.get("data", "boston")
    native["data"] = {"source": data} if isinstance(data, str) else data
    if "train_test_ratio" in raw:
        native["split"] = {"test": raw["train_test_ratio"]}
    native["training"] = tc
    return native


def is_seed_format(raw: dict[str, Any]) -> bool:
    return "model_config" in raw or "training_config" in raw or "train_test_ratio" in raw


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into a key path and a YAML-typed value."""
    if "=" not in text:
        raise ConfigError(f"An override must look like key=value. Got {text!r} instead.",
                          value=text)
    key, _, value = text.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"An override must name a key. Got {text!r} instead.", value=text)
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return key.split("."), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in a native config dict; intermediate tables are created."""
    out = json.loads(json.dumps(raw))
    for text in overrides:
        path, value = parse_override(text)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return out  # type: ignore[no-any-return]


def _describe(err: PydanticValidationError) -> ConfigError:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if not str(p).endswith("Config")]
    # Discriminated unions add the family tag to the path; users never wrote it.
    loc = [p for p in loc if p not in ("mlp", "gbm", "linear", "ensemble")]
    key = ".".join(loc) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        return ConfigError(f"Unknown config key '{key}'.", key=key)
    if first["type"] == "missing":
        return ConfigError(f"The config key '{key}' is required.", key=key)
    value = first.get("input")
    shown = repr(value) if not isinstance(value, dict) else "a table"
    msg = msg.removeprefix("Value error, ")
    return ConfigError(f"The config key '{key}' is invalid: {msg}. Got {shown} instead.",
                       key=key, value=value)


def validate(raw: dict[str, Any], overrides: list[str] | None = None) -> Config:
    """Turn a raw dict (either shape) into a checked Config.

    Raises ConfigError naming the first bad key and its value.
    """
    if not isinstance(raw, dict):
        raise ConfigError("A config must be a table of keys. Got "
                          f"{type(raw).__name__} instead.")
    native = from_seed_format(raw) if is_seed_format(raw) else raw
    native = apply_overrides(native, overrides or [])
    try:
        return Config.model_validate(native)
    except PydanticValidationError as err:
        raise _describe(err) from None


def read_raw(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON file into a dict; JSON is valid YAML, so one parser reads both."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"Config file '{p}' does not exist.", key="--conf") from None
    except OSError as err:
        raise ConfigError(f"Config file '{p}' cannot be read: {err.strerror}.",
                          key="--conf") from None
    try:
        raw = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        line = getattr(err, "lineno", None) or getattr(getattr(err, "problem_mark", None),
                                                        "line", None)
        where = f" near line {line}" if line else ""
        raise ConfigError(f"Config file '{p}' is not valid {p.suffix.lstrip('.') or 'YAML'}"
                          f"{where}.", key="--conf") from None
    if raw is None:
        raise ConfigError(f"Config file '{p}' is empty.", key="--conf")
    return raw  # type: ignore[no-any-return]


def load(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read, translate and validate a config file."""
    return validate(read_raw(path), overrides)
