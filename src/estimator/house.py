"""`HouseIn`, the type of one house, generated from a version's feature schema.

A house is a TypedDict keyed by the feature names themselves, so that a name
with spaces or slashes needs no alias, and pydantic-core validates a whole
body from JSON into plain dicts in one call. The same annotated types give
/docs its fields, descriptions, observed ranges and examples, and
`estimator.validation` judges every house with them.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from estimator.schema import Feature, Schema


def _whole(value: float) -> float:
    # pydantic's multiple_of forgives 2.0000000001; a count must be exact.
    if not value.is_integer():
        raise PydanticCustomError("whole_number", "not a whole number")
    return value


def _zero_or_one(value: float) -> float:
    if value not in (0.0, 1.0):
        raise PydanticCustomError("binary", "not 0 or 1")
    return value


def _as_integer(schema: dict[str, Any]) -> None:
    schema["type"] = "integer"  # JSON Schema's integer admits 3.0 too


def _as_binary(schema: dict[str, Any]) -> None:
    schema["type"] = "integer"
    schema["enum"] = [0, 1]


def feature_type(feature: Feature) -> Any:
    """The annotated type of one feature's value, with its documentation."""
    if feature.kind == "categorical":
        value: Any = Annotated[str, Strict()]
    elif feature.kind == "numeric":
        value = Annotated[float, Strict(), Field(allow_inf_nan=False)]
    else:
        check = _zero_or_one if feature.kind == "binary" else _whole
        shape = _as_binary if feature.kind == "binary" else _as_integer
        value = Annotated[float, Strict(), AfterValidator(check),
                          Field(allow_inf_nan=False, json_schema_extra=shape)]
    examples = list(feature.categories) if feature.kind == "categorical" else [feature.example]
    doc = Field(title=feature.name, description=feature.describe(), examples=examples or None)
    return Annotated[value | None if feature.optional else value, doc]


def typed_dict(title: str, fields: dict[str, Any], **config: Any) -> Any:
    """A TypedDict built at run time, so that a key may be any string ('living area')."""
    make: Any = TypedDict
    built = make(title, fields)
    built.__pydantic_config__ = ConfigDict(title=title, **config)  # type: ignore[typeddict-item]
    return built


def house_type(schema: Schema) -> Any:
    """`HouseIn`: one house keyed by feature name; unknown keys are refused."""
    return typed_dict("HouseIn", {
        f.name: NotRequired[feature_type(f)] if f.optional else feature_type(f)
        for f in schema.features}, extra="forbid")


