"""The feature schema: the single source of truth about a model's inputs.

Inferred once from the training data (see `estimator.data.infer`), stored
as `schema.json` in every model version, and read back without pandas by
the predictor, the API's request models, the web form and drift checks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["numeric", "integer", "binary", "categorical"]
KINDS: tuple[Kind, ...] = ("numeric", "integer", "binary", "categorical")


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"


@dataclass(frozen=True)
class Feature:
    """One input column as seen in the training data."""

    name: str
    kind: Kind
    description: str = ""
    missing: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def optional(self) -> bool:
        """A feature with gaps in the training data may have gaps in a request too."""
        return self.missing > 0

    def describe(self) -> str:
        """The help text of the feature (/docs, the web form): kind, meaning, observed range."""
        text = self.description.strip()
        if text and not text.endswith("."):
            text += "."
        optional = (" May be null or left out: it had gaps in training and is imputed as "
                    "there." if self.optional else "")
        if self.kind == "categorical":
            cats = ", ".join(repr(c) for c in self.categories)
            return " ".join(part for part in (
                f"Categorical: one of {cats}.", text, "A value never seen in training is "
                "accepted and priced as an unknown category (with a warning).") if part) + optional
        kind = {"numeric": "Numeric.", "integer": "Integer (3.0 is accepted, 3.5 is not).",
                "binary": "Binary: 0 or 1."}[self.kind]
        seen = (f"Seen in training: {_num(self.min)} to {_num(self.max)}, median "
                f"{_num(self.quantiles.get('p50', self.mean))}.")
        return " ".join(part for part in (kind, text, seen) if part) + optional

    @property
    def example(self) -> float | int | str:
        """A typical value: the median, or the most frequent category."""
        if self.kind == "categorical":
            return max(self.categories, key=lambda c: self.categories[c]) if self.categories else ""
        mid = self.quantiles.get("p50", self.mean if self.mean is not None else 0.0)
        if self.kind in ("integer", "binary"):
            return round(mid)
        return round(float(mid), 6)


@dataclass(frozen=True)
class Target:
    """The price the model predicts; `unit` says how people read it ('$', '$1000s')."""

    name: str
    description: str = ""
    unit: str = ""
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None


@dataclass(frozen=True)
class Schema:
    """Features in model order, the target they predict, and a typical training house.

    `example` is a real row of the training data (see `data.infer`), so that
    the documented example is a house that exists; versions saved before it
    was recorded fall back to each feature's typical value.
    """

    features: tuple[Feature, ...]
    target: Target
    example: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def example_row(self) -> dict[str, float | int | str]:
        if self.example:
            return dict(self.example)
        return {f.name: f.example for f in self.features}

    def to_dict(self) -> dict[str, Any]:
        return {"features": [asdict(f) for f in self.features], "target": asdict(self.target),
                "example": self.example}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schema:
        feats = tuple(Feature(**f) for f in raw["features"])
        for f in feats:
            if f.kind not in KINDS:
                raise ValueError(f"feature '{f.name}' has unknown kind {f.kind!r}")
        return cls(features=feats, target=Target(**raw["target"]),
                   example=dict(raw.get("example", {})))
