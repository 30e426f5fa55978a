"""Request bodies in, validated houses out, or one error naming the row and field.

The judge is pydantic-core: the request type generated from the served
schema validates the whole body from bytes in one call (JSON parsing
included), and its first complaint becomes our ValidationError, worded
for the feature's kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pydantic_core

from estimator.errors import ValidationError
from estimator.schema import Schema
from estimator.serving.handlers import InvalidJSONError, RequestTooLargeError
from estimator.serving.schemas import ApiTypes
from estimator.serving.shortcut import taker


@dataclass
class Houses:
    """Validated houses (values checked, keys in schema order) and the v2 `explain` flag."""

    rows: list[dict[str, Any]]
    explain: bool = False


def _houses(parsed: Any, v2: bool) -> Houses:
    if v2:
        return Houses(rows=parsed["instances"], explain=bool(parsed.get("explain", False)))
    return Houses(rows=parsed)


def _shown(value: Any) -> str:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value).replace("nan", "NaN").replace("inf", "Infinity")
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class BodyParser:
    """Parses v1 (a list of houses) and v2 (`{"instances": [...]}`) bodies of one schema."""

    def __init__(self, schema: Schema, types: ApiTypes, max_batch: int) -> None:
        self.types = types
        self.max_batch = max_batch
        feats = schema.features
        self._kinds = {f.name: f.kind for f in feats}
        self._features = ", ".join(schema.names)
        self._width = len(feats)
        self._whole = [f.name for f in feats if f.kind in ("integer", "binary")]
        self._take_whole = taker(self._whole)

    def parse(self, body: bytes, v2: bool) -> Houses:
        """The houses of a body; raises ValidationError (or a subclass) for the first fault.

        The lenient type (unknown keys ignored) goes first. It also demands
        every feature of every house, so the houses hold at least n*k keys; a
        JSON key is followed by one colon and other colons can only sit inside
        strings, so when the body holds exactly as many colons as expected
        keys, no key was ignored. Otherwise the strict type judges.
        """
        try:
            parsed = (self.types.v2_lenient if v2 else self.types.v1_lenient).validate_json(body)
        except pydantic_core.ValidationError:
            parsed = None
        if parsed is not None:
            houses = _houses(parsed, v2)
            expected = len(houses.rows) * self._width + (1 + ("explain" in parsed) if v2 else 0)
            if body.count(b":") == expected:
                return self._whole_numbers(houses)
        try:
            parsed = (self.types.v2_body if v2 else self.types.v1_body).validate_json(body)
        except pydantic_core.ValidationError as err:
            raise self._refusal(err.errors(include_url=False)[0], v2) from None
        return self._whole_numbers(_houses(parsed, v2))

    def _whole_numbers(self, houses: Houses) -> Houses:
        """Refuse 2.0000000001 or 1e-20 where a whole number is due.

        pydantic's `multiple_of` forgives a float that close to a multiple;
        integer and binary features take exact whole numbers (the values
        arrive as floats).
        """
        if not self._whole:
            return houses
        values = list(map(self._take_whole, houses.rows))
        if all(map(float.is_integer, chain.from_iterable(values))):
            return houses
        row, field, value = next((i, name, v) for i, house in enumerate(values)
                                 for name, v in zip(self._whole, house, strict=True)
                                 if not v.is_integer())
        raise ValidationError(self._reason(self._kinds[field], value), row=row, field=field,
                              value=value)

    def _refusal(self, error: Any, v2: bool) -> ValidationError:
        """Our error, naming the row and field, for pydantic's first complaint."""
        kind, loc, value = error["type"], list(error["loc"]), error.get("input")
        if kind == "json_invalid":
            return InvalidJSONError(f"the body is not valid JSON ({error['ctx']['error']})")
        if v2:
            if len(loc) == 0:
                return ValidationError('the body must be a JSON object: {"instances": [...]}')
            if loc[0] != "instances" or (len(loc) == 1 and kind == "missing"):
                reason = ("field required" if kind == "missing" else
                          "is not allowed; the body holds 'instances' and 'explain'"
                          if kind == "extra_forbidden" else "must be true or false")
                return ValidationError(reason, field=str(loc[0]))
            loc = loc[1:]
            if not loc and kind not in ("too_short", "too_long"):
                return ValidationError("must be a JSON list of houses", field="instances")
        if not loc:
            if kind == "too_short":
                return ValidationError("the request holds no houses; send at least one")
            if kind == "too_long":
                return RequestTooLargeError(f"the request holds more than {self.max_batch} "
                                            "houses; split it into smaller batches")
            return ValidationError("the body must be a JSON list of houses, each an object "
                                   "keyed by feature name")
        row = int(loc[0])
        if len(loc) == 1:
            return ValidationError("each house must be a JSON object keyed by feature name",
                                   row=row)
        field = str(loc[1])
        if kind == "missing":
            return ValidationError("field required", row=row, field=field)
        if kind == "extra_forbidden":
            return ValidationError(f"is not a feature of this model (features: "
                                   f"{self._features})", row=row, field=field, value=value)
        return ValidationError(self._reason(self._kinds[field], value), row=row, field=field,
                               value=value)

    @staticmethod
    def _reason(kind: str, value: Any) -> str:
        got = _shown(value)
        if value is None:
            return "a value is required, got null"
        if isinstance(value, float) and not np.isfinite(value):
            return f"must be a finite number, got {got}"
        return {"numeric": f"must be a number, got {got}",
                "integer": f"must be a whole number, got {got}",
                "binary": f"must be 0 or 1, got {got}",
                "categorical": f"must be a string (a category), got {got}"}[kind]
