"""Every refused request becomes `{error, row, field, message}` here, and only here.

Library errors carry their row and field; the few errors that only HTTP
knows about (a body too large, not JSON, no model yet, a bad token) are
small subclasses of the library's tree so that one table maps them all to
a status code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from estimator.errors import (
    ConfigError,
    EstimatorError,
    ModelLoadError,
    ModelNotFoundError,
    RegistryError,
    ValidationError,
)

log = logging.getLogger("estimator.serving")


class RequestTooLargeError(ValidationError):
    """The body is over the byte limit or holds more houses than `--max-batch`."""


class InvalidJSONError(ValidationError):
    """The body cannot be parsed as JSON at all."""


class UnsupportedMediaTypeError(ValidationError):
    """The body is declared as something other than JSON in UTF-8."""


class NotReadyError(EstimatorError):
    """No model version is loaded yet."""


class UnauthorizedError(EstimatorError):
    """An admin route was called without the right bearer token."""


# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[EstimatorError], int, str]] = [
    (RequestTooLargeError, 413, "too_large"),
    (InvalidJSONError, 400, "invalid_json"),
    (UnsupportedMediaTypeError, 415, "unsupported_media_type"),
    (ValidationError, 422, "invalid_input"),
    (UnauthorizedError, 401, "unauthorized"),
    (NotReadyError, 503, "not_ready"),
    (ModelNotFoundError, 404, "model_not_found"),
    (ModelLoadError, 409, "model_load_failed"),
    (RegistryError, 409, "registry_error"),
    (ConfigError, 400, "bad_config"),
    (EstimatorError, 400, "bad_request"),
]

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
              405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def error_response(status: int, code: str, message: str, row: int | None = None,
                   field: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": code, "row": row, "field": field, "message": message})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def status_of(err: EstimatorError) -> tuple[int, str]:
    for cls, status, code in STATUS:
        if isinstance(err, cls):
            return status, code
    return 400, "bad_request"  # pragma: no cover - EstimatorError closes the table


async def _estimator_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, EstimatorError)
    status, code = status_of(err)
    row = getattr(err, "row", None)
    field = getattr(err, "field", None)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, err.message)
    return error_response(status, code, err.message, row, field, headers)


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, HTTPException)
    code = HTTP_CODES.get(err.status_code, "http_error")
    return error_response(err.status_code, code, str(err.detail), headers=err.headers)


async def _request_validation(request: Request, err: Exception) -> Response:
    """Query or path parameters FastAPI itself validates (request bodies are ours)."""
    assert isinstance(err, RequestValidationError)
    first: dict[str, Any] = err.errors()[0] if err.errors() else {}
    raw = list(first.get("loc", ()))
    rows = [p for p in raw if isinstance(p, int)]  # a list body: the item at fault
    loc = [str(p) for p in raw]
    field = next((p for p in reversed(raw) if isinstance(p, str)), None)
    return error_response(422, "invalid_input", f"{'.'.join(loc)}: {first.get('msg', 'invalid')}",
                          row=rows[0] if rows else None, field=field)


async def _unexpected(request: Request, err: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "The server failed to answer; this is a bug, "
                          "and it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(EstimatorError, _estimator_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(Exception, _unexpected)
