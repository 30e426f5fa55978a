"""Where the rows come from, how they are split and prepared, and how long to train."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from estimator.config.base import Strict


class DataConfig(Strict):
    """Where the rows come from: the bundled Boston data or a CSV/Parquet file."""

    source: Literal["boston"] | None = None
    path: str | None = None
    target: str | None = None
    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    unit: str | None = Field(None, description="How prices read on the web page: a currency "
                             "symbol ('$', '€') or a unit ('k€'); Boston's is '× $1,000'.")

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if (self.source is None) == (self.path is None):
            raise ValueError("give exactly one of 'source: boston' or 'path: FILE'")
        if self.path is not None and not self.target:
            raise ValueError("a data file needs 'target', the column to predict")
        return self


class SplitConfig(Strict):
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


class PreprocessingConfig(Strict):
    """Fitted on the training split only and saved with the model."""

    impute: Literal["median", "mean"] = "median"
    scale: bool = True
    log_target: bool = False
    coordinates: bool = Field(False, description=(
        "Add latitude and longitude rotated by 15 to 75 degrees, so that trees can cut "
        "along diagonal borders; needs features named latitude and longitude."))
    ratios: bool = Field(False, description=(
        "Add the ratio of every pair of non-negative numeric features that rise together "
        "(correlation of 0.7 or more in training: rooms per household, bedrooms per room), "
        "which trees cannot compute."))


class EarlyStoppingConfig(Strict):
    patience: int = Field(20, gt=0)
    min_delta: float = Field(0.0, ge=0)


class TrainingConfig(Strict):
    """Epoch-based settings; used by the MLP."""

    batch_size: int = Field(32, gt=0)
    epochs: int = Field(200, gt=0)
    early_stopping: EarlyStoppingConfig | None = None


class IntervalsConfig(Strict):
    """Price ranges: a conformal calibration on held-out residuals, stored with the version.

    Each training row is priced by one of `folds` models that did not see it,
    which costs that many extra fits; `intervals: null` trains without ranges.
    """

    level: float = Field(0.9, gt=0, lt=1, description="The default level of a range.")
    folds: int = Field(5, ge=2, description="Folds that give every training row a held-out "
                       "residual.")
    bands: int = Field(3, ge=1, le=10, description="Price bands of the prediction, each "
                       "calibrated on its own, so that cheap and dear houses are both covered.")


class RetrainConfig(Strict):
    """How `estimator retrain` judges a challenger against the champion on recent sales."""

    window: float = Field(0.3, gt=0, lt=1, description="The most recent share of the new sold "
                          "houses kept out of training, on which both models are scored.")
    min_window: int = Field(30, ge=10, description="The fewest sold houses a judgement needs.")
    confidence: float = Field(0.95, ge=0.5, lt=1, description="How sure the paired bootstrap "
                              "must be that the challenger's median error is lower.")
    resamples: int = Field(2000, ge=100, description="Bootstrap resamples of the window.")
