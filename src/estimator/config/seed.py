"""The article's `config.json` shape, translated to the native one before validation."""

from __future__ import annotations

from typing import Any

from estimator.errors import ConfigError


def from_seed_format(raw: dict[str, Any]) -> dict[str, Any]:
    """Translate the article's `config.json` into the native shape.

    The article lists its layers as `first_layer ... output_layer` with one
    activation each (`null` for the linear output); the native shape keeps
    the hidden layers only, since the output is always one linear unit.
    """
    known = {"data", "train_test_ratio", "model_config", "training_config"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"Unknown key '{unknown[0]}' in the article-style config.",
                          key=unknown[0])
    mc = dict(raw.get("model_config") or {})
    tc = dict(raw.get("training_config") or {})
    layers_raw = mc.pop("layers", {})
    if not isinstance(layers_raw, dict) or not layers_raw:
        raise ConfigError("'model_config.layers' must map layer names to unit counts.",
                          key="model_config.layers", value=layers_raw)
    units = list(layers_raw.values())
    activations = list(mc.pop("activations", [None] * len(units)))
    if "output_layer" in layers_raw:
        if layers_raw["output_layer"] != 1:
            raise ConfigError("'model_config.layers.output_layer' must be 1 for a price. Got "
                              f"{layers_raw['output_layer']!r} instead.",
                              key="model_config.layers.output_layer",
                              value=layers_raw["output_layer"])
        if len(activations) != len(units):
            raise ConfigError(
                f"'model_config.activations' has {len(activations)} entries but "
                f"'model_config.layers' has {len(units)}.", key="model_config.activations",
                value=activations)
        out_act = activations[-1]
        if out_act not in (None, "linear"):
            raise ConfigError("The output layer's activation must be null (linear). Got "
                              f"{out_act!r} instead.", key="model_config.activations",
                              value=out_act)
        units, activations = units[:-1], activations[:-1]
    optimiser = mc.pop("optimiser", mc.pop("optimizer", "adam"))
    model: dict[str, Any] = {
        "family": "mlp",
        "layers": units,
        "activations": activations,
        "loss": mc.pop("loss_function", "mse"),
        "optimizer": {"name": optimiser} if isinstance(optimiser, str) else optimiser,
    }
    native: dict[str, Any] = {"model": model}
    if "model_name" in mc:
        native["name"] = str(mc.pop("model_name"))
    if "metrics" in mc:
        native["metrics"] = mc.pop("metrics")
    if mc:
        key = sorted(mc)[0]
        raise ConfigError(f"Unknown key 'model_config.{key}' in the article-style config.",
                          key=f"model_config.{key}")
    data = raw.get("data", "boston")
    native["data"] = {"source": data} if isinstance(data, str) else data
    if "train_test_ratio" in raw:
        native["split"] = {"test": raw["train_test_ratio"]}
    native["training"] = tc
    return native


def is_seed_format(raw: dict[str, Any]) -> bool:
    return "model_config" in raw or "training_config" in raw or "train_test_ratio" in raw
