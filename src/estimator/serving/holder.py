"""The served model version, switched without a restart.

The holder keeps one `Served` bundle (predictor, generated request types)
behind a single reference. Requests read it once and use
that bundle to the end, so an answer is always computed and labelled by
one version. A background thread looks at the served alias every few
seconds; when it names another version, that version is loaded on the side
and swapped in with one assignment. A version that cannot be loaded is
refused with one log line and the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from estimator.errors import EstimatorError, ModelLoadError
from estimator.predictor import Predictor
from estimator.serving.answers import Answers
from estimator.serving.handlers import NotReadyError
from estimator.serving.settings import Settings
from estimator.serving.source import ModelSource, source_from

log = logging.getLogger("estimator.serving")


@dataclass(frozen=True)
class Served:
    """One loaded version and everything derived from it."""

    predictor: Predictor
    answers: Answers
    path: Path
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(
        timespec="seconds"))

    @property
    def name(self) -> str:
        return self.predictor.name

    @property
    def version(self) -> str:
        return self.predictor.version

    @cached_property
    def headers(self) -> dict[str, str]:
        return {"X-Model-Name": self.name, "X-Model-Version": self.version}


def _signature(predictor: Predictor) -> list[tuple[str, str]]:
    return [(f.name, f.kind) for f in predictor.schema.features]


class ModelHolder:
    """The current `Served` bundle, its source, and the thread that watches the source."""

    def __init__(self, settings: Settings, source: ModelSource | None = None,
                 preloaded: tuple[Predictor, Path] | None = None) -> None:
        """`preloaded` is a predictor already loaded from its version folder (by the CLI)."""
        self.settings = settings
        self.source = source
        self.current: Served | None = None
        self.problem: str | None = "no model version is loaded yet"
        self.listeners: list[Callable[[Served | None, Served], None]] = []
        self.failures: list[Callable[[str], None]] = []
        self._refused: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if preloaded is not None:
            self._switch(self._bundle(*preloaded))

    def require(self) -> Served:
        """The bundle to answer with; raises NotReadyError while there is none."""
        served = self.current
        if served is None:
            raise NotReadyError(f"No model is being served yet: {self.problem}")
        return served

    def refresh(self, strict: bool = False) -> bool:
        """Serve the version the source names now; True when that meant a switch.

        A failure is logged once and the current version kept; with `strict`
        (an admin asking) it is raised too: ModelNotFoundError, ConfigError or
        ModelLoadError.
        """
        with self._lock:
            try:
                if self.source is None:
                    self.source = source_from(self.settings)
                path = self.source.locate()
                if self.current is not None and path == self.current.path:
                    self.problem = None
                    return False
                if path == self._refused and not strict:
                    return False
                served = self._load(path)
            except EstimatorError as err:
                self._complain(err, strict)
                return False
            self._switch(served)
            return True

    def _load(self, path: Path) -> Served:
        try:
            predictor = Predictor.load(path)
        except ModelLoadError:
            self._refused = path
            raise
        current = self.current
        if current is not None and _signature(predictor) != _signature(current.predictor):
            self._refused = path
            raise ModelLoadError(
                f"{predictor.name}@{predictor.version} takes other features than the served "
                f"version ({', '.join(predictor.schema.names)}); restart the service to serve "
                "it, since clients rely on the current request shape.")
        return self._bundle(predictor, path)

    def _bundle(self, predictor: Predictor, path: Path) -> Served:
        return Served(predictor=predictor, answers=Answers(predictor, self.settings.max_batch,
                                              log=self.settings.log_predictions),
                      path=path)

    def _switch(self, served: Served) -> None:
        previous, self.current = self.current, served
        self._refused, self.problem = None, None
        was = f" (was {previous.version})" if previous is not None else ""
        log.info("serving %s@%s%s", served.name, served.version, was)
        for listener in self.listeners:
            listener(previous, served)

    def _complain(self, err: EstimatorError, strict: bool) -> None:
        keeping = (f"; still serving {self.current.name}@{self.current.version}"
                   if self.current is not None else "")
        line = f"{err.message}{keeping}"
        if line != self.problem:
            log.error("model not switched: %s", line)
            for failure in self.failures:
                failure(line)
        self.problem = line
        if strict:
            raise err

    # -- the watcher -----------------------------------------------------------------------

    def start(self) -> None:
        """Load the first version (if not given) and start watching the source."""
        if self.current is None:
            self.refresh()
        fixed = self.source is not None and self.source.registry is None
        if self.settings.reload_interval > 0 and not fixed and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="estimator-model-watcher",
                                            daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.reload_interval):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any surprise; the log says what
                log.exception("the model watcher failed; it keeps watching")
