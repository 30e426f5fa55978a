"""The Spark UDF on a real local[2] Spark: the plain path's prices, and refusals as data.

One SparkSession serves the module (starting the JVM is most of the cost).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from estimator.errors import ModelNotFoundError
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from tests.conftest import CALIFORNIA

pytestmark = [
    pytest.mark.spark,
    # PySpark 4 has not caught up with pandas 3's deprecations yet; its own words, not ours.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
TARGET = "median_house_value"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("estimator-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.shuffle.partitions", "2")
               # Small Arrow batches: one task prices several, with the version loaded once.
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "400")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def raw_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """California rows with a word in a number column and a gap where none is allowed."""
    frame = pd.read_csv(CALIFORNIA).drop(columns=[TARGET]).iloc[:2000].astype(object)
    frame.insert(0, "house_id", range(len(frame)))
    frame.loc[3, "total_rooms"] = "many"
    frame.loc[1500, "ocean_proximity"] = None
    path = tmp_path_factory.mktemp("spark") / "houses.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_the_udf_prices_a_csv_as_the_predictor_does(
        spark: Any, session_registry: Registry, california_gbm: VersionInfo,
        raw_csv: tuple[Path, pd.DataFrame]) -> None:
    from pyspark.sql import functions as F

    from estimator.integrations.spark import price_udf

    path, frame = raw_csv
    houses = spark.read.csv(str(path), header=True).repartition(2)  # every cell text, as read
    price = price_udf(california_gbm.ref, registry=session_registry.root)
    scored = (houses.withColumn("estimate", price(F.struct(*houses.columns)))
              .select("house_id", "estimate.*").toPandas())
    scored["house_id"] = scored["house_id"].astype(int)
    scored = scored.sort_values("house_id").reset_index(drop=True)
    assert len(scored) == 2000
    refused = scored[scored["price"].isna()]
    assert list(refused["house_id"]) == [3, 1500]
    assert list(refused["error"]) == ["field 'total_rooms': must be a whole number, got \"many\"",
                                      "field 'ocean_proximity': a value is required, got null"]
    good = scored.drop(index=[3, 1500])
    assert good["error"].isna().all()
    features = frame.drop(index=[3, 1500]).drop(columns=["house_id"])
    predictor = Predictor.load(california_gbm.path)
    expected = predictor.estimate(predictor.rules.columns({
        c: [None if pd.isna(v) else v for v in features[c]] for c in features}).matrix)
    np.testing.assert_allclose(good["price"].to_numpy(), expected.price, rtol=1e-12)
    assert expected.lower is not None and expected.upper is not None
    np.testing.assert_allclose(good["lower"].to_numpy(), expected.lower, rtol=1e-12)
    np.testing.assert_allclose(good["upper"].to_numpy(), expected.upper, rtol=1e-12)


def test_typed_parquet_with_gaps_is_imputed_not_refused(
        spark: Any, california_gbm: VersionInfo, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from estimator.integrations.spark import price_udf

    frame = pd.read_csv(CALIFORNIA).drop(columns=[TARGET]).iloc[:500]
    assert frame["total_bedrooms"].isna().any()  # the California data has gaps here
    frame.to_parquet(tmp_path / "houses.parquet")
    houses = spark.read.parquet(str(tmp_path / "houses.parquet"))
    price = price_udf(california_gbm.path, level=0.5)
    got = houses.select(price(F.struct(*houses.columns)).alias("e")).select("e.*").toPandas()
    assert got["error"].isna().all() and got["price"].notna().all()
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    np.testing.assert_allclose(got["price"].to_numpy(),
                               Predictor.load(california_gbm.path).predict_rows(rows),
                               rtol=1e-12)
    assert ((got["lower"] < got["price"]) & (got["price"] < got["upper"])).all()


def test_what_travels_to_the_executors_is_the_path_not_the_weights(
        california_gbm: VersionInfo) -> None:
    from pyspark import cloudpickle

    from estimator.integrations.spark import price_udf

    shipped = cloudpickle.dumps(price_udf(california_gbm.path).func)
    weights = sum(p.stat().st_size for p in (california_gbm.path / "model").rglob("*"))
    assert str(california_gbm.path.resolve()).encode() in shipped
    assert len(shipped) < 20_000 < weights


def test_an_unknown_model_fails_on_the_driver(session_registry: Registry,
                                              california_gbm: VersionInfo) -> None:
    from estimator.integrations.spark import price_udf

    with pytest.raises(ModelNotFoundError, match="california-gbm@v999"):
        price_udf("california-gbm@v999", registry=session_registry.root)
