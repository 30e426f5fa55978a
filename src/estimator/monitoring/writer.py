"""Logging every estimate without making a request wait for the database.

A request appends its estimates to an in-memory queue and goes on; one
background thread writes them to the prediction log in batches. When the
database is down or refuses, the batch goes to a local append-only spool
file (JSON lines, flushed to disk) instead, and every later batch follows it
there, so that order is kept; the spool is replayed, oldest first, once the
database answers again, and at the next start when the process stopped
before that. Replayed rows whose id is already stored are skipped, so a crash
between storing and forgetting a spooled batch stores it once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from datetime import datetime
from pathlib import Path

from estimator.errors import DatabaseError
from estimator.monitoring.store import Prediction, PredictionLog

log = logging.getLogger("estimator.monitoring")
BATCH = 2000


class LogWriter:
    """The prediction log's batching writer, with its spool for outages."""

    def __init__(self, url: str, spool: str | Path, *, interval: float = 0.2,
                 retry: float = 2.0) -> None:
        self.log = PredictionLog(url)
        self.spool = Path(spool)
        self.interval = interval
        self.retry = retry
        self.written = 0
        self.spooled = 0
        self._queue: deque[Prediction] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_try = 0.0
        self._writing = threading.Lock()  # held while a batch is on its way to the database

    def put(self, entries: list[Prediction]) -> None:
        """Queue estimates for the log; never blocks, never raises for the database."""
        self._queue.extend(entries)

    def settle(self, timeout: float = 2.0) -> None:
        """Wait (briefly) until what is queued has been written or spooled."""
        deadline = time.monotonic() + timeout
        while (self._queue or self._writing.locked()) and time.monotonic() < deadline:
            time.sleep(self.interval / 10)

    @property
    def backlog(self) -> int:
        """Estimates not yet in the database: queued, or waiting in the spool."""
        return len(self._queue) + (self._spooled_lines() if self.spool.exists() else 0)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="estimator-log-writer",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued (to the database, or to the spool) and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.log.close()

    def _run(self) -> None:
        while True:
            stopping = self._stop.wait(self.interval)
            try:
                self.flush()
            except Exception:  # the writer must outlive any surprise; the log says what
                log.exception("the prediction log writer failed; it keeps going")
            if stopping:
                return

    def flush(self) -> None:
        """Write every queued estimate now, replaying the spool first when it has rows."""
        with self._writing:
            self._flush()

    def _flush(self) -> None:
        if self.spool.exists() and time.monotonic() >= self._next_try:
            self._replay()
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            if self.spool.exists():  # the database was down: keep the order
                self._to_spool(batch)
                continue
            try:
                self.log.record(*batch)
                self.written += len(batch)
            except DatabaseError as err:
                log.warning("prediction log unavailable, spooling to %s: %s", self.spool,
                            err.message)
                self._to_spool(batch)
                self._next_try = time.monotonic() + self.retry

    def _to_spool(self, batch: list[Prediction]) -> None:
        lines = "".join(json.dumps(_row(p)) + "\n" for p in batch)
        with self.spool.open("a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())
        self.spooled += len(batch)

    def _replay(self) -> None:
        """Store the spool's rows in order; forget them only once they are stored."""
        lines = self.spool.read_text(encoding="utf-8").splitlines()
        rows = [_prediction(json.loads(line)) for line in lines if line.strip()]
        try:
            for start in range(0, len(rows), BATCH):
                self.log.record(*rows[start:start + BATCH], skip_existing=True)
        except DatabaseError as err:
            self._next_try = time.monotonic() + self.retry
            log.debug("prediction log still unavailable: %s", err.message)
            return
        self.spool.unlink()
        self.written += len(rows)
        log.info("replayed %d spooled estimates into the prediction log", len(rows))

    def _spooled_lines(self) -> int:
        try:
            with self.spool.open("rb") as fh:
                return sum(1 for _ in fh)
        except FileNotFoundError:
            return 0


def _row(p: Prediction) -> dict[str, object]:
    return {"id": p.id, "created_at": p.created_at.isoformat(), "model": p.model,
            "version": p.version, "features": dict(p.features), "price": p.price,
            "lower": p.lower, "upper": p.upper}


def _prediction(row: dict[str, object]) -> Prediction:
    return Prediction(id=str(row["id"]), model=str(row["model"]), version=str(row["version"]),
                      features=row["features"], price=float(row["price"]),  # type: ignore[arg-type]
                      created_at=datetime.fromisoformat(str(row["created_at"])),
                      lower=row["lower"], upper=row["upper"])  # type: ignore[arg-type]
