"""The article's Boston housing data, read from the copy bundled in mlxtend.

The B column is computed from the share of Black residents in each town
(1000(Bk - 0.63)^2). scikit-learn dropped the data set for that reason; we keep
the column because the article's API requires it, and `exclude: [B]` in the
data config trains without it.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

COLUMNS = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX",
           "PTRATIO", "B", "LSTAT"]
TARGET = "MEDV"
# How its prices read: MEDV counts thousands of (1970s) dollars.
UNIT = "× $1,000"

DESCRIPTIONS = {
    "CRIM": "Per-capita crime rate by town.",
    "ZN": "Share of residential land zoned for lots over 25,000 sq.ft. (%).",
    "INDUS": "Share of non-retail business acres per town (%).",
    "CHAS": "1 if the tract bounds the Charles River, else 0.",
    "NOX": "Nitric oxides concentration (parts per 10 million).",
    "RM": "Average number of rooms per dwelling.",
    "AGE": "Share of owner-occupied units built before 1940 (%).",
    "DIS": "Weighted distance to five Boston employment centres.",
    "RAD": "Index of accessibility to radial highways.",
    "TAX": "Full-value property-tax rate per $10,000.",
    "PTRATIO": "Pupil-teacher ratio by town.",
    "B": "1000(Bk - 0.63)^2 where Bk is the share of Black residents by town; a racially "
         "derived column kept only for the article's API. Exclude it with data.exclude: [B].",
    "LSTAT": "Share of the population of lower status (%).",
    "MEDV": "Median value of owner-occupied homes, in $1000s (capped at 50.0).",
}


def csv_path() -> Path:
    """The bundled file; mlxtend ships it, so nothing is fetched from the network."""
    try:
        base = resources.files("mlxtend.data") / "data" / "boston_housing.csv"
    except ModuleNotFoundError:  # pragma: no cover - depends on the install
        from estimator.errors import DataError
        raise DataError("The boston source needs the 'mlxtend' package "
                        "(pip install 'estimator[train]').") from None
    return Path(str(base))


def sha256() -> str:
    return hashlib.sha256(csv_path().read_bytes()).hexdigest()
