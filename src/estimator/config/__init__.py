"""The training config: pydantic models, the article's seed format, and overrides.

A config is YAML or JSON. Two shapes are accepted: the native one (see
DESIGN.md) and the article's `config.json` (`model_config`,
`training_config`, Keras vocabulary), which is translated to the native
shape before validation so that both are checked by the same rules.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from estimator.config.base import Strict
from estimator.config.families import (
    ACTIVATIONS,
    EnsembleConfig,
    GBMConfig,
    LinearConfig,
    MemberConfig,
    MLPConfig,
    ModelConfig,
    OptimizerConfig,
)
from estimator.config.search import (
    CandidateConfig,
    ParamSpec,
    SelectionConfig,
    TuneConfig,
    TuneMetric,
)
from estimator.config.sections import (
    DataConfig,
    EarlyStoppingConfig,
    IntervalsConfig,
    PreprocessingConfig,
    RetrainConfig,
    SplitConfig,
    TrainingConfig,
)
from estimator.config.seed import from_seed_format, is_seed_format
from estimator.errors import ConfigError

__all__ = [
    "ACTIVATIONS", "CandidateConfig", "Config", "DataConfig", "EarlyStoppingConfig",
    "EnsembleConfig", "GBMConfig", "IntervalsConfig", "LinearConfig", "MLPConfig",
    "MemberConfig", "ModelConfig",
    "OptimizerConfig", "ParamSpec", "PreprocessingConfig", "RetrainConfig", "SelectionConfig",
    "SplitConfig",
    "TrainingConfig", "TuneConfig", "TuneMetric", "apply_overrides", "from_seed_format",
    "is_seed_format", "load", "parse_override", "read_raw", "validate",
]


class Config(Strict):
    """A whole training run, as read from a config file."""

    name: str = Field("boston-price", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    data: DataConfig = Field(default_factory=lambda: DataConfig(source="boston"))
    split: SplitConfig = Field(default_factory=SplitConfig)
    preprocessing: PreprocessingConfig = Field(default_factory=PreprocessingConfig)
    model: ModelConfig = Field(default_factory=MLPConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    intervals: IntervalsConfig | None = Field(default_factory=IntervalsConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
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


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config tables an annotation admits (through Optional, unions and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _keys_at(loc: list[str]) -> list[str]:
    """The keys valid where `loc` points: the table its last key was written in."""
    tables: list[type[BaseModel]] = [Config]
    for part in loc[:-1]:
        fields = [t.model_fields[part] for t in tables if part in t.model_fields]
        if fields:
            tables = [m for f in fields for m in _models_in(f.annotation)]
        else:  # the family tag of a discriminated union, which pydantic adds to the path
            tables = [t for t in tables if t.model_fields.get("family") is not None
                      and t.model_fields["family"].default == part] or tables
    return sorted({k for t in tables for k in t.model_fields})


def _describe(err: PydanticValidationError) -> ConfigError:
    first = err.errors()[0]
    raw_loc = [str(p) for p in first["loc"] if not str(p).endswith("Config")]
    # Discriminated unions add the family tag to the path; users never wrote it.
    loc = [p for p in raw_loc if p not in ("mlp", "gbm", "linear", "ensemble")]
    key = ".".join(loc) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        close = difflib.get_close_matches(raw_loc[-1], _keys_at(raw_loc), n=1, cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return ConfigError(f"Unknown config key '{key}'.{hint}", key=key)
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
