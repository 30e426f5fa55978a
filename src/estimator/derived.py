"""Features derived from the raw ones: rotated coordinates and ratios.

Trees split on one feature at a time. A district whose edge runs north-east
costs them a staircase of splits on latitude and longitude, and "rooms per
household" is out of their reach when the data holds rooms and households.
Both options (`preprocessing.coordinates`, `preprocessing.ratios`) are
fitted with the preprocessing and computed by `Preprocessor.transform`,
which training, batch scoring and the service all run.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from estimator.errors import ConfigError
from estimator.schema import Schema

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

LATITUDE = ("latitude", "lat")
LONGITUDE = ("longitude", "lon", "lng", "long")
ANGLES = (15.0, 30.0, 45.0, 60.0, 75.0)
MIN_CORRELATION = 0.7
MAX_RATIOS = 100


def _named(schema: Schema, names: tuple[str, ...]) -> int | None:
    hits = [j for j, f in enumerate(schema.features)
            if f.kind == "numeric" and f.name.strip().lower() in names]
    return hits[0] if len(hits) == 1 else None


def coordinates(schema: Schema) -> tuple[int, int] | None:
    """Positions of the latitude and longitude features, found by name, when both are there."""
    lat, lon = _named(schema, LATITUDE), _named(schema, LONGITUDE)
    return (lat, lon) if lat is not None and lon is not None else None


def require_coordinates(schema: Schema) -> tuple[int, int]:
    found = coordinates(schema)
    if found is None:
        raise ConfigError("preprocessing.coordinates needs one numeric feature named latitude "
                          "(or lat) and one named longitude (or lon, lng); this data has "
                          f"{', '.join(schema.names)}.", key="preprocessing.coordinates")
    return found


def ratio_pairs(schema: Schema, matrix: FloatArray, exclude: Sequence[int]) -> list[list[int]]:
    """Pairs (a, b) for a / b: non-negative numeric features that rise together in training.

    Strongly correlated counts (rooms, bedrooms, people, households of a block)
    share a size factor that their ratio removes, leaving what a buyer pays for:
    rooms per household. Pairing every feature with every other mostly adds
    noise. `matrix` holds the training rows with missing values imputed.
    Raises ConfigError when the pairs would swamp the data.
    """
    eligible = [j for j, f in enumerate(schema.features)
                if f.kind in ("numeric", "integer") and j not in exclude
                and matrix.shape[0] > 2 and matrix[:, j].min() >= 0]
    if len(eligible) < 2:
        return []
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.atleast_2d(np.corrcoef(matrix[:, eligible], rowvar=False))
    pairs = [[eligible[a], eligible[b]] for a, b in combinations(range(len(eligible)), 2)
             if r[a, b] >= MIN_CORRELATION]
    if len(pairs) > MAX_RATIOS:
        raise ConfigError(f"preprocessing.ratios would add {len(pairs)} columns, more than "
                          f"{MAX_RATIOS}; exclude some features or leave ratios off.",
                          key="preprocessing.ratios")
    return pairs


def derive(matrix: FloatArray, geo: Sequence[int], angles: Sequence[float],
           pairs: Sequence[Sequence[int]]) -> FloatArray:
    """The derived columns of a raw matrix with no missing value; a ratio over zero is NaN."""
    parts = []
    if geo:
        radians = np.deg2rad(np.asarray(angles, dtype=np.float64))
        lat, lon = matrix[:, geo[0]], matrix[:, geo[1]]
        parts.append(np.outer(lon, np.cos(radians)) + np.outer(lat, np.sin(radians)))
    if pairs:
        index = np.asarray(pairs, dtype=np.int64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = matrix[:, index[:, 0]] / matrix[:, index[:, 1]]
        ratios[~np.isfinite(ratios)] = np.nan
        parts.append(ratios)
    if not parts:
        return np.empty((matrix.shape[0], 0), dtype=np.float64)
    return np.hstack(parts) if len(parts) > 1 else parts[0]


def names(schema: Schema, geo: Sequence[int], angles: Sequence[float],
          pairs: Sequence[Sequence[int]]) -> list[str]:
    """Readable names of the derived columns, for importances and reports."""
    feats = schema.features
    out = [f"{feats[geo[1]].name} rotated {a:g}° toward {feats[geo[0]].name}"
           for a in (angles if geo else [])]
    return out + [f"{feats[a].name} / {feats[b].name}" for a, b in pairs]
