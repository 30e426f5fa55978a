"""The request path: a JSON body in, validated once, priced once, answered once.

pydantic validates the whole body from bytes in one call with the types
generated from the served schema (`validation`, `schemas`); the houses are
packed into one raw matrix and priced by `Predictor.predict_matrix`, the
same call batch scoring makes; the answer is serialised once with orjson.
Nothing here imports pandas or PyTorch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pydantic_core

from estimator.errors import ValidationError
from estimator.monitoring.store import Prediction
from estimator.predictor import Estimates, Predictor
from estimator.serving.handlers import InvalidJSONError, RequestTooLargeError
from estimator.serving.schemas import ApiTypes
from estimator.validation import Houses


def new_ids(n: int) -> list[str]:
    """Estimate ids: 128 random bits as 32 hex digits, like uuid4's.

    They come from Python's generator (seeded by the system at start, and again in each
    forked worker) rather than from os.urandom, whose system call per estimate cost more
    than the rest of logging it. They need to be unique, not secret: reporting a sale
    price for an id takes the admin token.
    """
    return [f"{random.getrandbits(128):032x}" for _ in range(n)]


@dataclass
class Answer:
    """The bytes to send, and the estimates to log (none when logging is off)."""

    content: bytes
    count: int
    logged: list[Prediction] = field(default_factory=list)


class Answers:
    """The v1 and v2 answers of one loaded version."""

    def __init__(self, predictor: Predictor, max_batch: int, log: bool = False) -> None:
        self.predictor = predictor
        self.log = log
        self.rules = predictor.rules
        self.max_batch = max_batch
        self.types = ApiTypes.build(self.rules, max_batch)
        self._keys = [f"Prediction price {i}" for i in range(max_batch)]
        self._model = {"name": predictor.name, "version": predictor.version}

    def v1(self, body: bytes) -> Answer:
        """The article's answer: the houses and one `Prediction price i` each.

        The houses are echoed as validated, so the echo shows the values priced (where
        a key is given twice, JSON parsers keep the last value, and so does the echo).
        """
        try:
            rows = self.types.v1_body.validate_json(body)
        except pydantic_core.ValidationError as err:
            raise self._refusal(err, v2=False) from None
        prices = self.price(self.rules.pack(rows, warnings=False))
        predictions = [{k: p} for k, p in zip(self._keys, prices, strict=False)]
        content = orjson.dumps({"inputData": rows, "predictions": predictions})
        logged = self._logged(rows, new_ids(len(prices)), prices, None, None) \
            if self.log else []
        return Answer(content, len(prices), logged)

    def v2(self, body: bytes, level: float | None = None) -> Answer:
        """The model's name and version, and per house an id, a price, its range and its
        warnings; the body's `level` wins over the argument (the query's)."""
        try:
            request = self.types.v2_body.validate_json(body)
        except pydantic_core.ValidationError as err:
            raise self._refusal(err, v2=True) from None
        houses = self.rules.pack(request["instances"])
        calibration = self.predictor.calibration
        level = request.get("level", level)
        estimates = self.estimate(houses, level)
        prices = estimates.price.tolist()
        predictions: list[dict[str, Any]] = [
            {"id": i, "price": price} for i, price in zip(new_ids(len(prices)), prices,
                                                          strict=True)]
        if estimates.lower is not None and estimates.upper is not None:
            for p, low, high in zip(predictions, estimates.lower.tolist(),
                                    estimates.upper.tolist(), strict=True):
                p.update(lower=low, upper=high)
        for p, warnings in zip(predictions, houses.warnings(), strict=True):
            p["warnings"] = warnings
        if request.get("explain"):
            if self.predictor.explainer is None:
                raise ValidationError("this version was saved without its training houses, "
                                      "so it cannot explain its estimates; retrain it",
                                      field="explain")
            reasons = self.predictor.explain(houses.matrix, estimates.predicted)
            for p, why in zip(predictions, reasons, strict=True):
                p.update(why)
        answer = {"model": self._model, "level": level if level is not None else
                  calibration.level if calibration is not None else None,
                  "predictions": predictions}
        logged = self._logged(request["instances"], [p["id"] for p in predictions],
                              estimates.price.tolist(), estimates.lower, estimates.upper) \
            if self.log else []
        return Answer(orjson.dumps(answer), len(predictions), logged)

    def _logged(self, houses: list[dict[str, Any]], ids: list[str], prices: list[float],
                lower: Any, upper: Any) -> list[Prediction]:
        """The estimates as the prediction log keeps them: the houses as sent, priced."""
        now = datetime.now(UTC)
        name, version = self.predictor.name, self.predictor.version
        lows = lower.tolist() if lower is not None else [None] * len(prices)
        highs = upper.tolist() if upper is not None else [None] * len(prices)
        return [Prediction(id=i, model=name, version=version, features=house, price=price,
                           created_at=now, lower=low, upper=high)
                for i, house, price, low, high in zip(ids, houses, prices, lows, highs,
                                                      strict=True)]

    def price(self, houses: Houses) -> list[float]:
        """Prices of valid houses; a house the model cannot price finitely is refused."""
        result: list[float] = self.estimate(houses, ranges=False).price.tolist()
        return result

    def estimate(self, houses: Houses, level: float | None = None, *,
                 ranges: bool = True) -> Estimates:
        """`Predictor.estimate`, refusing a house the model cannot price finitely."""
        with np.errstate(over="ignore", invalid="ignore"):  # extremes are refused below
            estimates = self.predictor.estimate(houses.matrix, level, ranges=ranges)
        finite = np.isfinite(estimates.price)
        if not finite.all():
            raise self.rules.too_far(houses.matrix, int(np.argmin(finite)), "price")
        return estimates

    def _refusal(self, err: pydantic_core.ValidationError, v2: bool) -> ValidationError:
        """Our error for a refused body: the envelope's first fault, else the first house's."""
        errors = err.errors(include_url=False)
        if errors[0]["type"] == "json_invalid":
            return InvalidJSONError(f"the body is not valid JSON ({errors[0]['ctx']['error']})")
        depth = 1 if v2 else 0  # where a house's row sits in the location
        for error in errors:
            loc = error["loc"]
            if v2 and (not loc or loc[0] != "instances" or (loc == ("instances",)
                       and error["type"] == "missing")):
                return self._envelope(error)
            if len(loc) == depth:
                return self._list(error["type"], "instances" if v2 else None)
        return self.rules.first(err, skip=depth)

    def _list(self, kind: str, field: str | None) -> ValidationError:
        if kind == "too_short":
            return ValidationError("the request holds no houses; send at least one", field=field)
        if kind == "too_long":
            return RequestTooLargeError(f"the request holds more than {self.max_batch} houses; "
                                        "split it into smaller batches", field=field)
        reason = "must be a JSON list of houses, each an object keyed by feature name"
        return ValidationError(reason if field else f"the body {reason}", field=field)

    @staticmethod
    def _envelope(error: dict[str, Any] | Any) -> ValidationError:
        loc, kind = error["loc"], error["type"]
        if not loc:
            return ValidationError('the body must be a JSON object: {"instances": [...]}')
        reason = ("field required" if kind == "missing" else
                  "is not allowed; the body holds 'instances', 'explain' and 'level'"
                  if kind == "extra_forbidden" else
                  "must be a number between 0 and 1 (0.8 for 80 %)" if loc[0] == "level" else
                  "must be true or false")
        return ValidationError(reason, field=str(loc[0]))
