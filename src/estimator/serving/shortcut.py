"""The shortcut for the commonest request: one house, every value a number near the training range.

For such a body, orjson's parse and a few checks (the keys, then the value
types, whole numbers and the ranges in one compiled call, `_speedups.plain`)
stand in for pydantic's validation, the far-value check and the matrix.
Anything else, every fault included, is declined and goes down the judged
path (`parsing`), so refusals keep one wording. What the shortcut accepts,
the strict request type accepts with the same values; a property test holds
it to that, with the compiled checks and with their Python twin, used where
the package was built without a C compiler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from operator import itemgetter, le, mod
from typing import Any

import orjson

from estimator.schema import Schema

try:
    from estimator._speedups import bounds, plain
except ImportError:  # pragma: no cover - installed without a C compiler
    bounds = plain = None  # type: ignore[assignment]

_NUMBERS = frozenset({int, float})  # not bool: JSON's true and false are not numbers here
_ONES = repeat(1)  # endless and stateless, so one serves every call


def taker(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """`itemgetter` that always returns a tuple, whatever the number of keys."""
    if len(keys) > 1:
        return itemgetter(*keys)
    return lambda item: tuple(item[k] for k in keys)


class OneHouse:
    """Accepts the body of one plain house of an all-numeric schema, or declines it.

    `low` and `high` bound each feature's values (the far-value bounds of
    the codec); binary features are held to 0 and 1 whatever they say.
    With `compiled=False` the Python checks run even where the compiled ones
    exist, so that tests hold both to the same behaviour.
    """

    def __init__(self, schema: Schema, low: Sequence[float], high: Sequence[float],
                 compiled: bool = True) -> None:
        feats = schema.features
        self.enabled = all(f.kind != "categorical" for f in feats)
        self._width = len(schema.names)
        # No plain house takes more bytes than this (forty for a value, its quotes, colon
        # and spacing), so a longer body, a batch, is not parsed twice.
        self._longest = sum(len(name.encode()) + 40 for name in schema.names) + 40
        self._take = taker(schema.names)
        binary = [f.kind == "binary" for f in feats]
        self._low = tuple(0.0 if b else float(v) for b, v in zip(binary, low, strict=True))
        self._high = tuple(1.0 if b else float(v) for b, v in zip(binary, high, strict=True))
        whole = [f.kind in ("integer", "binary") for f in feats]
        self._take_whole = taker([j for j, w in enumerate(whole) if w])
        self._limits = bounds(self._low, self._high, tuple(whole)) \
            if compiled and bounds is not None else None

    def values(self, body: bytes, v2: bool) -> tuple[float, ...] | None:
        """The values of the body's one house in schema order, or None to take the judged path.

        A v1 body is `[house]`; a v2 body is `{"instances": [house]}` (with
        `explain`, it is declined). orjson refuses NaN, Infinity and numbers
        beyond a float's range, so every value accepted is finite.
        """
        if not self.enabled or len(body) > self._longest:
            return None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if v2:
            if type(parsed) is not dict or len(parsed) != 1:
                return None
            parsed = parsed.get("instances")
        if type(parsed) is not list or len(parsed) != 1:
            return None
        house = parsed[0]
        if type(house) is not dict or len(house) != self._width:
            return None
        try:  # as many keys as features, and every feature there: no other key
            values = self._take(house)
        except KeyError:
            return None
        if self._limits is not None:
            return values if plain(values, self._limits) else None
        if ({*map(type, values)} <= _NUMBERS
                and all(map(le, self._low, values)) and all(map(le, values, self._high))
                and not any(map(mod, self._take_whole(values), _ONES))):
            return values
        return None
