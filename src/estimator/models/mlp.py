"""A feed-forward network evaluated with NumPy.

Training happens in PyTorch (`mlp_training`), but what is kept and served
is this: the weights as float32 arrays in an .npz and the architecture in
JSON, so that a prediction is a few matrix products with no PyTorch. One
house, the service's commonest request, goes through the compiled forward
pass (`_speedups.c`) where the package was built with a C compiler.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np

from estimator.models.base import FloatArray

try:
    from estimator._speedups import forward, pack
except ImportError:  # pragma: no cover - installed without a C compiler: NumPy does it all
    forward = pack = None  # type: ignore[assignment]

MAX_PACKED_WIDTH = 1024  # the compiled forward pass's widest layer
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _gelu(x: FloatArray) -> FloatArray:
    # The tanh form, which the trainer uses too, so both sides agree exactly.
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))


# In the order of the compiled forward pass's activation codes.
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


Activation = Callable[[FloatArray], FloatArray]
Step = tuple[FloatArray, FloatArray | None, Activation | None]


class _Layers(NamedTuple):
    """The network as evaluated: (weights, bias or None, activation or None for relu in
    place) per hidden layer, then the output weights and bias, target scaling folded in;
    and for one house, the layers packed for the compiled forward pass (if built)."""

    hidden: list[Step]
    w_out: FloatArray
    b_out: float | None
    packed: object | None


@dataclass
class MLPModel:
    """Weights and biases per layer (the last one is the linear output) and target scaling."""

    weights: list[FloatArray]
    biases: list[FloatArray]
    activations: list[str]
    y_mean: float = 0.0
    y_scale: float = 1.0
    family: ClassVar[str] = "mlp"
    _plan: _Layers | None = field(default=None, init=False, repr=False, compare=False)

    def predict(self, X: FloatArray) -> FloatArray:
        # One house costs a microsecond of NumPy dispatch per operation, so the
        # plan keeps operations few (see `_compile`).
        plan = self._plan or self._compile()
        h = X
        for w, b, act in plan.hidden:
            h = np.dot(h, w)
            if b is not None:
                h += b
            h = np.maximum(h, 0.0, out=h) if act is None else act(h)
        out: FloatArray = np.dot(h, plan.w_out)
        if plan.b_out is not None:
            out += plan.b_out
        return out

    def predict_one(self, x: tuple[float, ...]) -> float:
        """One house, as a plain vector of its inputs.

        The service's commonest request. Through NumPy it would be eight
        calls, each paying a dispatch whose code is cold again on every
        request (most of a served one-house request's time); the compiled
        forward pass is one call. Without it, a batch of one.
        """
        plan = self._plan or self._compile()
        if plan.packed is not None:
            return forward(plan.packed, x)
        return float(self.predict(np.array([x], dtype=np.float64))[0])

    def fold_input(self, shift: FloatArray, scale: FloatArray) -> MLPModel:
        """The same network taking raw inputs `x` where this one takes `(x - shift) / scale`.

        The affine map moves into the first layer: `W' = W / scale`, `b' = b - (shift / scale) W`.
        """
        w0 = self.weights[0] / scale[:, None]
        b0 = self.biases[0] - (shift / scale) @ self.weights[0]
        return MLPModel(weights=[w0, *self.weights[1:]], biases=[b0, *self.biases[1:]],
                        activations=self.activations, y_mean=self.y_mean, y_scale=self.y_scale)

    def _compile(self) -> _Layers:
        """The layers with fewer operations and the same function.

        The target scaling moves into the output layer, and a constant unit
        (value 1) rides along every hidden layer whose activation keeps 1 at 1
        (relu, elu, leaky relu, linear), so that the next layer's bias becomes
        one more row of its weights: a product and an activation per layer.
        """
        hidden: list[Step] = []
        carried = False  # whether the previous layer's last unit is the constant 1
        for w, b, name in zip(self.weights[:-1], self.biases[:-1], self.activations,
                              strict=True):
            act = ACTIVATIONS[name]
            bias: FloatArray | None = b
            if carried:
                w, bias = np.vstack([w, b[None, :]]), None
            carried = float(act(np.ones(1))[0]) == 1.0
            if carried:
                unit = np.zeros((w.shape[0], 1))
                if bias is None:
                    unit[-1, 0] = 1.0
                else:
                    bias = np.append(bias, 1.0)
                w = np.hstack([w, unit])
            hidden.append((w, bias, None if name == "relu" else act))
        w_out = self.weights[-1][:, 0] * self.y_scale
        bias_out = float(self.biases[-1][0]) * self.y_scale + self.y_mean
        b_out: float | None = bias_out
        if carried:
            w_out, b_out = np.append(w_out, bias_out), None
        self._plan = _Layers(hidden=hidden, w_out=w_out, b_out=b_out, packed=self._pack())
        return self._plan

    def _pack(self) -> object | None:
        """The layers for the compiled forward pass, target scaling folded into the last."""
        if pack is None or max(max(w.shape) for w in self.weights) > MAX_PACKED_WIDTH:
            return None
        weights = [*self.weights[:-1], self.weights[-1] * self.y_scale]
        biases = [*self.biases[:-1], self.biases[-1] * self.y_scale + self.y_mean]
        codes = list(ACTIVATIONS)
        return pack([np.ascontiguousarray(w, dtype=np.float64) for w in weights],
                    [np.ascontiguousarray(b, dtype=np.float64) for b in biases],
                    [codes.index(name) for name in self.activations])

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
