"""The monitoring stage over HTTP: realized accuracy, drift, and sale prices reported.

The service's app factory mounts these beside the estimate routes; reporting
sales changes what is kept for good, so that route joins the admin routes
(bearer token).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any

import orjson
import pydantic
from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from estimator.errors import ValidationError
from estimator.monitoring.accuracy import accuracy
from estimator.monitoring.drift import MAX_WINDOW, drift_report
from estimator.monitoring.store import PredictionLog, Sale
from estimator.monitoring.writer import LogWriter
from estimator.serving.bodies import read_json
from estimator.serving.handlers import InvalidJSONError
from estimator.serving.holder import ModelHolder
from estimator.serving.metrics import Metrics
from estimator.serving.schemas import REF_TEMPLATE, error_responses
from estimator.serving.settings import Settings


def monitoring_router(holder: ModelHolder, settings: Settings, metrics: Metrics,
                      writer: LogWriter | None) -> APIRouter:
    """The served model's realized accuracy and drift, read from the prediction log."""
    router = APIRouter(prefix="/v1/monitoring", tags=["monitoring"])

    @router.get("/accuracy", responses=error_responses(503))
    async def realized_accuracy() -> dict[str, Any]:
        """The served model's realized accuracy: median error, shares within 5/10/20 % and
        range coverage of the estimates that got a sale price, by version and by month, beside
        the test split's figures at training."""
        served = holder.require()
        registry = holder.source.registry if holder.source is not None else None
        return await run_in_threadpool(accuracy, settings.database_url, served.name,
                                       registry.root if registry is not None else None)

    @router.get("/drift", responses=error_responses(409, 503))
    async def feature_drift(window: Annotated[int | None, Query(
            ge=1, le=MAX_WINDOW, description="Only the latest N estimates.")] = 5000,
                            ) -> dict[str, Any]:
        """Drift of the served version's latest logged houses from its training data: per
        feature a PSI with a bootstrap interval and a verdict, ranked by importance, and the
        drift of the predictions. The figures also become Prometheus gauges."""
        served = holder.require()
        if writer is not None:
            await run_in_threadpool(writer.settle)
        report = await run_in_threadpool(partial(drift_report, settings.database_url,
                                                 served.predictor, window=window))
        metrics.drifted(report)
        return report

    return router


class SaleIn(BaseModel):
    """What a house sold for, reported for an estimate served earlier."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The estimate's id, as /v2/predict answered it.")
    price: float = Field(description="The sale price, in the unit of the estimates.")
    sold_at: AwareDatetime | date | None = Field(None, description="When it sold (a date, or "
                                                 "a time with its zone); default: now.")


class StoredPublic(BaseModel):
    stored: int = Field(description="Sale prices stored (all of those sent, or none).")


SALES: TypeAdapter[Any] = TypeAdapter(SaleIn | list[SaleIn])
SALE_LIST: TypeAdapter[list[SaleIn]] = TypeAdapter(list[SaleIn])


def feedback_router(settings: Settings, writer: LogWriter | None) -> APIRouter:
    """`POST /feedback`, for the admin router to include under its token."""
    router = APIRouter()
    log = writer.log if writer is not None else PredictionLog(settings.database_url)

    @router.post("/feedback", response_model=StoredPublic,
                 responses=error_responses(400, 401, 415, 422),
                 tags=["monitoring"], openapi_extra={"requestBody": {
                     "required": True, "content": {"application/json": {
                         "schema": SALES.json_schema(ref_template=REF_TEMPLATE)}}}})
    async def feedback(request: Request) -> dict[str, int]:
        """Report sale prices of earlier estimates: one object or a list, stored all or none
        (an unknown id, one given twice or already priced, a price that is not positive or a
        sale in the future is refused naming its row)."""
        given = parse_sales(await read_json(request, settings.max_body_bytes))
        if writer is not None:  # an estimate served a moment ago may still be queued
            await run_in_threadpool(writer.settle)
        found = [Sale(id=s.id, price=s.price, sold_at=_moment(s.sold_at)) for s in given]
        return {"stored": await run_in_threadpool(log.add_sales, found)}

    return router


def parse_sales(body: bytes) -> list[SaleIn]:
    """One sale or a list of them; a fault names its row (0 for a single object) and field."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidJSONError(f"the body is not valid JSON ({err})") from None
    try:
        sales = SALE_LIST.validate_python(parsed if isinstance(parsed, list) else [parsed])
    except pydantic.ValidationError as err:
        first = err.errors(include_url=False)[0]
        loc = list(first["loc"])
        row = loc[0] if loc and isinstance(loc[0], int) else None
        field = str(loc[1]) if len(loc) > 1 else None
        raise ValidationError(first["msg"], row=row, field=field) from None
    _refuse_repeated_keys(body)  # a valid body of sales: safe to parse again
    return sales


def _refuse_repeated_keys(body: bytes) -> None:
    """A sale that gives a key twice is refused: parsers keep one of the two values silently,
    and a sale price is kept for good. Sales are flat objects, met in row order."""
    row = 0

    def once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal row
        keys = [key for key, _ in pairs]
        repeated = next((key for i, key in enumerate(keys) if key in keys[:i]), None)
        if repeated is not None:
            raise ValidationError("is given twice; send each key once", row=row,
                                  field=repeated)
        row += 1
        return dict(pairs)

    json.loads(body, object_pairs_hook=once)


def _moment(when: datetime | date | None) -> datetime | None:
    """A sale's moment: a date is taken at midnight UTC."""
    if when is None or isinstance(when, datetime):
        return when
    return datetime(when.year, when.month, when.day, tzinfo=UTC)
