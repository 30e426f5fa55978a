"""A feed-forward network evaluated with NumPy.

Training happens in PyTorch (`mlp_training`), but what is kept and served
is this: the weights as float32 arrays in an .npz and the architecture in
JSON, so that a prediction is a few matrix products with no PyTorch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from estimator.models.base import FloatArray

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _gelu(x: FloatArray) -> FloatArray:
    # The tanh form, which the trainer uses too, so both sides agree exactly.
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


ACTIVATIONS: dict[str, Callable[[FloatArray], FloatArray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "gelu": _gelu,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.01 * x),
    "linear": lambda x: x,
}


@dataclass
class MLPModel:
    """Weights and biases per layer (the last one is the linear output) and target scaling."""

    weights: list[FloatArray]
    biases: list[FloatArray]
    activations: list[str]
    y_mean: float = 0.0
    y_scale: float = 1.0
    family: ClassVar[str] = "mlp"

    def predict(self, X: FloatArray) -> FloatArray:
        h = X
        for w, b, name in zip(self.weights[:-1], self.biases[:-1], self.activations,
                              strict=True):
            h = ACTIVATIONS[name](h @ w + b)
        out: FloatArray = (h @ self.weights[-1] + self.biases[-1])[:, 0]
        return out * self.y_scale + self.y_mean

    def contributions(self, X: FloatArray, reference: FloatArray) -> FloatArray:
        """DeepLIFT's rescale rule against `reference`: exact summation to the difference.

        Each unit's multiplier is its output's change over its input's change
        between the house and the reference (the slope where they coincide), and
        multipliers chain through the layers like gradients, so the inputs'
        contributions add up to f(x) - f(reference) for every activation.
        """
        h, r = X, reference[None, :]
        slopes: list[FloatArray] = []
        for w, b, name in zip(self.weights[:-1], self.biases[:-1], self.activations,
                              strict=True):
            act = ACTIVATIONS[name]
            z, zr = h @ w + b, r @ w + b
            h, r = act(z), act(zr)
            dz = z - zr
            tiny = np.abs(dz) < 1e-9
            step = 1e-6
            slope_at = (act(z + step) - act(z - step)) / (2 * step)
            slopes.append(np.where(tiny, slope_at, (h - r) / np.where(tiny, 1.0, dz)))
        g = np.broadcast_to(self.weights[-1][:, 0] * self.y_scale, (len(X),
                                                                    self.weights[-1].shape[0]))
        for w, slope in zip(reversed(self.weights[:-1]), reversed(slopes), strict=True):
            g = (g * slope) @ w.T
        return (X - reference) * g

    @property
    def layers(self) -> list[int]:
        return [int(w.shape[1]) for w in self.weights[:-1]]

    def save(self, folder: Path) -> None:
        arrays = {f"w{i}": w.astype(np.float32) for i, w in enumerate(self.weights)}
        arrays.update({f"b{i}": b.astype(np.float32) for i, b in enumerate(self.biases)})
        np.savez(folder / "mlp.npz", **arrays)  # type: ignore[arg-type]
        meta = {"family": "mlp", "layers": self.layers, "activations": self.activations,
                "n_inputs": int(self.weights[0].shape[0]), "y_mean": self.y_mean,
                "y_scale": self.y_scale}
        (folder / "mlp.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, folder: Path) -> MLPModel:
        meta = json.loads((folder / "mlp.json").read_text())
        n = len(meta["layers"]) + 1
        with np.load(folder / "mlp.npz", allow_pickle=False) as npz:
            weights = [npz[f"w{i}"].astype(np.float64) for i in range(n)]
            biases = [npz[f"b{i}"].astype(np.float64) for i in range(n)]
        return cls(weights=weights, biases=biases, activations=list(meta["activations"]),
                    y_mean=float(meta["y_mean"]), y_scale=float(meta["y_scale"]))
