"""What the staff's pages show, computed from a version's schema and answers.

Plain functions from the served version to the values a template prints:
the form's fields in order of importance, prices as people read them, the
reasons as bars, the learning curves as an SVG polyline. No HTTP here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from estimator.predictor import Predictor
from estimator.schema import Feature, Schema

# Shown before the number ("$452,600"); any other unit follows it ("26.9 × $1,000").
CURRENCY_SYMBOLS = {"$", "€", "£", "¥", "₹", "₩", "R$", "A$", "C$", "CHF", "kr"}
REASONS = 5


@dataclass(frozen=True)
class FormField:
    """One labelled input of the estimate form."""

    name: str
    kind: str
    help: str
    hint: str
    optional: bool
    options: list[str] | None  # a select's choices; None for a text input
    value: str
    error: str | None = None

    @property
    def input_mode(self) -> str:
        return "numeric" if self.kind in ("integer", "binary") else "decimal"


def number(value: float) -> str:
    """A figure as people read it: thousands separators, no exponent, 3 significant digits
    at least."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def price(value: float, unit: str, signed: bool = False) -> str:
    """A price with the data's currency or unit: '$452,600', '26.9 × $1,000', '+1.2 × $1,000'."""
    sign = ("+" if value >= 0 else "−") if signed else ("−" if value < 0 else "")
    digits = number(abs(value))
    if unit in CURRENCY_SYMBOLS:
        return f"{sign}{unit}{digits}"
    return f"{sign}{digits} {unit}".strip()


def shown(value: Any) -> str:
    """A feature's value in a form field or table: whole numbers without a decimal point,
    others in their shortest exact form; a gap as an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def ordered_features(predictor: Predictor) -> list[Feature]:
    """The schema's features, the ones that move the price most first (when the version
    knows its importances), so that the first fields on the form are the ones that matter."""
    features = list(predictor.schema.features)
    if predictor.explainer is None:
        return features
    importance = predictor.explainer.importance.tolist()
    order = sorted(range(len(features)), key=lambda j: -importance[j])
    return [features[j] for j in order]


def _hint(feature: Feature) -> str:
    if feature.kind == "categorical":
        common = max(feature.categories, key=feature.categories.__getitem__, default=None)
        return f"Most common: {common}." if common is not None else ""
    if feature.min is None or feature.max is None:
        return ""
    middle = feature.quantiles.get("p50")
    typical = f"; typically {shown(_round(middle))}" if middle is not None else ""
    return f"Seen {shown(_round(feature.min))} to {shown(_round(feature.max))}{typical}."


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def form_fields(predictor: Predictor, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None) -> list[FormField]:
    """The form's inputs: the values sent back (so nothing typed is lost), else a typical
    training house; the API's message beside the field it names."""
    example = predictor.schema.example_row()
    given = values if values is not None else {k: shown(v) for k, v in example.items()}
    errors = errors or {}
    fields = []
    for f in ordered_features(predictor):
        options = None
        if f.kind == "categorical":
            options = list(f.categories)
        elif f.kind == "binary":
            options = ["0", "1"]
        fields.append(FormField(name=f.name, kind=f.kind, help=f.description.strip(),
                                hint=_hint(f), optional=f.optional, options=options,
                                value=given.get(f.name, ""), error=errors.get(f.name)))
    return fields


def house_from_form(schema: Schema, form: dict[str, str]) -> dict[str, Any]:
    """The JSON house a form describes. An empty field is left out (a gap, or the API's
    'field required'); a number typed is sent as a number, anything else as the text typed,
    so that the API judges it and its message is the one shown."""
    house: dict[str, Any] = {}
    for f in schema.features:
        text = form.get(f.name, "").strip()
        if not text:
            continue
        house[f.name] = text if f.kind == "categorical" else _typed(text)
    return house


def _typed(text: str) -> Any:
    """A JSON number stays a number; anything else (words, 'true', '1,200') stays text."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


def reasons(contributions: dict[str, float], unit: str, n: int = REASONS) -> list[dict[str, Any]]:
    """The `n` features that moved this price most, as bars scaled to the largest."""
    top = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))[:n]
    largest = max((abs(v) for _, v in top), default=0.0) or 1.0
    return [{"feature": name, "amount": price(value, unit, signed=True),
             "up": value >= 0, "width": round(100 * abs(value) / largest, 1)}
            for name, value in top]


def polyline(values: list[float], width: float = 320, height: float = 120,
             low: float | None = None, high: float | None = None) -> str:
    """SVG `points` of a curve scaled into a `width` x `height` box (y grows downwards)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if len(finite) < 2:
        return ""
    low = min(finite) if low is None else low
    high = max(finite) if high is None else high
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(f"{i * step:.1f},{height - (v - low) / span * height:.1f}"
                    for i, v in enumerate(values) if v is not None and math.isfinite(v))


def learning_curves(curves: dict[str, Any]) -> dict[str, Any] | None:
    """Training and validation MAE per epoch or round as two polylines on one scale."""
    train = [float(v) for v in curves.get("train_mae") or []]
    val = [float(v) for v in curves.get("val_mae") or []]
    both = [v for v in train + val if math.isfinite(v)]
    if len(both) < 2:
        return None
    low, high = float(np.min(both)), float(np.percentile(both, 98))
    clipped = [[min(v, high) for v in series] for series in (train, val)]
    return {"unit": curves.get("unit", "epoch"), "steps": max(len(train), len(val)),
            "train": polyline(clipped[0], low=low, high=high),
            "val": polyline(clipped[1], low=low, high=high),
            "low": number(low), "high": number(high), "best": curves.get("best_epoch")}
