"""A real uvicorn server on a free port of 127.0.0.1, in a thread, for the serving tests."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from estimator.serving.app import create_app
from estimator.serving.settings import Settings

TOKEN = "test-admin-token-0123456789"


@contextmanager
def running(registry: Path | None = None, model: str | None = None, root_path: str = "",
            **settings: Any) -> Iterator[httpx.Client]:
    """Serve `model` (or whatever the settings name) and yield a client bound to it;
    `root_path` is uvicorn's, for a service behind a proxy that strips a prefix."""
    scratch = Path(tempfile.mkdtemp(prefix="estimator-log-"))  # each server its own log
    options: dict[str, Any] = {"reload_interval": 0.0,
                               "database_url": f"sqlite:///{scratch / 'predictions.db'}",
                               "spool": scratch / "prediction-log.spool", **settings}
    if registry is not None:
        options["registry"] = registry
    if model is not None:
        options["model"] = model
    app = create_app(Settings(**options))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                           root_path=root_path))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            client.app_state = app.state  # type: ignore[attr-defined]  # the writer, for tests
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Poll until `predicate()` is true; fail the test when it never becomes so."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
