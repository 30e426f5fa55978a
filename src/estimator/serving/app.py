"""The app factory, `create_app(settings)`; plain uvicorn can call it too:

    uvicorn --factory estimator.serving.app:create_app

Creating the app opens no file: the first model version is loaded when the
server starts (lifespan), and a server without a model still answers
/health (200) and /ready (503, saying why) while the watcher keeps looking.
The OpenAPI document is rebuilt from the served version's feature schema
whenever the version changes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool

from estimator.errors import EstimatorError
from estimator.monitoring.database import upgrade
from estimator.monitoring.routes import feedback_router, monitoring_router
from estimator.monitoring.writer import LogWriter
from estimator.serving import handlers
from estimator.serving.holder import ModelHolder
from estimator.serving.metrics import Metrics, MetricsMiddleware
from estimator.serving.routes import V1_PATH, V2_PATH, add_api_routes, admin_router
from estimator.serving.settings import Settings
from estimator.web.pages import add_page_routes

DESCRIPTION = """\
House-price estimates from a registered model.

* **POST {v1}**: the article's API. Send a JSON list of houses, each an object
  with every feature below; the answer holds the houses as sent and one
  `Prediction price i` per house, in order.
* **POST {v2}**: the same houses under `instances`; the answer names the model
  version and gives each estimate an id and its warnings: a gap imputed as in
  training, a value far outside what the model saw, a category it never saw.
* **GET /v1/models**: the served version, its test metrics and feature schema.

A feature that had gaps in the training data may be null or left out (its
description says so); every other feature is required. Every answer to a
prediction carries the headers `X-Model-Name` and `X-Model-Version`. A
refused request answers `{{"error", "row", "field", "message"}}` naming the
house (row, from 0) and the feature at fault.

Served now: **{model}**.
"""

MODEL_HEADERS = {
    "X-Model-Name": {"description": "The model that computed the answer.",
                     "schema": {"type": "string"}},
    "X-Model-Version": {"description": "The version that computed the answer.",
                        "schema": {"type": "string"}},
}


def _package_version() -> str:
    try:
        return version("estimator")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def create_app(settings: Settings | None = None, holder: ModelHolder | None = None) -> FastAPI:
    """The FastAPI app serving the model the settings name (or the holder already holds)."""
    settings = settings or Settings()
    _configure_logging(settings.log_level)
    holder = holder or ModelHolder(settings)
    metrics = Metrics()
    holder.listeners.append(metrics.served)
    holder.failures.append(metrics.refused)
    if holder.current is not None:
        metrics.served(None, holder.current)

    writer = prediction_log(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        with threadpool_limits(limits=settings.blas_threads):
            await run_in_threadpool(holder.start)
            if writer is not None:
                await run_in_threadpool(start_log, writer, settings.database_url)
            try:
                yield
            finally:
                holder.stop()
                if writer is not None:
                    await run_in_threadpool(writer.stop)

    # /docs and /redoc load Swagger UI and ReDoc from the package, not from a CDN.
    app = FastAPIOffline(title="Estimator", version=_package_version(), lifespan=lifespan,
                         description="House-price estimates from a registered model.",
                         **_telemetry(settings.otel))
    app.state.holder = holder
    app.state.settings = settings
    app.state.metrics = metrics
    handlers.install(app)
    app.state.writer = writer
    add_api_routes(app, holder, settings, metrics, writer)
    add_page_routes(app, holder, settings, writer)
    app.include_router(monitoring_router(holder, settings, metrics, writer))
    if settings.admin_token is not None:
        admin = admin_router(holder, settings)
        admin.include_router(feedback_router(settings, writer))
        app.include_router(admin)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    holder.listeners.append(lambda previous, current: setattr(app, "openapi_schema", None))
    app.openapi = lambda: openapi_document(app, holder)  # type: ignore[method-assign]
    return app


def prediction_log(settings: Settings) -> LogWriter | None:
    """The writer of the prediction log, or None when logging is off; opens nothing yet."""
    if not settings.log_predictions:
        return None
    return LogWriter(settings.database_url, settings.spool)


def start_log(writer: LogWriter, url: str) -> None:
    """Start writing; the embedded SQLite file gets its tables here, a server's database
    from its migration step (`estimator db upgrade`). An unreachable database is no reason
    not to serve: estimates wait in the spool."""
    if url.startswith("sqlite"):
        try:
            upgrade(url)
        except EstimatorError as err:
            logging.getLogger("estimator.serving").error("prediction log: %s", err.message)
    writer.start()


def _telemetry(enabled: bool) -> dict[str, Any]:
    """FastAPI's own OpenTelemetry spans, metrics and logs (in versions that have them).

    Off unless ESTIMATOR_OTEL is set: /metrics already counts and times every
    request, and with no OpenTelemetry exporter configured they would cost
    time on every request for nothing.
    """
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": enabled, "metrics": enabled, "logs": enabled,
                          "operation_spans": enabled}}


def _configure_logging(level: str) -> None:
    """Show the service's own lines (switches, refusals) when nothing else configured logging."""
    logger = logging.getLogger("estimator")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def openapi_document(app: FastAPI, holder: ModelHolder) -> dict[str, Any]:
    """FastAPI's document, with the prediction bodies generated from the served schema."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    served = holder.current
    model = f"{served.name}@{served.version}" if served is not None else "none yet"
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes,
                       description=DESCRIPTION.format(v1=V1_PATH, v2=V2_PATH, model=model))
    if served is not None:
        types = served.answers.types
        spec.setdefault("components", {}).setdefault("schemas", {}).update(types.components())
        _body(spec, V1_PATH, types.v1_body_schema(), [types.example], "PredictionsV1Public")
        _body(spec, V2_PATH, {"$ref": "#/components/schemas/PredictRequestV2"},
              {"instances": [types.example], "explain": False}, "PredictionsV2Public")
    app.openapi_schema = spec
    return spec


def _body(spec: dict[str, Any], path: str, schema: dict[str, Any], example: Any,
          answer: str) -> None:
    operation = spec["paths"][path]["post"]
    operation["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": schema, "example": example}}}
    ok = operation["responses"]["200"]
    ok["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{answer}"}}}
    ok["headers"] = MODEL_HEADERS
