"""Request and answer models of the HTTP API.

The request bodies wrap the served version's `HouseIn` (generated from its
feature schema by `estimator.validation`), so the same types validate a
body and describe it in /docs: every field with its kind, description,
observed range, whether it may be left out, and a real training house as
the example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, NotRequired

from pydantic import BaseModel, Field, Strict, TypeAdapter

from estimator.house import typed_dict
from estimator.validation import HouseRules

REF_TEMPLATE = "#/components/schemas/{model}"


class ErrorPublic(BaseModel):
    """Every refused request answers this, naming the row and field when there is one."""

    error: str = Field(description="A short code: invalid_input, invalid_json, too_large, ...")
    row: int | None = Field(None, description="0-based index of the house at fault.")
    field: str | None = Field(None, description="The feature (or body key) at fault.")
    message: str = Field(description="What is wrong, in a sentence.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for routes that may refuse with these statuses."""
    return {status: {"model": ErrorPublic} for status in statuses}


class ModelRef(BaseModel):
    name: str
    version: str


class WarningPublic(BaseModel):
    """Something about a priced house that deserves a second look."""

    field: str = Field(description="The feature concerned.")
    message: str = Field(description="A gap imputed, a category never seen in training, or a "
                         "value far outside the training range.")


class DifferencePublic(BaseModel):
    field: str
    value: float | int | str | None = Field(description="The house's value.")
    comparable: float | int | str | None = Field(description="The comparable house's value.")


class ComparablePublic(BaseModel):
    """A training house much like the one estimated, and what it sold for."""

    price: float = Field(description="Its price in the training data.")
    distance: float = Field(description="How far it is, in standardised features weighted by "
                            "their importance (0: the same house).")
    house: dict[str, float | int | str | None] = Field(description="Its features.")
    differences: list[DifferencePublic] = Field(description="Where it differs most.")


class PredictionV2(BaseModel):
    id: str = Field(description="Unique id of this estimate (to report its sale price later).")
    price: float = Field(description="The estimated price, in the target's unit.")
    lower: float | None = Field(None, description="The low end of the price range at `level` "
                                "(absent for a version trained without ranges).")
    upper: float | None = Field(None, description="The high end of the price range.")
    warnings: list[WarningPublic] = Field(default_factory=list,
                                          description="What this house's estimate rests on.")
    base: float | None = Field(None, description="With `explain`: the price the "
                               "contributions start from (a typical house's).")
    contributions: dict[str, float] | None = Field(None, description=(
        "With `explain`: each feature's part of the price, in price units; with `base` they "
        "add up to `price`."))
    comparables: list[ComparablePublic] | None = Field(None, description=(
        "With `explain`: the 5 most similar training houses, nearest first."))


class PredictionsV2Public(BaseModel):
    model: ModelRef
    level: float | None = Field(None, description="The share of sale prices a range is meant "
                                "to hold, as measured on held-out houses at training.")
    predictions: list[PredictionV2]


@dataclass(frozen=True)
class ApiTypes:
    """The request types of one served schema, which validate bodies from JSON bytes."""

    v1_body: TypeAdapter[Any]
    v2_body: TypeAdapter[Any]
    v1_answer: TypeAdapter[Any]
    example: dict[str, Any]

    @classmethod
    def build(cls, rules: HouseRules, max_batch: int) -> ApiTypes:
        house = rules.house
        houses = Annotated[list[house], Field(min_length=1, max_length=max_batch)]  # type: ignore[valid-type]
        request_v2 = typed_dict("PredictRequestV2", {
            "instances": Annotated[houses, Field(description="The houses to estimate.")],
            "explain": NotRequired[Annotated[bool, Strict(), Field(
                description="Also answer each feature's contribution to the price and the "
                            "most similar training houses.")]],
            "level": NotRequired[Annotated[float, Strict(), Field(gt=0, lt=1, description=(
                "The level of the price ranges, e.g. 0.8 for 80 % (default: the version's, "
                "0.9 unless its config said otherwise); `?level=` does the same."))]],
        }, extra="forbid")
        answer_v1 = typed_dict("PredictionsV1Public", {
            "inputData": Annotated[list[house], Field(description="The houses as sent.")],  # type: ignore[valid-type]
            "predictions": Annotated[list[dict[str, float]], Field(
                description='One {"Prediction price i": price} per house, in order.')],
        })
        return cls(v1_body=TypeAdapter(houses), v2_body=TypeAdapter(request_v2),
                   v1_answer=TypeAdapter(answer_v1), example=rules.schema.example_row())

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
