"""The `tune:` and `selection:` sections: what to search, and how to choose among models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from estimator.config.base import Strict
from estimator.config.families import GBMConfig, LinearConfig, MLPConfig, ModelConfig
from estimator.config.sections import PreprocessingConfig, TrainingConfig

TuneMetric = Literal["mae", "rmse", "r2", "mape"]


class ParamSpec(Strict):
    """One searched config key: a range `low`..`high` (integers give an integer range) or
    `choices`; `model.layers` takes `layers: [min, max]` hidden layers of `units: [min, max]`."""

    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: list[Any] | None = None
    layers: tuple[int, int] | None = None
    units: tuple[int, int] | None = None


class TuneConfig(Strict):
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


class CandidateConfig(Strict):
    """A candidate of `estimator select`: the config with these sections replaced."""

    label: str | None = None
    model: ModelConfig
    training: TrainingConfig | None = None
    preprocessing: PreprocessingConfig | None = None


class SelectionConfig(Strict):
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
