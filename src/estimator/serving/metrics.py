"""Prometheus metrics of one app: requests and latency per route and status, rows, version.

Each app gets its own collector registry, so that several apps in one
process (tests) never share counters. With several uvicorn workers each
process reports its own figures; scrape every pod, or run one worker per
pod as the Kubernetes manifests do.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The service's collectors, registered in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["route", "method", "status"]
        self.requests = Counter("estimator_http_requests_total", "HTTP requests answered.",
                                labels, registry=self.registry)
        self.latency = Histogram("estimator_http_request_duration_seconds",
                                 "Time to answer an HTTP request.", labels, buckets=BUCKETS,
                                 registry=self.registry)
        self.rows = Counter("estimator_rows_predicted", "Houses priced.", ["route"],
                            registry=self.registry)
        self.model = Gauge("estimator_model_info", "The model version being served (value 1).",
                           ["name", "version"], registry=self.registry)
        self.switches = Counter("estimator_model_switches_total",
                                "Times the served version changed without a restart.",
                                registry=self.registry)
        self.drift = Gauge("estimator_drift_psi", "PSI of the latest logged houses against "
                           "the training data, less the part chance gives.", ["feature"],
                           registry=self.registry)
        self.drift_alarm = Gauge("estimator_drift_alarm", "1 where the PSI's 95 % interval is "
                                 "above 0.1.", ["feature"], registry=self.registry)
        self.refusals = Counter("estimator_model_refusals_total",
                                "Versions refused because they could not be loaded.",
                                registry=self.registry)

    def served(self, previous: Any, current: Any) -> None:
        """Holder listener: label the new version, count the switch."""
        self.model.clear()
        self.model.labels(name=current.name, version=current.version).set(1)
        if previous is not None:
            self.switches.inc()

    def drifted(self, report: dict[str, Any]) -> None:
        """Gauges of the last drift measured: each feature's PSI and verdict, and the
        predictions' (feature "(prediction)") and the sold houses' errors ("(errors)")."""
        rows = [*report["features"], {"feature": "(prediction)", **report["prediction"]}]
        if report.get("residuals"):
            rows.append({"feature": "(errors)", **report["residuals"]})
        for row in rows:
            self.drift.labels(feature=row["feature"]).set(row["psi"] or 0.0)
            self.drift_alarm.labels(feature=row["feature"]).set(1.0 if row["drifted"] else 0.0)

    def refused(self, line: str) -> None:
        self.refusals.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request and labels it by route template (not raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            count, time = self._series(route, scope["method"], status)
            count.inc()
            time.observe(perf_counter() - start)

    def _series(self, route: str, method: str, status: int) -> tuple[Any, Any]:
        """The counter and histogram of one (route, method, status), looked up once: the
        client's `labels()` costs more than the rest of recording a request."""
        key = (route, method, status)
        found = self._children.get(key)
        if found is None:
            labels = (route, method, str(status))
            found = self._children[key] = (self.metrics.requests.labels(*labels),
                                            self.metrics.latency.labels(*labels))
        return found
