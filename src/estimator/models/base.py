"""The one small interface every model family implements.

A fitted model maps preprocessed inputs to the (possibly log-transformed)
target with NumPy, or XGBoost for trees, alone. Training code lives beside
it but imports its heavy libraries (PyTorch, scikit-learn) only when
called, so that loading a model for serving never pulls them in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Curves = dict[str, Any]
# Called after each epoch or boosting round: (step, total, metrics so far).
Progress = Callable[[int, int, dict[str, float]], None]

M = TypeVar("M", bound="Model")


class Model(Protocol):
    """What the predictor calls on every family; nothing else is looked up."""

    family: ClassVar[str]

    def predict(self, X: FloatArray) -> FloatArray:
        """Targets (in the preprocessor's target space) for preprocessed rows."""
        ...

    def contributions(self, X: FloatArray, reference: FloatArray) -> FloatArray:
        """Per-input contributions on the target's scale: `predict(X)` less their sum is
        the same base for every row, up to the model's own rounding (the explainer takes
        the base from the prediction itself).

        Methods that explain a difference from a reference input use `reference`
        (the training mean); trees explain against their own expected value.
        """
        ...

    def save(self, folder: Path) -> None:
        """Write weights as JSON, .npz or XGBoost JSON into `folder`; never pickle."""
        ...


def no_progress(step: int, total: int, metrics: dict[str, float]) -> None:
    """The default progress callback: say nothing."""
