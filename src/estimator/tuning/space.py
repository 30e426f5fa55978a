"""Search spaces: which config keys a study varies, and over which values.

A space maps dotted config keys (`model.max_depth`, `training.batch_size`)
to a `ParamSpec`. Each family has a default space; the config's `tune.space`
adds keys, changes them, or (set to null) drops them. A trial's suggestions
become config overrides, and the overridden config is validated like any
other, so a space can never produce a config that training would refuse.
"""

from __future__ import annotations

from typing import Any

from estimator import derived
from estimator.config import Config, ParamSpec, TuneConfig, validate
from estimator.errors import ConfigError
from estimator.schema import Schema

LAYERS_KEY = "model.layers"


def _r(low: float, high: float, log: bool = False) -> ParamSpec:
    return ParamSpec(low=low, high=high, log=log)


DEFAULT_SPACES: dict[str, dict[str, ParamSpec]] = {
    "mlp": {
        LAYERS_KEY: ParamSpec(layers=(1, 3), units=(16, 256)),
        "model.dropout": _r(0.0, 0.3),
        "model.loss": ParamSpec(choices=["mse", "huber", "mae"]),
        "model.optimizer.lr": _r(1e-4, 1e-2, log=True),
        "model.optimizer.weight_decay": _r(1e-6, 1e-2, log=True),
        "training.batch_size": ParamSpec(choices=[8, 16, 32, 64, 128]),
        "training.epochs": _r(50, 400),
        "training.early_stopping.patience": _r(10, 40),
    },
    "gbm": {
        "model.n_estimators": _r(200, 3000, log=True),
        "model.learning_rate": _r(0.01, 0.3, log=True),
        "model.max_depth": _r(2, 10),
        "model.min_child_weight": _r(0.5, 20.0, log=True),
        "model.subsample": _r(0.5, 1.0),
        "model.colsample_bytree": _r(0.4, 1.0),
        "model.reg_lambda": _r(1e-3, 10.0, log=True),
        "model.reg_alpha": _r(1e-3, 10.0, log=True),
    },
    "linear": {
        "model.alpha": _r(1e-4, 1e3, log=True),
    },
    "ensemble": {},
}


BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512)


def _batch_sizes(rows: int) -> ParamSpec:
    """Batch sizes giving 5 to 500 steps an epoch: small batches for Boston, large for 20,000
    houses, where batches of 8 would make every trial crawl."""
    fit = [b for b in BATCH_SIZES if 5 <= rows / b <= 500]
    return ParamSpec(choices=fit or [min(BATCH_SIZES, key=lambda b: abs(rows / b - 50))])


def resolve(config: Config, rows: int | None = None,
            schema: Schema | None = None) -> dict[str, ParamSpec]:
    """The space a study of this config searches, checked key by key.

    With the number of training `rows`, the MLP's default batch sizes are
    those that make between 5 and 500 steps an epoch. With the data's
    `schema`, trees may also try derived columns: ratios, and rotated
    coordinates where the data has a latitude and a longitude. Raises
    ConfigError naming the `tune.space` key that is malformed or that the
    config does not have.
    """
    tc = config.tune or TuneConfig()
    family = config.model.family
    space = {} if tc.replace_space else dict(DEFAULT_SPACES[family])
    if rows and "training.batch_size" in space:
        space["training.batch_size"] = _batch_sizes(rows)
    if schema is not None and family == "gbm" and not tc.replace_space:
        space["preprocessing.ratios"] = ParamSpec(choices=[False, True])
        if derived.coordinates(schema) is not None:
            space["preprocessing.coordinates"] = ParamSpec(choices=[False, True])
    for key, spec in tc.space.items():
        if spec is None:
            space.pop(key, None)
        else:
            space[key] = spec
    if not space:
        raise ConfigError(f"Nothing to tune: the {family} family has no default search space "
                          "and tune.space names no key (for an ensemble, tune its members and "
                          "list them, or search model.members.N.* keys).", key="tune.space")
    for key, spec in space.items():
        _check(key, spec)
        apply(config, {key: _first(key, spec)})
    return space


def _check(key: str, spec: ParamSpec) -> None:
    where = f"tune.space.{key}"
    shapes = [spec.choices is not None, spec.low is not None or spec.high is not None,
              spec.layers is not None or spec.units is not None]
    if sum(shapes) != 1:
        raise ConfigError(f"'{where}' must give either low and high, or choices, or (for "
                          f"{LAYERS_KEY}) layers and units.", key=where)
    if spec.choices is not None and not spec.choices:
        raise ConfigError(f"'{where}' has an empty list of choices.", key=where)
    if shapes[1]:
        if spec.low is None or spec.high is None or spec.low > spec.high:
            raise ConfigError(f"'{where}' needs low <= high. Got low={spec.low!r}, "
                              f"high={spec.high!r} instead.", key=where)
        if spec.log and spec.low <= 0:
            raise ConfigError(f"'{where}' is searched on a log scale, so low must be above 0. "
                              f"Got {spec.low!r} instead.", key=where)
    if shapes[2]:
        if key != LAYERS_KEY or spec.layers is None or spec.units is None:
            raise ConfigError(f"'{where}': layers and units go together, and only with "
                              f"{LAYERS_KEY}.", key=where)
        if not (1 <= spec.layers[0] <= spec.layers[1] and 1 <= spec.units[0] <= spec.units[1]):
            raise ConfigError(f"'{where}' needs 1 <= min <= max for layers and units. Got "
                              f"layers={list(spec.layers)}, units={list(spec.units)} instead.",
                              key=where)


def _first(key: str, spec: ParamSpec) -> Any:
    if spec.choices is not None:
        return spec.choices[0]
    if spec.layers is not None and spec.units is not None:
        return [spec.units[0]] * spec.layers[0]
    return spec.low


def _is_int(spec: ParamSpec) -> bool:
    return isinstance(spec.low, int) and isinstance(spec.high, int) and \
        (spec.step is None or isinstance(spec.step, int))


def suggest(trial: Any, space: dict[str, ParamSpec]) -> dict[str, Any]:
    """Config overrides for one trial; parameters are named after their config keys."""
    out: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.choices is not None:
            out[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.layers is not None and spec.units is not None:
            n = trial.suggest_int(f"{key}.n", spec.layers[0], spec.layers[1])
            out[key] = [trial.suggest_int(f"{key}.{i}", spec.units[0], spec.units[1], log=True)
                        for i in range(n)]
        elif _is_int(spec):
            assert spec.low is not None and spec.high is not None
            out[key] = trial.suggest_int(key, int(spec.low), int(spec.high), log=spec.log,
                                         step=int(spec.step or 1))
        else:
            assert spec.low is not None and spec.high is not None
            out[key] = trial.suggest_float(key, float(spec.low), float(spec.high), log=spec.log,
                                           step=spec.step)
    return out


def _assign(node: Any, path: list[str], value: Any, key: str) -> None:
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"'tune.space.{key}' indexes past the list at '{part}'.",
                                  key=f"tune.space.{key}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if last:
            node[part] = value
        else:
            if not isinstance(node.get(part), dict | list):
                node[part] = {}
            node = node[part]


def apply(config: Config, overrides: dict[str, Any]) -> Config:
    """The config with dotted keys set, validated again.

    Setting `model.layers` keeps one activation (the config's first) for
    every layer, since the number of layers may change. Raises ConfigError.
    """
    raw = config.model_dump(mode="json")
    for key, value in overrides.items():
        _assign(raw, key.split("."), value, key)
        if key.endswith("layers") and isinstance(value, list):
            owner = raw
            for part in key.split(".")[:-1]:
                owner = owner[int(part)] if isinstance(owner, list) else owner[part]
            act = (owner.get("activations") or ["relu"])[0]
            owner["activations"] = [act] * len(value)
    return validate(raw)
