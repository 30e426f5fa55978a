"""Sale prices from a file: for estimates served earlier, or for houses never estimated.

A file with an `id` column reports sales of estimates the service gave (their
ids, as /v2/predict answered them). A file of whole houses, without ids, is
priced by the model named (the library's own path, as batch scoring does),
logged as estimates made now, and given its sale prices: the houses sold
before the service existed, or elsewhere. Either way it is all or nothing:
the first bad row stops the import, naming its row, and nothing is stored.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from estimator.errors import DataError, ValidationError
from estimator.monitoring.store import Prediction, PredictionLog, Sale, check_sales

PRICE_COLUMNS = ("price", "sale_price", "sold_price")


@dataclass(frozen=True)
class Imported:
    stored: int
    estimated: int  # houses without an id, priced and logged by this import


def import_sales(path: str | Path, url: str, *, model: str | None = None,
                 registry: str | Path | None = None) -> Imported:
    """Store the sale prices a CSV or Parquet file reports.

    Raises DataError for an unreadable file or missing columns, ValidationError
    naming the first bad row, DatabaseError when the log cannot be used.
    """
    from estimator.data.sources import read_table

    frame = read_table(path, text=("id",))
    frame.columns = [str(c) for c in frame.columns]
    target = None
    predictor = None
    if "id" not in frame.columns:
        if model is None:
            raise DataError(f"'{path}' has no id column: give --model to price its houses, "
                            "or add the ids of the estimates they sold for.", path=str(path))
        from estimator.predictor import load_predictor

        predictor = load_predictor(model, registry)
        target = predictor.schema.target.name
    price_column = next((c for c in (*PRICE_COLUMNS, target) if c and c in frame.columns), None)
    if price_column is None:
        raise DataError(f"'{path}' has no sale price column ({', '.join(PRICE_COLUMNS)}).",
                        path=str(path), column="price")
    when = [_moment(v, row) for row, v in enumerate(frame["sold_at"])] \
        if "sold_at" in frame.columns else [None] * len(frame)
    prices = [_price(v) for v in frame[price_column]]
    log = PredictionLog(url)
    try:
        if predictor is None:
            sales = [Sale(id=str(i), price=p, sold_at=t)
                     for i, p, t in zip(frame["id"], prices, when, strict=True)]
            return Imported(stored=log.add_sales(sales), estimated=0)
        sales = [Sale(id=uuid.uuid4().hex, price=p, sold_at=t) for p, t in zip(prices, when,
                                                                              strict=True)]
        check_sales(sales)  # before anything is logged
        estimates = _estimates(predictor, frame, [s.id for s in sales])
        log.record(*estimates)
        return Imported(stored=log.add_sales(sales), estimated=len(estimates))
    finally:
        log.close()


def _estimates(predictor: Any, frame: Any, ids: list[str]) -> list[Prediction]:
    from estimator.data.sources import feature_columns

    columns = feature_columns(frame, predictor.schema, source="The sales file")
    estimates, houses = predictor.predict_columns(columns)
    if houses.errors:
        raise houses.errors[min(houses.errors)]
    now = datetime.now(UTC)
    names = predictor.schema.names
    out = []
    for i, house_id in enumerate(ids):
        features = {n: columns[n][i] for n in names if columns[n][i] is not None}
        out.append(Prediction(
            id=house_id, model=predictor.name, version=predictor.version, features=features,
            price=float(estimates.price[i]), created_at=now,
            lower=float(estimates.lower[i]) if estimates.lower is not None else None,
            upper=float(estimates.upper[i]) if estimates.upper is not None else None))
    return out


def _price(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan  # refused by check_sales, naming the row


def _moment(value: Any, row: int) -> datetime | None:
    import pandas as pd

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValidationError(f"cannot read {value!r} as a date", row=row,
                              field="sold_at") from None
    moment: datetime = (stamp.tz_localize("UTC") if stamp.tzinfo is None else
                        stamp.tz_convert("UTC")).to_pydatetime()
    return moment
