"""Reading data: the Boston source, messy real files, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator.config import DataConfig
from estimator.data.sources import load
from estimator.errors import DataError
from tests.conftest import CALIFORNIA


def messy_csv(path: Path, rows: int = 40) -> Path:
    """A file as agencies send them: BOM, odd names, NA and blanks, text, holey integers."""
    rng = np.random.default_rng(0)
    lines = ["living area/m2,n rooms,district,has garden,price"]
    for i in range(rows):
        area = "" if i % 9 == 3 else f"{rng.uniform(40, 200):.1f}"
        rooms = "NA" if i % 7 == 2 else str(int(rng.integers(1, 7)))
        district = ["north", "south", "east"][i % 3]
        garden = str(i % 2)
        price = "" if i % 13 == 5 else f"{rng.uniform(1e5, 9e5):.0f}"
        lines.append(f"{area},{rooms},{district},{garden},{price}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def test_boston_source_is_the_articles_data() -> None:
    ds = load(DataConfig(source="boston"))
    assert ds.rows == 506
    assert ds.schema.names == ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD",
                               "TAX", "PTRATIO", "B", "LSTAT"]
    assert ds.schema.target.name == "MEDV"
    kinds = {f.name: f.kind for f in ds.schema.features}
    assert kinds["CHAS"] == "binary"
    assert kinds["RAD"] == "integer"
    assert kinds["RM"] == "numeric"
    assert all(f.description for f in ds.schema.features)
    assert "Black" in ds.schema.feature("B").description
    assert ds.fingerprint["rows"] == 506 and len(ds.fingerprint["sha256"]) == 64


def test_boston_without_b() -> None:
    ds = load(DataConfig(source="boston", exclude=["B"]))
    assert "B" not in ds.schema.names and len(ds.schema.names) == 12


def test_messy_csv_loads(tmp_path: Path) -> None:
    path = messy_csv(tmp_path / "houses.csv")
    ds = load(DataConfig(path=str(path), target="price"))
    kinds = {f.name: f.kind for f in ds.schema.features}
    assert kinds == {"living area/m2": "numeric", "n rooms": "integer", "district": "categorical",
                     "has garden": "binary"}
    assert ds.dropped_rows == 3
    assert ds.rows == 37
    assert "dropped 3 rows" in ds.notes[0]
    assert ds.schema.feature("n rooms").missing > 0
    assert ds.frame["n rooms"].dtype == np.float64
    assert set(ds.schema.feature("district").categories) == {"north", "south", "east"}


def test_parquet_and_include(tmp_path: Path) -> None:
    frame = pd.read_csv(messy_csv(tmp_path / "h.csv"), encoding="utf-8-sig")
    frame.to_parquet(tmp_path / "h.parquet")
    ds = load(DataConfig(path=str(tmp_path / "h.parquet"), target="price",
                         include=["district", "n rooms"]))
    assert ds.schema.names == ["district", "n rooms"]


@pytest.mark.parametrize(("edit", "target", "match"), [
    (None, "cost", r"Target column 'cost' is not in the data"),
    ("text-target", "price", r"Target column 'price' must be numeric; row 0 holds 'cheap'"),
    ("few-rows", "price", r"Only 10 rows have a target; at least 20"),
    ("empty-column", "price", r"Feature column 'empty' is entirely empty"),
])
def test_unusable_data_is_refused(tmp_path: Path, edit: str | None, target: str,
                                  match: str) -> None:
    frame = pd.read_csv(messy_csv(tmp_path / "h.csv"), encoding="utf-8-sig")
    if edit == "text-target":
        frame["price"] = frame["price"].astype(object)
        frame.loc[0, "price"] = "cheap"
    elif edit == "few-rows":
        frame = frame.head(11)
    elif edit == "empty-column":
        frame["empty"] = np.nan
    frame.to_csv(tmp_path / "edited.csv", index=False)
    with pytest.raises(DataError, match=match):
        load(DataConfig(path=str(tmp_path / "edited.csv"), target=target))


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'.*nope.csv' does not exist"):
        load(DataConfig(path=str(tmp_path / "nope.csv"), target="price"))
    with pytest.raises(DataError, match=r"is a folder, not a file"):
        load(DataConfig(path=str(tmp_path), target="price"))
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\n\xff\xfe\xfa,1\n")
    with pytest.raises(DataError, match=r"is not UTF-8 text"):
        load(DataConfig(path=str(binary), target="b"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"is empty"):
        load(DataConfig(path=str(empty), target="b"))


def test_unknown_include_and_exclude_columns() -> None:
    with pytest.raises(DataError, match=r"data.exclude names unknown columns \['ROOMS'\]"):
        load(DataConfig(source="boston", exclude=["ROOMS"]))
    with pytest.raises(DataError, match=r"data.include names unknown columns \['ROOMS'\]"):
        load(DataConfig(source="boston", include=["RM", "ROOMS"]))


def test_california_schema() -> None:
    ds = load(DataConfig(path=str(CALIFORNIA), target="median_house_value"))
    assert ds.rows == 20640
    ocean = ds.schema.feature("ocean_proximity")
    assert ocean.kind == "categorical"
    assert ocean.categories["ISLAND"] == 5
    assert ds.schema.feature("total_bedrooms").missing == 207
