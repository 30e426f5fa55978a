"""Request and response models generated from a served version's feature schema.

A house is a TypedDict whose keys are the feature names themselves, so a
name with spaces or slashes needs no alias, and pydantic-core validates a
whole request body from JSON in one call into plain dicts. The same types
give the OpenAPI document its fields, descriptions, observed ranges and a
working example built from the training data.

    numeric      a finite number
    integer      a whole number: 3 and 3.0 pass, 3.5 does not
    binary       0 or 1 (0.0 and 1.0 pass, true does not)
    categorical  a string; unseen values are accepted and priced as unknown
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, ConfigDict, Field, Strict, TypeAdapter
from typing_extensions import TypedDict

from estimator.schema import Feature, Schema

REF_TEMPLATE = "#/components/schemas/{model}"


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"


def describe(feature: Feature) -> str:
    """The text /docs shows for one feature: kind, meaning, observed range."""
    text = feature.description.strip()
    if text and not text.endswith("."):
        text += "."
    if feature.kind == "categorical":
        cats = ", ".join(repr(c) for c in feature.categories)
        return (f"Categorical: one of {cats}. {text} A value never seen in training is accepted "
                "and priced as an unknown category (with a warning in /v2/predict).").strip()
    kind = {"numeric": "Numeric.", "integer": "Integer (3.0 is accepted, 3.5 is not).",
            "binary": "Binary: 0 or 1."}[feature.kind]
    seen = (f"Seen in training: {_num(feature.min)} to {_num(feature.max)}, median "
            f"{_num(feature.quantiles.get('p50', feature.mean))}.")
    return " ".join(part for part in (kind, text, seen) if part)


def _as_integer(schema: dict[str, Any]) -> None:
    """Show a whole float as JSON Schema's integer, which admits 3.0 too."""
    schema["type"] = "integer"
    schema.pop("multipleOf", None)


def _as_binary(schema: dict[str, Any]) -> None:
    _as_integer(schema)
    schema.pop("minimum", None)
    schema.pop("maximum", None)
    schema["enum"] = [0, 1]


def feature_type(feature: Feature) -> Any:
    """The annotated type that validates one feature's value in a request."""
    doc: dict[str, Any] = {"title": feature.name, "description": describe(feature)}
    if feature.kind == "categorical":
        return Annotated[str, Strict(), Field(examples=list(feature.categories) or None, **doc)]
    doc["examples"] = [feature.example]
    if feature.kind == "numeric":
        return Annotated[float, Strict(), Field(allow_inf_nan=False, **doc)]
    # A whole float (3 or 3.0) rather than `int | float`: unions cost a third of the time
    # of validating a house, and the answer echoes the houses as sent anyway.
    bounds: dict[str, Any] = {"ge": 0, "le": 1} if feature.kind == "binary" else {}
    shape = _as_binary if feature.kind == "binary" else _as_integer
    return Annotated[float, Strict(), Field(allow_inf_nan=False, multiple_of=1, **bounds,
                                            json_schema_extra=shape, **doc)]


def typed_dict(title: str, fields: dict[str, Any], **config: Any) -> Any:
    """A TypedDict built at run time (keys may be any string), with pydantic settings."""
    make: Any = TypedDict
    built = make(title, fields)
    built.__pydantic_config__ = ConfigDict(title=title, **config)  # type: ignore[typeddict-item]
    return built


class ErrorPublic(BaseModel):
    """Every refused request answers this, naming the row and field when there is one."""

    error: str = Field(description="A short code: invalid_input, invalid_json, too_large, ...")
    row: int | None = Field(None, description="0-based index of the house at fault.")
    field: str | None = Field(None, description="The feature (or body key) at fault.")
    message: str = Field(description="What is wrong, in a sentence.")


class ModelRef(BaseModel):
    name: str
    version: str


class WarningPublic(BaseModel):
    """A priced house that deserves a second look (extrapolation, unseen category)."""

    row: int | None
    field: str | None
    message: str


class PredictionV2(BaseModel):
    id: str = Field(description="Unique id of this estimate (for feedback later).")
    price: float = Field(description="The estimated price, in the target's unit.")


class PredictionsV2Public(BaseModel):
    model: ModelRef
    predictions: list[PredictionV2]
    warnings: list[WarningPublic] = Field(default_factory=list)


def _bodies(schema: Schema, max_batch: int, extra: str) -> tuple[Any, Any, Any]:
    """HouseIn, the v1 body (a list of houses) and the v2 body, refusing or ignoring extras."""
    house = typed_dict("HouseIn", {f.name: feature_type(f) for f in schema.features},
                       extra=extra)
    houses = Annotated[list[house], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
    request_v2 = typed_dict("PredictRequestV2", {
        "instances": houses,
        "explain": NotRequired[Annotated[bool, Strict(), Field(
            description="Ask for each feature's contribution (not available yet).")]],
    }, extra=extra)
    return house, houses, request_v2


@dataclass(frozen=True)
class ApiTypes:
    """The generated types of one served schema and the adapters that validate bodies.

    `v1_body` and `v2_body` refuse unknown keys and are the judges of every
    request. `v1_lenient` and `v2_lenient` ignore unknown keys instead, which
    makes them a third faster; `parsing` uses them first and proves by
    counting that no key was ignored.
    """

    house: Any
    v1_body: TypeAdapter[Any]
    v2_body: TypeAdapter[Any]
    v1_lenient: TypeAdapter[Any]
    v2_lenient: TypeAdapter[Any]
    v1_answer: TypeAdapter[Any]
    example: dict[str, Any]

    @classmethod
    def build(cls, schema: Schema, max_batch: int) -> ApiTypes:
        house, houses, request_v2 = _bodies(schema, max_batch, "forbid")
        _, lenient_houses, lenient_v2 = _bodies(schema, max_batch, "ignore")
        answer_v1 = typed_dict("PredictionsV1Public", {
            "inputData": Annotated[list[house], Field(description="The houses as sent.")],  # type: ignore[valid-type]
            "predictions": Annotated[list[dict[str, float]], Field(
                description='One {"Prediction price i": price} per house, in order.')],
        })
        return cls(house=house, v1_body=TypeAdapter(houses), v2_body=TypeAdapter(request_v2),
                   v1_lenient=TypeAdapter(lenient_houses), v2_lenient=TypeAdapter(lenient_v2),
                   v1_answer=TypeAdapter(answer_v1), example=schema.example_row())

    def components(self) -> dict[str, Any]:
        """JSON schemas of the generated and fixed models, keyed as OpenAPI components."""
        out: dict[str, Any] = {}
        for adapter in (self.v2_body, self.v1_answer):
            generated = adapter.json_schema(ref_template=REF_TEMPLATE)
            out.update(generated.pop("$defs", {}))
            out[generated["title"]] = generated
        for model in (ErrorPublic, PredictionsV2Public):
            generated = model.model_json_schema(ref_template=REF_TEMPLATE)
            out.update(generated.pop("$defs", {}))
            out[model.__name__] = generated
        return out

    def v1_body_schema(self) -> dict[str, Any]:
        generated = self.v1_body.json_schema(ref_template=REF_TEMPLATE)
        generated.pop("$defs", None)
        return generated
