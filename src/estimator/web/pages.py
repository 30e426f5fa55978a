"""The pages: `/` estimates a house from a form, `/models` shows the versions.

Server-rendered with Jinja2 from the served version's schema. The form posts
back to `/` and its house goes through the same `Answers.v2` as the API, so
the page's price is the API's price, its refusals are the API's messages
(shown beside the field they name) and its estimates are logged like any
other. The pages need no JavaScript; their stylesheet is served from the
package, so they work on a closed network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from estimator.errors import EstimatorError, ValidationError
from estimator.monitoring.accuracy import accuracy
from estimator.monitoring.drift import drift_report
from estimator.monitoring.writer import LogWriter
from estimator.registry import Registry, VersionInfo
from estimator.serving.bodies import read_body
from estimator.serving.holder import ModelHolder, Served
from estimator.serving.settings import Settings
from estimator.web import views

STATIC = Path(__file__).parent / "static"
DRIFT_WINDOW = 5000


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("estimator.web", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["number"] = lambda v: "–" if v is None else views.number(float(v))
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.1f} %"
    env.filters["shown"] = views.shown
    return env


def add_page_routes(app: FastAPI, holder: ModelHolder, settings: Settings,
                    writer: LogWriter | None) -> None:
    """`/` and `/models`, and their stylesheet under `/static`."""
    env = _environment()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def no_model() -> HTMLResponse:
        return render("waiting.html", status=503, problem=holder.problem)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def estimate_page() -> HTMLResponse:
        served = holder.current
        if served is None:
            return no_model()
        return render("estimate.html", **_form_page(served, None, {}))

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def estimate_from_form(request: Request) -> HTMLResponse:
        served = holder.current
        if served is None:
            return no_model()
        body = await read_body(request, settings.max_body_bytes)
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        house = views.house_from_form(served.predictor.schema, form)
        explain = served.predictor.explainer is not None
        request_body = orjson.dumps({"instances": [house], "explain": explain})
        try:
            answer = await run_in_threadpool(served.answers.v2, request_body)
        except ValidationError as err:
            errors = {err.field: err.reason} if err.field in form_names(served) else {}
            general = None if errors else err.message
            # 200: the page itself worked; the browser would log a 422 as a console error.
            return render("estimate.html", **_form_page(served, form, errors, general=general))
        if writer is not None:
            writer.put(answer.logged)
        result = orjson.loads(answer.content)
        return render("estimate.html", **_form_page(served, form, {},
                                                    result=_result(served, result)))

    @app.get("/models", response_class=HTMLResponse, include_in_schema=False)
    async def models_page() -> HTMLResponse:
        served = holder.current
        if served is None:
            return no_model()
        registry = holder.source.registry if holder.source is not None else None
        context = await run_in_threadpool(_models_context, served, registry, settings, writer)
        return render("models.html", **context)


def form_names(served: Served) -> set[str]:
    return set(served.predictor.schema.names)


def _form_page(served: Served, form: dict[str, str] | None, errors: dict[str, str],
               general: str | None = None, result: dict[str, Any] | None = None,
               ) -> dict[str, Any]:
    predictor = served.predictor
    return {"model": served, "target": predictor.schema.target,
            "fields": views.form_fields(predictor, form, errors), "general": general,
            "result": result}


def _result(served: Served, answer: dict[str, Any]) -> dict[str, Any]:
    """The result card: the price, its range, its top reasons and comparable houses."""
    estimate = answer["predictions"][0]
    unit = served.predictor.schema.target.unit
    comparables = [{"price": views.price(c["price"], unit),
                    "differences": c["differences"]}
                   for c in estimate.get("comparables", [])]
    low, high = estimate.get("lower"), estimate.get("upper")
    return {
        "id": estimate["id"], "price": views.price(estimate["price"], unit),
        "level": round(answer["level"] * 100) if answer.get("level") else None,
        "lower": views.price(low, unit) if low is not None else None,
        "upper": views.price(high, unit) if high is not None else None,
        "base": views.price(estimate["base"], unit) if "base" in estimate else None,
        "reasons": views.reasons(estimate.get("contributions", {}), unit),
        "comparables": comparables, "warnings": estimate.get("warnings", []),
    }


def _models_context(served: Served, registry: Registry | None, settings: Settings,
                    writer: LogWriter | None) -> dict[str, Any]:
    """The served version, its siblings, the alias history, drift and realized accuracy."""
    name = served.name
    versions = registry.versions(name) if registry is not None else []
    aliases = registry.aliases(name) if registry is not None else {}
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(version, []).append(alias)
    meta = served.predictor.meta
    context: dict[str, Any] = {
        "model": served, "unit": served.predictor.schema.target.unit,
        "versions": [_version_row(v, by_version.get(v.version, []), v.version == served.version)
                     for v in reversed(versions)],
        "history": list(reversed(registry.history(name))) if registry is not None else [],
        "metrics": meta.get("metrics", {}), "curves": _curves(served.path),
        "drift": None, "accuracy": None, "trend": "", "problems": [],
    }
    if writer is not None:
        writer.settle()
    try:
        context["drift"] = drift_report(settings.database_url, served.predictor,
                                        window=DRIFT_WINDOW)
    except EstimatorError as err:
        context["problems"].append(f"Drift: {err.message}")
    try:
        realized = accuracy(settings.database_url, name,
                            registry.root if registry is not None else None)
        months = [m["median_ape"] for m in realized["months"]]
        context["accuracy"] = realized
        context["trend"] = views.polyline(months, low=0.0) if len(months) > 1 else ""
    except EstimatorError as err:
        context["problems"].append(f"Realized accuracy: {err.message}")
    return context


def _version_row(info: VersionInfo, aliases: list[str], served: bool) -> dict[str, Any]:
    metrics = info.meta.get("metrics", {})
    test = metrics.get("test", {})
    ranges = metrics.get("intervals") or {}
    return {"version": info.version, "family": info.meta.get("family"),
            "created": (info.meta.get("created") or "")[:16].replace("T", " "),
            "aliases": sorted(aliases), "served": served, "rmse": test.get("rmse"),
            "mae": test.get("mae"), "r2": test.get("r2"),
            "median_ape": (metrics.get("valuation") or {}).get("median_ape"),
            "coverage": ranges.get("coverage"), "level": ranges.get("level")}


def _curves(folder: Path) -> dict[str, Any] | None:
    path = folder / "curves.json"
    if not path.is_file():
        return None
    try:
        return views.learning_curves(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
