"""The HTTP routes: thin shells that read a body, ask the served bundle, and answer.

Prediction routes read the raw body themselves (with a size limit), since
the request type belongs to the version being served and changes with it,
and hand it to that version's `Answers`; their request and answer schemas
are added to the OpenAPI document from the served feature schema (see
`app.openapi_document`).
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any

import orjson
import pydantic
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from estimator.errors import ValidationError
from estimator.monitoring.accuracy import accuracy
from estimator.monitoring.drift import MAX_WINDOW, drift_report
from estimator.monitoring.store import PredictionLog, Sale
from estimator.monitoring.writer import LogWriter
from estimator.registry import Registry
from estimator.serving.bodies import read_json
from estimator.serving.handlers import InvalidJSONError, UnauthorizedError
from estimator.serving.holder import ModelHolder, Served
from estimator.serving.metrics import CONTENT_TYPE, Metrics
from estimator.serving.schemas import REF_TEMPLATE, ErrorPublic, ModelRef
from estimator.serving.settings import Settings

V1_PATH = "/v1/services/predict"
V2_PATH = "/v2/predict"


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorPublic} for status in statuses}


class HealthPublic(BaseModel):
    status: str = Field(description="'ok' while the process runs; 'ready' once a model is in.")
    model: ModelRef | None = Field(None, description="The version being served, if any.")
    message: str | None = Field(None, description="Why no model is served, when none is.")


class ModelPublic(BaseModel):
    """The served version: what it is, how good it was, what it takes, where it has been."""

    name: str
    version: str
    family: str | None = None
    created: str | None = None
    loaded_at: str
    source: str
    metrics: dict[str, Any] = Field(description="Metrics recorded at training.")
    feature_schema: dict[str, Any] = Field(serialization_alias="schema",
                                           description="The feature schema of this version.")
    aliases: dict[str, str] = Field(description="The model's aliases and their versions.")
    history: list[dict[str, Any]] = Field(description="Every alias move, oldest first.")


class ReloadPublic(BaseModel):
    switched: bool
    model: ModelRef
    previous: ModelRef | None = None


def _answer(content: bytes, served: Served) -> Response:
    return Response(content, media_type="application/json", headers=served.headers)


def _ref(served: Served | None) -> dict[str, str] | None:
    return {"name": served.name, "version": served.version} if served is not None else None


def add_api_routes(app: FastAPI, holder: ModelHolder, settings: Settings,
                   metrics: Metrics, writer: LogWriter | None) -> None:
    """Predictions, then health, readiness, the model's description and metrics."""
    limit = settings.max_body_bytes
    v1_rows, v2_rows = metrics.rows.labels(V1_PATH), metrics.rows.labels(V2_PATH)

    @app.post(V1_PATH, tags=["predict"], summary="Estimate prices (the article's API)",
              responses=_errors(400, 413, 415, 422, 503))
    async def predict_v1(request: Request) -> Response:
        """Send a JSON list of houses; get them back with one `Prediction price i` each."""
        served = holder.require()
        answer = served.answers.v1(await read_json(request, limit))
        v1_rows.inc(answer.count)
        if writer is not None:
            writer.put(answer.logged)
        return _answer(answer.content, served)

    @app.post(V2_PATH, tags=["predict"], summary="Estimate prices, with ids and warnings",
              responses=_errors(400, 413, 415, 422, 503))
    async def predict_v2(request: Request, level: Annotated[float | None, Query(
            gt=0, lt=1, description="The level of the price ranges (0.8 for 80 %).")] = None,
                         ) -> Response:
        """Send `{"instances": [...]}`; get the model's name and version, and for each house an
        id, a price, its range and its warnings (gaps imputed, values far outside the
        training range, unseen categories)."""
        served = holder.require()
        answer = served.answers.v2(await read_json(request, limit), level)
        v2_rows.inc(answer.count)
        if writer is not None:
            writer.put(answer.logged)
        return _answer(answer.content, served)

    @app.get("/health", response_model=HealthPublic, tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness: 200 whenever the process answers, naming the served version if any."""
        served = holder.current
        return {"status": "ok", "model": _ref(served),
                "message": None if served is not None else holder.problem}

    @app.get("/ready", response_model=HealthPublic, responses=_errors(503), tags=["service"])
    async def ready() -> dict[str, Any]:
        """Readiness: 200 once a model version is loaded, 503 until then."""
        return {"status": "ready", "model": _ref(holder.require())}

    @app.get("/v1/models", response_model=ModelPublic, responses=_errors(503),
             tags=["models"])
    async def describe_model() -> dict[str, Any]:
        """The served version: its metrics, its feature schema and its alias history."""
        served = holder.require()
        meta = served.predictor.meta
        registry = holder.source.registry if holder.source is not None else None
        return {
            "name": served.name, "version": served.version, "family": meta.get("family"),
            "created": meta.get("created"), "loaded_at": served.loaded_at,
            "source": holder.source.describe() if holder.source else str(served.path),
            "metrics": meta.get("metrics", {}),
            "feature_schema": served.predictor.schema.to_dict(),
            "aliases": _registry_aliases(registry, served.name),
            "history": registry.history(served.name) if registry is not None else [],
        }

    @app.get("/v1/monitoring/accuracy", responses=_errors(503), tags=["monitoring"])
    async def realized_accuracy() -> dict[str, Any]:
        """The served model's realized accuracy: median error, shares within 5/10/20 % and
        range coverage of the estimates that got a sale price, by version and by month, beside
        the test split's figures at training."""
        served = holder.require()
        registry = holder.source.registry if holder.source is not None else None
        return await run_in_threadpool(accuracy, settings.database_url, served.name,
                                       registry.root if registry is not None else None)

    @app.get("/v1/monitoring/drift", responses=_errors(409, 503), tags=["monitoring"])
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

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    async def prometheus() -> Response:
        """Prometheus metrics: requests and latency per route and status, rows, version."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _moment(when: datetime | date | None) -> datetime | None:
    """A sale's moment: a date is taken at midnight UTC."""
    if when is None or isinstance(when, datetime):
        return when
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


def _registry_aliases(registry: Registry | None, name: str) -> dict[str, str]:
    return registry.aliases(name) if registry is not None else {}


bearer = HTTPBearer(auto_error=False, description="The value of ESTIMATOR_ADMIN_TOKEN.")


class SaleIn(BaseModel):
    """What a house sold for, reported for an estimate served earlier."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The estimate's id, as /v2/predict answered it.")
    price: float = Field(description="The sale price, in the unit of the estimates.")
    sold_at: AwareDatetime | date | None = Field(None, description="When it sold (a date, or "
                                                 "a time with its zone); default: now.")


SALES: TypeAdapter[Any] = TypeAdapter(SaleIn | list[SaleIn])
SALE_LIST: TypeAdapter[list[SaleIn]] = TypeAdapter(list[SaleIn])


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


class StoredPublic(BaseModel):
    stored: int = Field(description="Sale prices stored (all of those sent, or none).")


def admin_router(holder: ModelHolder, settings: Settings,
                 writer: LogWriter | None) -> APIRouter:
    """Routes that change the service; only mounted when ESTIMATOR_ADMIN_TOKEN is set."""
    assert settings.admin_token is not None
    expected = settings.admin_token.get_secret_value().encode()

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise UnauthorizedError("This route needs the header 'Authorization: Bearer "
                                    "<ESTIMATOR_ADMIN_TOKEN>'.")

    router = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])
    log = writer.log if writer is not None else PredictionLog(settings.database_url)

    @router.post("/feedback", response_model=StoredPublic, responses=_errors(400, 401, 415, 422),
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

    @router.post("/admin/reload", tags=["admin"], response_model=ReloadPublic,
                 responses=_errors(401, 404, 409))
    async def reload() -> dict[str, Any]:
        """Look at the served alias now and switch if it moved (409 if that version is bad)."""
        previous = holder.current
        switched = await run_in_threadpool(holder.refresh, True)
        return {"switched": switched, "model": _ref(holder.require()),
                "previous": _ref(previous) if switched else None}

    return router
