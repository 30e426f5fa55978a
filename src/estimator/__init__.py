"""Estimator: a house-price model through its whole life.

The public surface, imported lazily so that `import estimator` pulls in
neither pandas nor PyTorch (the serving side must stay free of both):

    config              load / validate training configs
    train               train(config) -> TrainResult, a registered version
    load_predictor      a NumPy-only predictor from a reference or folder
    Predictor, Registry
    errors              the exception tree
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from estimator import config, errors
    from estimator.predictor import Predictor, load_predictor
    from estimator.registry import Registry
    from estimator.training import TrainResult, train

__all__ = ["Predictor", "Registry", "TrainResult", "config", "errors", "load_predictor",
           "train"]

_LAZY = {
    "config": ("estimator.config", None),
    "errors": ("estimator.errors", None),
    "Predictor": ("estimator.predictor", "Predictor"),
    "load_predictor": ("estimator.predictor", "load_predictor"),
    "Registry": ("estimator.registry", "Registry"),
    "TrainResult": ("estimator.training", "TrainResult"),
    "train": ("estimator.training", "train"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'estimator' has no attribute {name!r}")
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)
