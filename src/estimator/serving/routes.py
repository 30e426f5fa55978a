"""The HTTP routes: thin shells that read a body, ask the served bundle, and answer.

Prediction routes read the raw body themselves (with a size limit), since
the request type belongs to the version being served and changes with it,
and hand it to that version's `Answers`; their request and answer schemas
are added to the OpenAPI document from the served feature schema (see
`app.openapi_document`).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from estimator.monitoring.writer import LogWriter
from estimator.registry import Registry
from estimator.serving.bodies import read_json
from estimator.serving.handlers import UnauthorizedError
from estimator.serving.holder import ModelHolder, Served
from estimator.serving.metrics import CONTENT_TYPE, Metrics
from estimator.serving.schemas import ModelRef, error_responses
from estimator.serving.settings import Settings

V1_PATH = "/v1/services/predict"
V2_PATH = "/v2/predict"


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
    """Predictions, then health, readiness, the model's description and Prometheus'."""
    limit = settings.max_body_bytes
    v1_rows, v2_rows = metrics.rows.labels(V1_PATH), metrics.rows.labels(V2_PATH)

    @app.post(V1_PATH, tags=["predict"], summary="Estimate prices (the article's API)",
              responses=error_responses(400, 413, 415, 422, 503))
    async def predict_v1(request: Request) -> Response:
        """Send a JSON list of houses; get them back with one `Prediction price i` each."""
        served = holder.require()
        answer = served.answers.v1(await read_json(request, limit))
        v1_rows.inc(answer.count)
        if writer is not None:
            writer.put(answer.logged)
        return _answer(answer.content, served)

    @app.post(V2_PATH, tags=["predict"], summary="Estimate prices, with ids and warnings",
              responses=error_responses(400, 413, 415, 422, 503))
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

    @app.get("/ready", response_model=HealthPublic, responses=error_responses(503),
             tags=["service"])
    async def ready() -> dict[str, Any]:
        """Readiness: 200 once a model version is loaded, 503 until then."""
        return {"status": "ready", "model": _ref(holder.require())}

    @app.get("/v1/models", response_model=ModelPublic, responses=error_responses(503),
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

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    async def prometheus() -> Response:
        """Prometheus metrics: requests and latency per route and status, rows, version."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _registry_aliases(registry: Registry | None, name: str) -> dict[str, str]:
    return registry.aliases(name) if registry is not None else {}


bearer = HTTPBearer(auto_error=False, description="The value of ESTIMATOR_ADMIN_TOKEN.")


def admin_router(holder: ModelHolder, settings: Settings) -> APIRouter:
    """Routes that change the service (reporting sales joins them, see `app`); only mounted
    when ESTIMATOR_ADMIN_TOKEN is set."""
    assert settings.admin_token is not None
    expected = settings.admin_token.get_secret_value().encode()

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise UnauthorizedError("This route needs the header 'Authorization: Bearer "
                                    "<ESTIMATOR_ADMIN_TOKEN>'.")

    router = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])

    @router.post("/admin/reload", tags=["admin"], response_model=ReloadPublic,
                 responses=error_responses(401, 404, 409))
    async def reload() -> dict[str, Any]:
        """Look at the served alias now and switch if it moved (409 if that version is bad)."""
        previous = holder.current
        switched = await run_in_threadpool(holder.refresh, True)
        return {"switched": switched, "model": _ref(holder.require()),
                "previous": _ref(previous) if switched else None}

    return router
