"""Model families behind one interface: `fit_model` to train, `load_model` to read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from estimator.config import Config, EnsembleConfig, GBMConfig, LinearConfig, MLPConfig
from estimator.errors import ConfigError, ModelLoadError
from estimator.models.base import Curves, FloatArray, Model, Progress, no_progress

FAMILIES = ("mlp", "gbm", "linear", "ensemble")


def load_model(folder: Path, family: str) -> Model:
    """Read a fitted model from its folder; only NumPy and XGBoost are imported."""
    if family == "mlp":
        from estimator.models.mlp import MLPModel

        return MLPModel.load(folder)
    if family == "gbm":
        from estimator.models.gbm import GBMModel

        return GBMModel.load(folder)
    if family == "linear":
        from estimator.models.linear import LinearModel

        return LinearModel.load(folder)
    if family == "ensemble":
        from estimator.models.ensemble import EnsembleModel

        return EnsembleModel.load(folder)
    raise ModelLoadError(f"Unknown model family {family!r} in '{folder}'.")


def fit_model(config: Config, X: FloatArray, y: FloatArray, X_val: FloatArray | None,
              y_val: FloatArray | None, *, init: Model | None = None, to_price: Any = None,
              progress: Progress = no_progress) -> tuple[Model, Curves]:
    """Train the family the config names; `init` continues from a parent version."""
    cfg = config.model
    if isinstance(cfg, MLPConfig):
        from estimator.models.mlp import MLPModel
        from estimator.models.mlp_training import fit_mlp

        assert init is None or isinstance(init, MLPModel)
        return fit_mlp(cfg, config.training, X, y, X_val, y_val, seed=config.seed, init=init,
                       to_price=to_price, progress=progress)
    if isinstance(cfg, GBMConfig):
        from estimator.models.gbm import GBMModel, fit_gbm

        assert init is None or isinstance(init, GBMModel)
        return fit_gbm(cfg, X, y, X_val, y_val, seed=config.seed, init=init, progress=progress)
    if isinstance(cfg, EnsembleConfig):
        from estimator.models.ensemble import fit_ensemble

        if init is not None:
            raise ConfigError("An ensemble cannot be fine-tuned; fine-tune its members and "
                              "train a new ensemble.", key="pretrained")
        return fit_ensemble(config, X, y, X_val, y_val, to_price=to_price, progress=progress)
    assert isinstance(cfg, LinearConfig)
    from estimator.models.linear import fit_linear

    return fit_linear(cfg, X, y)


__all__ = ["FAMILIES", "Curves", "FloatArray", "Model", "Progress", "fit_model", "load_model",
           "no_progress"]
