"""The request path: a JSON body in, one NumPy matrix, one vectorised prediction, JSON out.

The body is validated in one call (see `parsing`); the raw matrix is built
from one `itemgetter` pass over the houses and predicted in one vectorised
call, values far outside the training range are flagged, and the answer is
serialised once with orjson. Nothing here imports pandas or PyTorch.

A single house is dominated by per-call overheads, so the commonest body,
one plain house, takes a shortcut (see `shortcut`): no pydantic, no
matrix, its values checked and priced in compiled calls where the package
has them (`_speedups`), and an answer written from a template.
`benchmarks/serving.py` holds it to 80 % of a route that only parses the
body.
"""

from __future__ import annotations

import math
import os
from binascii import hexlify
from dataclasses import dataclass
from operator import gt, itemgetter, lt
from typing import Any

import numpy as np
import orjson

from estimator.errors import ValidationError
from estimator.features import FloatArray
from estimator.predictor import Predictor
from estimator.schema import Feature
from estimator.serving.parsing import BodyParser, Houses
from estimator.serving.schemas import ApiTypes
from estimator.serving.shortcut import OneHouse, taker

MAX_WARNINGS = 100
FEW_HOUSES = 4


@dataclass
class Priced:
    """The prices of one request's houses and what deserves a warning."""

    prices: list[float]
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


class Codec:
    """Validation, encoding and answers for one loaded version."""

    def __init__(self, predictor: Predictor, max_batch: int) -> None:
        self.predictor = predictor
        self.schema = predictor.schema
        self.max_batch = max_batch
        self.types = ApiTypes.build(self.schema, max_batch)
        self.parser = BodyParser(self.schema, self.types, max_batch)
        feats = self.schema.features
        self._numeric = [j for j, f in enumerate(feats) if f.kind != "categorical"]
        self._take_numeric = taker([feats[j].name for j in self._numeric])
        self._all_numeric = self._numeric == list(range(len(feats)))
        self._categorical = [(j, f.name, {c: float(i) for i, c in enumerate(f.categories)})
                             for j, f in enumerate(feats) if f.kind == "categorical"]
        bounds = np.array([_far_bounds(f) for f in feats], dtype=np.float64).reshape(-1, 2)
        self._low, self._high = bounds[:, 0], bounds[:, 1]
        self._low_numeric = tuple(self._low[self._numeric].tolist())
        self._high_numeric = tuple(self._high[self._numeric].tolist())
        self.one_house = OneHouse(self.schema, self._low.tolist(), self._high.tolist())
        self._centre = np.array([f.mean if f.mean is not None else np.nan for f in feats])
        self._spread = np.array([f.std if f.std else np.nan for f in feats])
        self._keys = [f"Prediction price {i}" for i in range(max_batch)]
        self._model = {"name": predictor.name, "version": predictor.version}
        self._v2_one = b'{"model":%s,"predictions":[{"id":"' % orjson.dumps(self._model)

    # -- encoding and predicting -----------------------------------------------------------

    def price(self, houses: Houses, warn: bool = True) -> Priced:
        """Prices for validated houses, with the warnings they deserve when `warn`."""
        rows, n = houses.rows, len(houses.rows)
        values = list(map(self._take_numeric, rows))
        numeric = np.array(values, dtype=np.float64).reshape(n, len(self._numeric))
        if self._all_numeric:
            matrix = numeric
        else:
            matrix = np.empty((n, len(self.schema.features)), dtype=np.float64)
            matrix[:, self._numeric] = numeric
        unseen: dict[tuple[int, int], str] = {}
        for j, name, codes in self._categorical:
            column = list(map(itemgetter(name), rows))
            matrix[:, j] = [codes.get(v, -1.0) for v in column]
            if warn:
                for i in np.flatnonzero(matrix[:, j] < 0).tolist():
                    unseen[i, j] = column[i]
        # Values within reach of the training range cannot overflow the model, so the
        # floating-point guard is only needed when some value is far out (or unlooked at).
        far = self._any_far(values, matrix) if warn else True
        predicted = self.predict(matrix) if far else \
            self.predictor.predict_matrix(matrix, complete=True)
        prices: list[float] = predicted.tolist()
        if not math.isfinite(sum(prices)):  # one NaN or infinity makes the sum so
            self._refuse_unpriceable(matrix, predicted)
        return Priced(prices=prices,
                      warnings=self._warnings(matrix, unseen) if warn and (far or unseen)
                      else [])

    def _any_far(self, values: list[tuple[Any, ...]], matrix: FloatArray) -> bool:
        """Whether any value lies far outside the training range; usually none does."""
        if len(values) <= FEW_HOUSES:  # Python's comparisons beat NumPy's per-call cost
            return not all(map(self._near, values))
        return bool(np.count_nonzero((matrix < self._low) | (matrix > self._high)))

    def _near(self, house: tuple[Any, ...]) -> bool:
        """Whether every value of one house lies within reach of the training range."""
        return not (any(map(lt, house, self._low_numeric))
                    or any(map(gt, house, self._high_numeric)))

    def _warnings(self, matrix: FloatArray,
                  unseen: dict[tuple[int, int], str]) -> list[dict[str, Any]]:
        """Unseen categories and far values, by row, at most MAX_WARNINGS and a count."""
        far = (matrix < self._low) | (matrix > self._high)
        flagged = sorted([*unseen, *zip(*np.nonzero(far), strict=True)])
        warnings = [self._warning(int(i), int(j), matrix, unseen)
                    for i, j in flagged[:MAX_WARNINGS]]
        if len(flagged) > MAX_WARNINGS:
            warnings.append({"row": None, "field": None, "message": (
                f"{len(flagged) - MAX_WARNINGS} more warnings were left out")})
        return warnings

    def predict(self, matrix: FloatArray) -> FloatArray:
        """`Predictor.predict_matrix`, with overflow left to `_refuse_unpriceable`."""
        with np.errstate(over="ignore", invalid="ignore"):  # extremes are refused after
            return self.predictor.predict_matrix(matrix, complete=True)

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
        bad = np.flatnonzero(~np.isfinite(prices))
        if bad.size == 0:  # every price is finite; only their sum overflowed
            return
        row = int(bad[0])
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.abs(matrix[row] - self._centre) / self._spread
        j = int(np.nanargmax(z)) if not np.isnan(z).all() else 0
        raise ValidationError("the model cannot price this house: its values are too far "
                              "outside the range seen in training", row=row,
                              field=self.schema.features[j].name, value=float(matrix[row, j]))

    # -- answers ---------------------------------------------------------------------------

    def quick_price(self, body: bytes, v2: bool) -> float | None:
        """The price of a body that is one plain house (see `shortcut`), or None.

        Values near the training range cannot overflow the model, so no
        floating-point guard is needed; a price that is not finite all the
        same is left to the judged path, which refuses it.
        """
        values = self.one_house.values(body, v2)
        if values is None:
            return None
        price = self.predictor.predict_one(values)
        return price if math.isfinite(price) else None

    def answer_v1(self, body: bytes) -> tuple[bytes, int]:
        """The article's answer: the houses as sent and one `Prediction price i` each.

        The houses are echoed as the very bytes received, which have just been
        validated as JSON, rather than serialised a second time.
        """
        price = self.quick_price(body, v2=False)
        if price is not None:
            return b"".join((b'{"inputData":', body.strip(), b',"predictions":[{"'
                             b'Prediction price 0":', orjson.dumps(price), b"}]}")), 1
        prices = self.price(self.parser.parse(body, v2=False), warn=False).prices
        predictions = [{k: p} for k, p in zip(self._keys, prices, strict=False)]
        return b"".join((b'{"inputData":', body.strip(), b',"predictions":',
                         orjson.dumps(predictions), b"}")), len(prices)

    def answer_v2(self, body: bytes) -> tuple[bytes, int]:
        """Model name and version, an id and a price per house, and warnings."""
        price = self.quick_price(body, v2=True)
        if price is not None:
            return b"".join((self._v2_one, hexlify(os.urandom(16)), b'","price":',
                             orjson.dumps(price), b'}],"warnings":[]}')), 1
        houses = self.parser.parse(body, v2=True)
        priced = self.price(houses)
        warnings = priced.warnings
        if houses.explain:
            warnings = [{"row": None, "field": "explain", "message": (
                "contributions are not available yet; explain was ignored")}, *warnings]
        hexed = os.urandom(16 * len(priced.prices)).hex()
        predictions = [{"id": hexed[32 * i: 32 * i + 32], "price": p}
                       for i, p in enumerate(priced.prices)]
        return orjson.dumps({"model": self._model, "predictions": predictions,
                             "warnings": warnings}), len(priced.prices)


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"

