"""Prices in a PySpark job: a pandas UDF over the same chunk step as `estimator predict`.

    from pyspark.sql import functions as F
    from estimator.integrations.spark import price_udf

    price = price_udf("california-price@production", registry="/mnt/models")
    scored = (houses.withColumn("estimate", price(F.struct(*houses.columns)))
                    .select("*", "estimate.*").drop("estimate"))

The UDF takes a struct of the house's columns (others than the features are
ignored) and answers a struct: `price`, `lower` and `upper` (null where the
version has no calibration), and `error`, the reason a refused house got no
price ("field 'rooms': must be a number, got \"many\""), so that one bad
row does not fail a nightly job. Each Arrow batch is priced by
`batch.score_chunk`, the step of the plain and the Dask engines.

What Spark ships to the executors is the version folder's path, resolved
once on the driver (an alias that moves mid-job does not mix versions), never
the model's weights; each executor's Python worker loads the version once.
The registry must be on storage every executor sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimator.batch import score_chunk
from estimator.errors import ConfigError
from estimator.integrations import loaded
from estimator.predictor import Predictor, version_folder

RESULT = "price double, lower double, upper double, error string"


def estimates(predictor: Predictor, houses: pd.DataFrame,
              level: float | None = None) -> pd.DataFrame:
    """One Arrow batch's answers, row for row: the estimate and its range, or why not."""
    batch = houses.reset_index(drop=True)
    scored = score_chunk(predictor, batch, column="price", level=level,
                         source="The UDF's struct")
    target = predictor.schema.target.name
    out = pd.DataFrame({"price": np.full(len(batch), np.nan), "lower": np.nan,
                        "upper": np.nan}, index=batch.index)
    out.loc[scored.frame.index, "price"] = scored.frame["price"].to_numpy()
    if f"lower_{target}" in scored.frame:
        out.loc[scored.frame.index, "lower"] = scored.frame[f"lower_{target}"].to_numpy()
        out.loc[scored.frame.index, "upper"] = scored.frame[f"upper_{target}"].to_numpy()
    error = pd.Series([None] * len(batch), index=batch.index, dtype=object)
    for row, field, reason in scored.errors:
        error.iloc[row] = f"field '{field}': {reason}" if field else reason
    out["error"] = error
    return out


def price_udf(model: str | Path, registry: str | Path | None = None, *,
              level: float | None = None) -> Any:
    """A pandas UDF pricing a struct of house columns with `model` (NAME[@VERSION|@ALIAS] or
    a version folder), ranges at `level` (the version's default when None).

    Raises ModelNotFoundError or ModelLoadError here, on the driver, for a model that
    cannot be used, and ConfigError when PySpark is not installed.
    """
    try:
        from pyspark.sql.pandas.functions import pandas_udf
    except ImportError:
        raise ConfigError("The Spark UDF needs PySpark: pip install 'estimator[spark]'.",
                          key="spark") from None
    folder = str(version_folder(model, registry))
    loaded(folder)  # a missing or corrupt version fails now, not on every executor

    def price(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        predictor = loaded(folder)  # only `folder` and `level` travel with the function
        for houses in batches:
            yield estimates(predictor, houses, level)

    return pandas_udf(price, RESULT)  # type: ignore[call-overload]
