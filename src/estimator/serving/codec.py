"""The request path: a JSON body in, one NumPy matrix, one vectorised prediction, JSON out.

pydantic-core validates the whole body from bytes in one call; the raw
matrix is then filled column by column (no per-row Python beyond one
`itemgetter` pass), predicted by the served `Predictor`, and the answer
serialised once with orjson. Nothing here imports pandas or PyTorch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pydantic_core

from estimator.errors import ValidationError
from estimator.features import FloatArray
from estimator.predictor import Predictor
from estimator.schema import Feature
from estimator.serving.handlers import InvalidJSONError, RequestTooLargeError
from estimator.serving.schemas import ApiTypes

MAX_WARNINGS = 100


@dataclass
class Priced:
    """The houses of one request, their prices and what deserves a warning."""

    rows: list[dict[str, Any]]
    prices: FloatArray
    warnings: list[dict[str, Any]]


def _far_bounds(feature: Feature) -> tuple[float, float]:
    """Values beyond the observed range by more than the inter-quartile spread are 'far'."""
    if feature.kind in ("categorical", "binary") or feature.min is None or feature.max is None:
        return -np.inf, np.inf
    q = feature.quantiles
    spread = q.get("p75", 0.0) - q.get("p25", 0.0)
    if spread <= 0:
        spread = feature.max - feature.min
    return feature.min - spread, feature.max + spread


def _shown(value: Any) -> str:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value).replace("nan", "NaN").replace("inf", "Infinity")
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class Codec:
    """Validation, encoding and answers for one loaded version."""

    def __init__(self, predictor: Predictor, max_batch: int) -> None:
        self.predictor = predictor
        self.schema = predictor.schema
        self.max_batch = max_batch
        self.types = ApiTypes.build(self.schema, max_batch)
        feats = self.schema.features
        self._kinds = {f.name: f.kind for f in feats}
        self._numeric = [j for j, f in enumerate(feats) if f.kind != "categorical"]
        self._take_numeric = itemgetter(*(feats[j].name for j in self._numeric)) \
            if self._numeric else None
        self._categorical = [(j, f.name, {c: float(i) for i, c in enumerate(f.categories)})
                             for j, f in enumerate(feats) if f.kind == "categorical"]
        bounds = np.array([_far_bounds(f) for f in feats], dtype=np.float64).reshape(-1, 2)
        self._low, self._high = bounds[:, 0], bounds[:, 1]
        self._centre = np.array([f.mean if f.mean is not None else np.nan for f in feats])
        self._spread = np.array([f.std if f.std else np.nan for f in feats])
        self._keys = [f"Prediction price {i}" for i in range(max_batch)]
        self._features = ", ".join(self.schema.names)

    # -- parsing ---------------------------------------------------------------------------

    def parse_v1(self, body: bytes) -> list[dict[str, Any]]:
        """The houses of an article-style body (a JSON list); raises ValidationError."""
        try:
            rows: list[dict[str, Any]] = self.types.v1_body.validate_json(body)
        except pydantic_core.ValidationError as err:
            raise self._refusal(err.errors(include_url=False)[0], v2=False) from None
        return rows

    def parse_v2(self, body: bytes) -> tuple[list[dict[str, Any]], bool]:
        """The houses and the `explain` flag of a v2 body; raises ValidationError."""
        try:
            parsed = self.types.v2_body.validate_json(body)
        except pydantic_core.ValidationError as err:
            raise self._refusal(err.errors(include_url=False)[0], v2=True) from None
        return parsed["instances"], bool(parsed.get("explain", False))

    def _refusal(self, error: Any, v2: bool) -> ValidationError:
        """Our error, naming the row and field, for pydantic's first complaint."""
        kind, loc, value = error["type"], list(error["loc"]), error.get("input")
        if kind == "json_invalid":
            return InvalidJSONError(f"the body is not valid JSON ({error['ctx']['error']})")
        if v2:
            if len(loc) == 0:
                return ValidationError('the body must be a JSON object: {"instances": [...]}')
            if loc[0] != "instances":
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

    # -- encoding and predicting -----------------------------------------------------------

    def price(self, rows: list[dict[str, Any]]) -> Priced:
        """Prices for validated houses, with the warnings they deserve."""
        n = len(rows)
        matrix = np.empty((n, len(self.schema.features)), dtype=np.float64)
        unseen: dict[tuple[int, int], str] = {}
        if self._take_numeric is not None:
            values = np.array(list(map(self._take_numeric, rows)), dtype=np.float64)
            matrix[:, self._numeric] = values.reshape(n, len(self._numeric))
        for j, name, codes in self._categorical:
            column = list(map(itemgetter(name), rows))
            matrix[:, j] = [codes.get(v, -1.0) for v in column]
            for i in np.flatnonzero(matrix[:, j] < 0).tolist():
                unseen[i, j] = column[i]
        far = (matrix < self._low) | (matrix > self._high)
        flagged = sorted([*unseen, *zip(*np.nonzero(far), strict=True)]) \
            if unseen or far.any() else []
        prices = self.predictor.predict_matrix(matrix)
        if not np.isfinite(prices).all():
            self._refuse_unpriceable(matrix, prices)
        warnings = [self._warning(int(i), int(j), matrix, unseen)
                    for i, j in flagged[:MAX_WARNINGS]]
        if len(flagged) > MAX_WARNINGS:
            warnings.append({"row": None, "field": None, "message": (
                f"{len(flagged) - MAX_WARNINGS} more warnings were left out")})
        return Priced(rows=rows, prices=prices, warnings=warnings)

    def _warning(self, i: int, j: int, matrix: FloatArray,
                 unseen: dict[tuple[int, int], str]) -> dict[str, Any]:
        f = self.schema.features[j]
        if (i, j) in unseen:
            message = f"{unseen[i, j]!r} was never seen in training; priced as an unknown category"
        else:
            message = (f"{matrix[i, j]:.6g} is far outside the range seen in training "
                       f"({_num(f.min)} to {_num(f.max)}); the estimate is an extrapolation")
        return {"row": i, "field": f.name, "message": message}

    def _refuse_unpriceable(self, matrix: FloatArray, prices: FloatArray) -> None:
        row = int(np.flatnonzero(~np.isfinite(prices))[0])
        z = np.abs(matrix[row] - self._centre) / self._spread
        j = int(np.nanargmax(z)) if np.isfinite(z).any() else 0
        raise ValidationError("the model cannot price this house: its values are too far "
                              "outside the range seen in training", row=row,
                              field=self.schema.features[j].name, value=float(matrix[row, j]))

    # -- answers ---------------------------------------------------------------------------

    def answer_v1(self, body: bytes) -> tuple[bytes, int]:
        """The article's answer: the houses as sent and one `Prediction price i` each."""
        priced = self.price(self.parse_v1(body))
        predictions = [{k: p} for k, p in zip(self._keys, priced.prices.tolist(), strict=False)]
        return orjson.dumps({"inputData": priced.rows, "predictions": predictions}), len(
            priced.rows)

    def answer_v2(self, body: bytes) -> tuple[bytes, int]:
        """Model name and version, an id and a price per house, and warnings."""
        rows, explain = self.parse_v2(body)
        priced = self.price(rows)
        hexed = os.urandom(16 * len(rows)).hex()
        predictions = [{"id": hexed[32 * i: 32 * i + 32], "price": p}
                       for i, p in enumerate(priced.prices.tolist())]
        warnings = priced.warnings
        if explain:
            warnings = [{"row": None, "field": "explain", "message": (
                "contributions are not available yet; explain was ignored")}, *warnings]
        model = {"name": self.predictor.name, "version": self.predictor.version}
        return orjson.dumps({"model": model, "predictions": predictions,
                             "warnings": warnings}), len(rows)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"

