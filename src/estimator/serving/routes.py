"""The HTTP routes: thin shells that read a body, ask the served bundle, and answer.

Prediction routes read the raw body themselves (with a size limit) and hand
it to the served version's codec, which validates it in one call; their
request and answer schemas are added to the OpenAPI document from the
served feature schema (see `app.openapi_document`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match
from starlette.types import Scope

from estimator.registry import Registry
from estimator.serving.handlers import RequestTooLargeError, UnauthorizedError
from estimator.serving.holder import ModelHolder, Served
from estimator.serving.metrics import CONTENT_TYPE, Metrics
from estimator.serving.schemas import ErrorPublic, ModelRef
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


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError(f"the body holds {declared} bytes, more than the limit of "
                                   f"{limit}; split the houses into smaller requests")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLargeError(f"the body is larger than the limit of {limit} bytes; "
                                       "split the houses into smaller requests")
        chunks.append(chunk)
    return b"".join(chunks)


class _Answer(Response):
    """A JSON answer whose other headers (type, model name and version) were encoded once
    per version: Starlette's `init_headers` would build them again for every request."""

    def __init__(self, content: bytes, served: Served) -> None:
        self._fixed = served.raw_headers
        super().__init__(content)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()), *self._fixed]


def _ref(served: Served | None) -> dict[str, str] | None:
    return {"name": served.name, "version": served.version} if served is not None else None


class StaticPathRoute(APIRoute):
    """A FastAPI route that refuses another path with one string comparison.

    The router asks every route in turn whether it matches, and FastAPI's
    own answer costs a request about as much as parsing a small body; a
    path without parameters (under no root path) can say no at once.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if "{" not in self.path and not scope.get("root_path") and scope.get("path") != self.path:
            return Match.NONE, {}
        return super().matches(scope)


def add_api_routes(app: FastAPI, holder: ModelHolder, settings: Settings,
                   metrics: Metrics) -> None:
    """Predictions, then health, readiness, the model's description and metrics.

    Every route checked before the one a request is for costs it a failed
    match, so the prediction routes come first. They are added to the app
    itself: FastAPI (since 0.137) resolves the routes of an included router
    through one more layer on every request, about a fifth of the time of a
    one-house request here. With `benchmark_routes`, the benchmark's baseline
    is matched first of all, so that it pays no route check the prediction
    routes skip.
    """
    limit = settings.max_body_bytes
    rows = metrics.rows
    rows.update({V1_PATH: 0, V2_PATH: 0})  # both series exist from the start
    app.router.route_class = StaticPathRoute

    if settings.benchmark_routes:
        @app.post("/v1/baseline", include_in_schema=False)
        async def baseline(request: Request) -> Response:
            """Parses the same body as the prediction routes and answers a constant."""
            orjson.loads(await read_body(request, limit))
            return Response(b'{"ok":true}', media_type="application/json")

    @app.post(V1_PATH, tags=["predict"], summary="Estimate prices (the article's API)",
              responses=_errors(400, 413, 422, 503))
    async def predict_v1(request: Request) -> Response:
        """Send a JSON list of houses; get them back with one `Prediction price i` each."""
        served = holder.require()
        content, n = served.codec.answer_v1(await read_body(request, limit))
        rows[V1_PATH] += n
        return _Answer(content, served)

    @app.post(V2_PATH, tags=["predict"], summary="Estimate prices, with ids and warnings",
              responses=_errors(400, 413, 422, 503))
    async def predict_v2(request: Request) -> Response:
        """Send `{"instances": [...]}`; get the model's name and version, an id and a price per
        house, and warnings for values far outside the training range or unseen categories."""
        served = holder.require()
        content, n = served.codec.answer_v2(await read_body(request, limit))
        rows[V2_PATH] += n
        return _Answer(content, served)

    if settings.benchmark_routes:
        @app.post("/v1/baseline/typed", include_in_schema=False)
        async def baseline_typed(houses: list[dict[str, float | int | str]]) -> dict[str, bool]:
            """The idiomatic FastAPI route (a typed body), answering a constant."""
            return {"ok": True}

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

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"])
    async def prometheus() -> Response:
        """Prometheus metrics: requests and latency per route and status, rows, version."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)


def _registry_aliases(registry: Registry | None, name: str) -> dict[str, str]:
    return registry.aliases(name) if registry is not None else {}


bearer = HTTPBearer(auto_error=False, description="The value of ESTIMATOR_ADMIN_TOKEN.")


def admin_router(holder: ModelHolder, settings: Settings) -> APIRouter:
    """Routes that change the service; only mounted when ESTIMATOR_ADMIN_TOKEN is set."""
    assert settings.admin_token is not None
    expected = settings.admin_token.get_secret_value().encode()

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                          Depends(bearer)]) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise UnauthorizedError("This route needs the header 'Authorization: Bearer "
                                    "<ESTIMATOR_ADMIN_TOKEN>'.")

    router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(authorised)])

    @router.post("/reload", response_model=ReloadPublic, responses=_errors(401, 404, 409))
    async def reload() -> dict[str, Any]:
        """Look at the served alias now and switch if it moved (409 if that version is bad)."""
        previous = holder.current
        switched = await run_in_threadpool(holder.refresh, True)
        return {"switched": switched, "model": _ref(holder.require()),
                "previous": _ref(previous) if switched else None}

    return router
