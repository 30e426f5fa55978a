"""The one judge of houses, generated from the feature schema and used by every path.

The API (JSON bytes), `Predictor.predict_rows` (Python rows), batch scoring
and training (columns of a table) all validate through the pydantic types
of `estimator.house`, so a house gets the same verdict in the same words
wherever it comes from: a `ValidationError` naming the row and the field.
Valid houses
are then packed into one raw matrix: numbers as they are, a category as its
index in the schema (-1 for one never seen), NaN for a missing value.
`Preprocessor.transform` turns that matrix into model inputs.

    numeric      a finite number
    integer      a whole number: 3 and 3.0 pass, 3.5 does not
    binary       0 or 1
    categorical  a string; a value never seen in training is priced as unknown
    optional     a feature that had gaps in training may be null or absent;
                 it is imputed as in training, with a warning
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pydantic_core
from pydantic import TypeAdapter

from estimator.errors import ValidationError
from estimator.house import feature_type, house_type, typed_dict
from estimator.schema import Feature, Schema

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.6g}"


def _shown(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("nan", "NaN").replace("inf", "Infinity")
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class Note(NamedTuple):
    """A warning about one value of a valid house."""

    row: int
    field: str
    kind: Literal["imputed", "unseen", "far"]
    message: str


@dataclass
class Houses:
    """Valid houses as one raw matrix, and what deserves a warning about each.

    `errors` (columns only) maps a refused row to its first fault; its
    matrix row is NaN and must not be priced. `notes` are the warnings:
    gaps imputed, categories never seen, values far outside the training range.
    """

    matrix: FloatArray
    notes: list[Note] = field(default_factory=list)
    errors: dict[int, ValidationError] = field(default_factory=dict)

    def warnings(self, row_offset: int = 0) -> list[list[dict[str, str]]]:
        """The warnings of each row, in row order, as the API answers them."""
        out: list[list[dict[str, str]]] = [[] for _ in range(self.matrix.shape[0])]
        for note in self.notes:
            out[note.row - row_offset].append({"field": note.field, "message": note.message})
        return out


def _far_bounds(feature: Feature) -> tuple[float, float]:
    """Values beyond the observed range by more than the inter-quartile spread are 'far'."""
    if feature.kind in ("categorical", "binary") or feature.min is None or feature.max is None:
        return -math.inf, math.inf
    q = feature.quantiles
    spread = q.get("p75", 0.0) - q.get("p25", 0.0)
    if spread <= 0:
        spread = feature.max - feature.min
    return feature.min - spread, feature.max + spread


class HouseRules:
    """Validation and packing for one schema; `fills` are the imputed values, for warnings."""

    def __init__(self, schema: Schema, fills: Sequence[float] | None = None) -> None:
        self.schema = schema
        feats = schema.features
        self.house = house_type(schema)
        self.rows_adapter: TypeAdapter[Any] = TypeAdapter(list[self.house])  # type: ignore[name-defined]
        self.columns_adapter: TypeAdapter[Any] = TypeAdapter(typed_dict("Columns", {
            f.name: list[feature_type(f)] for f in feats}))  # type: ignore[misc]
        self._names = schema.names
        self._index = {f.name: j for j, f in enumerate(feats)}
        self._codes = [{c: float(i) for i, c in enumerate(f.categories)}
                       if f.kind == "categorical" else None for f in feats]
        self._categories = [(j, f.name, codes) for j, (f, codes) in
                            enumerate(zip(feats, self._codes, strict=True)) if codes is not None]
        bounds = np.array([_far_bounds(f) for f in feats], dtype=np.float64).reshape(-1, 2)
        self._low, self._high = bounds[:, 0], bounds[:, 1]
        self._centre = np.array([f.mean if f.mean is not None else np.nan for f in feats])
        self._spread = np.array([f.std if f.std else np.nan for f in feats])
        given: Sequence[float | None] = fills if fills is not None else [None] * len(feats)
        self._fills = [self._filled(f, v) for f, v in zip(feats, given, strict=True)]

    @staticmethod
    def _filled(feature: Feature, value: float | None) -> str:
        if value is None:
            return "as in training"
        if feature.kind == "categorical":
            names = list(feature.categories)
            return f"as in training, with {names[int(value)]!r}" if 0 <= value < len(names) \
                else "as in training"
        return f"as in training, with {value:.6g}"

    # -- judging ----------------------------------------------------------------------------

    def refusal(self, error: Mapping[str, Any], row_offset: int = 0) -> ValidationError:
        """Our error for one pydantic complaint whose location starts at the house's row."""
        kind, loc, value = error["type"], list(error["loc"]), error.get("input")
        if not loc:
            return ValidationError("the houses must be a JSON list, each house an object "
                                   "keyed by feature name")
        row = int(loc[0]) + row_offset
        if len(loc) == 1:
            return ValidationError("each house must be a JSON object keyed by feature name",
                                   row=row, value=value)
        name = str(loc[1])
        if kind == "missing":
            return ValidationError("field required", row=row, field=name)
        if kind == "extra_forbidden":
            return ValidationError(f"is not a feature of this model (features: "
                                   f"{', '.join(self._names)})", row=row, field=name,
                                   value=value)
        return ValidationError(self.reason(self.schema.feature(name), value), row=row,
                               field=name, value=value)

    @staticmethod
    def reason(feature: Feature, value: Any) -> str:
        """What is wrong with a value the feature's type refused, in one wording."""
        got = _shown(value)
        if value is None:
            return "a value is required, got null"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, got {got}"
        return {"numeric": f"must be a number, got {got}",
                "integer": f"must be a whole number, got {got}",
                "binary": f"must be 0 or 1, got {got}",
                "categorical": f"must be a string (a category), got {got}"}[feature.kind]

    def first(self, err: pydantic_core.ValidationError, skip: int = 0) -> ValidationError:
        """The fault of the first refused house, its first feature in schema order.

        `skip` drops leading location parts (an envelope key such as 'instances').
        """
        found = [{**e, "loc": e["loc"][skip:]} for e in err.errors(include_url=False)]
        return min((self.refusal(e) for e in found), key=self._order)

    def _order(self, err: ValidationError) -> tuple[int, int]:
        return (err.row if err.row is not None else -1,
                self._index.get(err.field or "", len(self._names)))

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> Houses:
        """Validate and pack Python rows; raises ValidationError for the first fault."""
        try:
            valid = self.rows_adapter.validate_python(rows)
        except pydantic_core.ValidationError as err:
            raise self.first(err) from None
        return self.pack(valid)

    def columns(self, columns: Mapping[str, list[Any]], row_offset: int = 0) -> Houses:
        """Validate and pack columns (a table's chunk, None for a gap); every feature must be
        a column. A refused row is NaN in the matrix, its first fault in `errors`."""
        n = len(columns[self._names[0]]) if self._names else 0
        faults: dict[int, ValidationError] = {}
        try:
            self.columns_adapter.validate_python(columns)
        except pydantic_core.ValidationError as err:
            for e in err.errors(include_url=False):
                name, row = e["loc"][0], int(e["loc"][1])
                refused = self.refusal({**e, "loc": (row, name)}, row_offset)
                if row not in faults or self._order(refused) < self._order(faults[row]):
                    faults[row] = refused
            columns = {name: [None if i in faults else v for i, v in enumerate(columns[name])]
                       for name in self._names}
        houses = self._pack_columns(columns, n, skip=faults)
        houses.errors = {row + row_offset: refused for row, refused in faults.items()}
        houses.notes = [note._replace(row=note.row + row_offset) for note in houses.notes]
        return houses

    def too_far(self, matrix: FloatArray, row: int, what: str) -> ValidationError:
        """The refusal of a house too extreme for the model, naming its most extreme value."""
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.abs(matrix[row] - self._centre) / self._spread
        j = int(np.nanargmax(z)) if not np.isnan(z).all() else 0
        return ValidationError(f"the model cannot {what} this house: its values are too far "
                               "outside the range seen in training", row=row,
                               field=self._names[j], value=float(matrix[row, j]))

    # -- packing ----------------------------------------------------------------------------

    def pack(self, houses: Sequence[Mapping[str, Any]], *, warnings: bool = True) -> Houses:
        """The raw matrix of validated houses (None or absent for a gap), in one NumPy call;
        without `warnings`, for callers that show none, only unseen categories are noted."""
        rows = [list(map(house.get, self._names)) for house in houses]
        unseen: list[Note] = []
        for j, name, codes in self._categories:
            for i, row in enumerate(rows):
                value = row[j]
                if value is not None:
                    row[j] = self._code(codes, value, i, name, unseen)
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), len(self._names))
        return Houses(matrix=matrix,
                      notes=self._notes(matrix, unseen, skip={}) if warnings else unseen)

    def _pack_columns(self, columns: Mapping[str, list[Any]], n: int,
                      skip: Mapping[int, Any]) -> Houses:
        matrix = np.empty((n, len(self._names)), dtype=np.float64)
        unseen: list[Note] = []
        for j, name in enumerate(self._names):
            col = columns[name]
            codes = self._codes[j]
            matrix[:, j] = col if codes is None else [
                math.nan if v is None else self._code(codes, v, i, name, unseen)
                for i, v in enumerate(col)]
        return Houses(matrix=matrix, notes=self._notes(matrix, unseen, skip))

    @staticmethod
    def _code(codes: dict[str, float], value: str, row: int, name: str,
              unseen: list[Note]) -> float:
        """A category's index in the schema; -1, and a note, for one never seen."""
        code = codes.get(value)
        if code is None:
            unseen.append(Note(row, name, "unseen", f"{value!r} was never seen in training; "
                               "priced as an unknown category"))
            return -1.0
        return code

    def _notes(self, matrix: FloatArray, unseen: list[Note],
               skip: Mapping[int, Any]) -> list[Note]:
        """Every warning about valid houses, by row then feature: gaps, unseen categories, far
        values (refused rows, `skip`, have none)."""
        gaps = np.isnan(matrix)
        flagged = gaps | (matrix < self._low) | (matrix > self._high)
        notes = list(unseen)
        if flagged.any():
            for i, j in zip(*np.nonzero(flagged), strict=True):
                if i in skip:
                    continue
                f = self.schema.features[j]
                if gaps[i, j]:
                    notes.append(Note(int(i), f.name, "imputed",
                                      f"missing; imputed {self._fills[j]}"))
                else:
                    notes.append(Note(int(i), f.name, "far", (
                        f"{matrix[i, j]:.6g} is far outside the range seen in training "
                        f"({_num(f.min)} to {_num(f.max)}); the estimate is an extrapolation")))
        if len(notes) > 1:
            notes.sort(key=lambda note: (note.row, self._index[note.field]))
        return notes
