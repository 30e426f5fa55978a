"""Training the MLP with PyTorch on the CPU, seeded and deterministic.

The trained network is handed back as an `MLPModel` (NumPy weights), so
nothing downstream ever touches PyTorch.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from estimator.config import MLPConfig, TrainingConfig
from estimator.models.base import Curves, FloatArray, Progress, no_progress
from estimator.models.mlp import MLPModel


def _activation(name: str) -> Any:
    import torch.nn as nn

    makers: dict[str, Any] = {
        "relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU,
        "selu": nn.SELU, "gelu": lambda: nn.GELU(approximate="tanh"),
        "leaky_relu": lambda: nn.LeakyReLU(0.01), "linear": nn.Identity,
    }
    return makers[name]()


def _network(n_inputs: int, cfg: MLPConfig) -> Any:
    import torch.nn as nn

    parts: list[Any] = []
    width = n_inputs
    for units, act in zip(cfg.layers, cfg.hidden_activations, strict=True):
        parts += [nn.Linear(width, units), _activation(act)]
        if cfg.dropout > 0:
            parts.append(nn.Dropout(cfg.dropout))
        width = units
    parts.append(nn.Linear(width, 1))
    return nn.Sequential(*parts)


def _linears(net: Any) -> list[Any]:
    import torch.nn as nn

    return [m for m in net if isinstance(m, nn.Linear)]


def _load_weights(net: Any, init: MLPModel) -> None:
    import torch

    linears = _linears(net)
    shapes = [tuple(lin.weight.shape) for lin in linears]
    wanted = [tuple(w.T.shape) for w in init.weights]
    if shapes != wanted:
        from estimator.errors import ConfigError

        raise ConfigError("The pretrained model's layers "
                          f"{init.layers} do not match the config's layers; fine-tuning "
                          "keeps the architecture.", key="model.layers")
    with torch.no_grad():
        for lin, w, b in zip(linears, init.weights, init.biases, strict=True):
            lin.weight.copy_(torch.from_numpy(w.T.astype(np.float32)))
            lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))


def _to_numpy(net: Any, cfg: MLPConfig, y_mean: float, y_scale: float) -> MLPModel:
    linears = _linears(net)
    weights = [lin.weight.detach().numpy().T.astype(np.float64) for lin in linears]
    biases = [lin.bias.detach().numpy().astype(np.float64) for lin in linears]
    return MLPModel(weights=weights, biases=biases, activations=cfg.hidden_activations,
                    y_mean=y_mean, y_scale=y_scale)


def fit_mlp(cfg: MLPConfig, training: TrainingConfig, X: FloatArray, y: FloatArray,
            X_val: FloatArray | None = None, y_val: FloatArray | None = None, *,
            seed: int = 42, init: MLPModel | None = None,
            to_price: Any = None, progress: Progress = no_progress) -> tuple[MLPModel, Curves]:
    """Train a network; with a validation set and early stopping, keep the best epoch's weights.

    The target is standardised inside the model (kept as y_mean/y_scale),
    which makes the same learning rate work for prices in $1000s or in
    dollars. `to_price` maps the model's target space back to prices, so
    that the learning curves' MAE reads in the user's units.
    """
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(seed)
    if init is not None:
        y_mean, y_scale = init.y_mean, init.y_scale
    else:
        y_mean = float(np.mean(y))
        y_scale = float(np.std(y)) or 1.0
    net = _network(X.shape[1], cfg)
    if init is not None:
        _load_weights(net, init)
    xt = torch.from_numpy(X.astype(np.float32))
    yt = torch.from_numpy(((y - y_mean) / y_scale).astype(np.float32))
    has_val = X_val is not None and y_val is not None and len(X_val) > 0
    if has_val:
        assert X_val is not None and y_val is not None
        xv = torch.from_numpy(X_val.astype(np.float32))
        yv = torch.from_numpy(((y_val - y_mean) / y_scale).astype(np.float32))
    loss_fn = {"mse": torch.nn.MSELoss(), "mae": torch.nn.L1Loss(),
               "huber": torch.nn.HuberLoss()}[cfg.loss]
    opt_cfg = cfg.optimizer
    params = net.parameters()
    optimizer: torch.optim.Optimizer
    if opt_cfg.name == "adam":
        optimizer = torch.optim.Adam(params, lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay)
    elif opt_cfg.name == "adamw":
        optimizer = torch.optim.AdamW(params, lr=opt_cfg.lr, weight_decay=opt_cfg.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=opt_cfg.lr, momentum=opt_cfg.momentum,
                                    weight_decay=opt_cfg.weight_decay)
    price = to_price or (lambda v: v)

    def evaluate(xs: Any, ys: Any, y_true: FloatArray) -> tuple[float, float]:
        net.eval()
        with torch.no_grad():
            out = net(xs)[:, 0]
            loss = float(loss_fn(out, ys))
        pred = out.numpy().astype(np.float64) * y_scale + y_mean
        return loss, float(np.mean(np.abs(price(pred) - price(y_true))))

    curves: Curves = {"unit": "epoch", "train_loss": [], "train_mae": [], "val_loss": [],
                      "val_mae": []}
    stopping = training.early_stopping
    best_loss, best_epoch, best_state, waited = float("inf"), 0, None, 0
    n, bs = len(xt), training.batch_size
    for epoch in range(1, training.epochs + 1):
        net.train()
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            optimizer.zero_grad()
            loss = loss_fn(net(xt[idx])[:, 0], yt[idx])
            loss.backward()
            optimizer.step()
        tr_loss, tr_mae = evaluate(xt, yt, y)
        curves["train_loss"].append(tr_loss)
        curves["train_mae"].append(tr_mae)
        shown = {"loss": tr_loss, "mae": tr_mae}
        if has_val:
            assert y_val is not None
            v_loss, v_mae = evaluate(xv, yv, y_val)
            curves["val_loss"].append(v_loss)
            curves["val_mae"].append(v_mae)
            shown.update(val_loss=v_loss, val_mae=v_mae)
            if v_loss < best_loss - (stopping.min_delta if stopping else 0.0):
                best_loss, best_epoch, waited = v_loss, epoch, 0
                if stopping:
                    best_state = copy.deepcopy(net.state_dict())
            else:
                waited += 1
        progress(epoch, training.epochs, shown)
        if stopping and has_val and waited >= stopping.patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    curves["epochs_run"] = len(curves["train_loss"])
    curves["best_epoch"] = best_epoch if (stopping and has_val) else curves["epochs_run"]
    return _to_numpy(net, cfg, y_mean, y_scale), curves
