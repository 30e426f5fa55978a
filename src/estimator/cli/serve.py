"""`estimator serve`: the HTTP service, on port 5000 by default as in the article."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer

from estimator.cli.output import err_console
from estimator.errors import ConfigError


def serve(
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="NAME[@VERSION|@ALIAS] or a version folder [env: ESTIMATOR_MODEL; "
        "default: the only model of the registry].", show_default=False)] = None,
    host: Annotated[str | None, typer.Option(
        help="Interface to listen on [env: ESTIMATOR_HOST; default: 127.0.0.1].",
        show_default=False)] = None,
    port: Annotated[int | None, typer.Option(
        help="Port [env: ESTIMATOR_PORT; default: 5000].", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes [env: ESTIMATOR_WORKERS; default: 1].", show_default=False)] = None,
    registry: Annotated[Path | None, typer.Option(
        help="Registry root [env: ESTIMATOR_REGISTRY or MODEL_FOLDER; default: ./models].",
        show_default=False)] = None,
    max_batch: Annotated[int | None, typer.Option(
        help="Most houses in one request; more answer 413 [env: ESTIMATOR_MAX_BATCH; default: "
        "10000].", show_default=False)] = None,
) -> None:
    """Serve a registered model over HTTP; it follows its alias without a restart."""
    import uvicorn

    from estimator.predictor import Predictor
    from estimator.serving.app import create_app
    from estimator.serving.holder import ModelHolder
    from estimator.serving.source import source_from

    given: dict[str, Any] = {"model": model, "host": host, "port": port, "workers": workers,
                             "registry": registry, "max_batch": max_batch}
    overrides = {k: v for k, v in given.items() if v is not None}
    if registry is not None:
        overrides["model_folder"] = None  # an explicit --registry beats MODEL_FOLDER
    settings = load_settings(overrides)
    source = source_from(settings)
    folder = source.locate()
    predictor = Predictor.load(folder)  # fail here, in one line, not in a worker
    base = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}" \
           f":{settings.port}"
    err_console.print(f"serving {predictor.name}@{predictor.version} on {base}\n"
                      f"  docs:  {base}/docs\n  redoc: {base}/redoc", highlight=False)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port,
                               "log_level": settings.log_level, "access_log": False}
    if settings.workers == 1:
        app = create_app(settings, ModelHolder(settings, source, (predictor, folder)))
        uvicorn.run(app, **options)
        return
    # Worker processes build their own app from the environment: pin what was resolved here.
    os.environ.pop("MODEL_FOLDER", None)
    os.environ.pop("ESTIMATOR_MODEL_FOLDER", None)
    if source.registry is None:
        os.environ["ESTIMATOR_MODEL"] = str(source.folder)
    else:
        os.environ["ESTIMATOR_MODEL"] = source.ref
        os.environ["ESTIMATOR_REGISTRY"] = str(source.registry.root)
    os.environ["ESTIMATOR_MAX_BATCH"] = str(settings.max_batch)
    uvicorn.run("estimator.serving.app:create_app", factory=True, workers=settings.workers,
                **options)


def load_settings(overrides: dict[str, Any]) -> Any:
    """Settings from the environment and the command line; a bad value is a ConfigError."""
    from estimator.serving.settings import Settings

    try:
        return Settings(**overrides)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        got = "" if "token" in key else f" (got {first.get('input')!r})"
        raise ConfigError(f"Setting '{key}' is invalid: {first['msg']}{got}.", key=key) from None
