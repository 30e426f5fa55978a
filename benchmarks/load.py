"""The service under test and the clients that load it, for benchmarks/reliability.py.

`Service` runs `estimator serve` as a child process on a free port of 127.0.0.1,
with its log in a file and its memory readable from /proc; `Load` is N client
threads posting one house per request for as long as asked, keeping every
status, the version that answered and the latency.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from serving import ROOT, free_port

V1 = "/v1/services/predict"
JSON = {"Content-Type": "application/json"}


class Service:
    """`estimator serve` of one model of a registry, in a child process."""

    def __init__(self, registry: Path, model: str, work: Path, watch: float = 2.0) -> None:
        """`watch` is the watcher's interval, ESTIMATOR_RELOAD_INTERVAL (2 s by default)."""
        self.registry, self.model, self.work, self.watch = registry, model, work, watch
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work / "service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> None:
        env = {**os.environ, "ESTIMATOR_DATABASE_URL": f"sqlite:///{self.work / 'log.db'}",
               "ESTIMATOR_SPOOL": str(self.work / "log.spool"), "ESTIMATOR_LOG_LEVEL": "info",
               "ESTIMATOR_RELOAD_INTERVAL": str(self.watch)}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "estimator", "serve", "--registry", str(self.registry),
                 "--model", self.model, "--port", str(self.port)],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"estimator serve did not start:\n{self.log()[-2000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        try:
            return httpx.get(self.base + "/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def served(self) -> str | None:
        """The version /health names, or None when the service does not answer."""
        try:
            model = httpx.get(self.base + "/health", timeout=10).json().get("model")
        except (httpx.HTTPError, ValueError):
            return None
        return model.get("version") if model else None

    def rss_mib(self) -> float:
        """Resident memory of the server process, from /proc."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")  # pragma: no cover - Linux always has it

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Load:
    """`concurrency` threads posting one house per request to v1 until stopped."""

    def __init__(self, base: str, bodies: list[bytes], concurrency: int) -> None:
        self.base, self.bodies, self.concurrency = base, bodies, concurrency
        self.ok = 0
        self.failures: list[str] = []
        self.versions: Counter[str] = Counter()
        self.latencies: list[float] = []  # milliseconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._began = self._ended = 0.0

    def __enter__(self) -> Load:
        self._began = time.monotonic()
        for i in range(self.concurrency):
            thread = threading.Thread(target=self._run, args=(i,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._ended = time.monotonic()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                body = rng.choice(self.bodies)
                start = time.perf_counter()
                try:
                    answer = client.post(V1, content=body, headers=JSON)
                except httpx.HTTPError as err:
                    failure: str | None = f"{type(err).__name__}: {err}"
                else:
                    failure = (None if answer.status_code == 200 else
                               f"{answer.status_code} {answer.text[:120]}")
                took = (time.perf_counter() - start) * 1e3
                with self._lock:
                    self.latencies.append(took)
                    if failure is None:
                        self.ok += 1
                        self.versions[answer.headers.get("x-model-version", "?")] += 1
                    else:
                        self.failures.append(failure)

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def rate(self) -> float:
        """Answers per second over the run."""
        return (self.ok + self.failed) / max(self._ended - self._began, 1e-9)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")

    def summary(self) -> str:
        first = f"; first failure: {self.failures[0][:100]}" if self.failures else ""
        return (f"{self.ok:,} answered, {self.failed} failed, {self.rate:.0f} req/s, "
                f"p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms{first}")
