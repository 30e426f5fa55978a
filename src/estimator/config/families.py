"""One config table per model family, in the Keras words the article uses where it can."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from estimator.config.base import Strict

ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "leaky_relu", "linear")
_KERAS_LOSSES = {
    "mse": "mse", "mean_squared_error": "mse",
    "mae": "mae", "mean_absolute_error": "mae",
    "huber": "huber", "huber_loss": "huber",
}



class OptimizerConfig(Strict):
    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(0.001, gt=0, le=10)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)

    @field_validator("name", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v


class MLPConfig(Strict):
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


class GBMConfig(Strict):
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


class LinearConfig(Strict):
    """Ridge regression: the baseline every other family must beat."""

    family: Literal["linear"] = "linear"
    alpha: float = Field(1.0, ge=0)


MemberConfig = Annotated[MLPConfig | GBMConfig | LinearConfig, Field(discriminator="family")]


def _gbm_and_mlp() -> list[MLPConfig | GBMConfig | LinearConfig]:
    return [GBMConfig(), MLPConfig()]


class EnsembleConfig(Strict):
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
