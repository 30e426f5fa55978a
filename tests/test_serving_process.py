"""The service as operators start it: a subprocess, the CLI, plain uvicorn, no pandas or torch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from estimator.registry import Registry, VersionInfo

pytestmark = pytest.mark.slow

BLOCKER = textwrap.dedent("""
    import sys

    class Blocked:
        '''Refuse pandas and PyTorch: the request path must never need them.'''
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("pandas", "torch"):
                raise ImportError(f"{name} is blocked in the serving process")
            return None

    sys.meta_path.insert(0, Blocked())
""")

SERVE_AND_ASK = BLOCKER + textwrap.dedent("""
    import json, socket, threading, time, urllib.request
    import uvicorn
    from estimator.serving.app import create_app
    from estimator.serving.settings import Settings

    registry, model = sys.argv[1], sys.argv[2]
    app = create_app(Settings(registry=registry, model=model, reload_interval=0))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    row = app.state.holder.require().predictor.schema.example_row()
    for path, body in (("/v1/services/predict", [row]), ("/v2/predict", {"instances": [row]})):
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as answer:
            print(answer.status, answer.read().decode())
    server.should_exit = True
    print("loaded:", sorted(m for m in ("pandas", "torch") if m in sys.modules))
""")


@pytest.mark.parametrize("fixture", ["boston_mlp", "california_gbm"])
def test_serving_needs_neither_pandas_nor_torch(fixture: str, session_registry: Registry,
                                                request: pytest.FixtureRequest) -> None:
    version: VersionInfo = request.getfixturevalue(fixture)
    done = subprocess.run([sys.executable, "-c", SERVE_AND_ASK, str(session_registry.root),
                           version.ref], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("200 ") and '"Prediction price 0"' in lines[0]
    assert lines[1].startswith("200 ") and json.loads(lines[1][4:])["model"]["version"] == \
        version.version
    assert lines[2] == "loaded: []"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, process: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {process.communicate()[1]}")
        try:
            answer = httpx.get(base + "/ready", timeout=5)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server never became ready")


def serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_cli_serves_the_version_model_folder_points_at(boston_mlp: VersionInfo) -> None:
    port = free_port()
    process = serve([sys.executable, "-m", "estimator", "serve", "--port", str(port)],
                    {"MODEL_FOLDER": str(boston_mlp.path), "ESTIMATOR_MODEL": ""})
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", process)
        assert ready.json()["model"] == {"name": boston_mlp.name,
                                         "version": boston_mlp.version}
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert f"serving {boston_mlp.ref} on http://127.0.0.1:{port}" in err
    assert f"docs:  http://127.0.0.1:{port}/docs" in err


def test_plain_uvicorn_factory_reads_the_environment(session_registry: Registry,
                                                    california_gbm: VersionInfo) -> None:
    port = free_port()
    process = serve([sys.executable, "-m", "uvicorn", "--factory",
                     "estimator.serving.app:create_app", "--port", str(port)],
                    {"ESTIMATOR_REGISTRY": str(session_registry.root),
                     "ESTIMATOR_MODEL": california_gbm.ref})
    try:
        ready = wait_ready(f"http://127.0.0.1:{port}", process)
        assert ready.json()["model"]["version"] == california_gbm.version
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_cli_refuses_an_ambiguous_registry_naming_the_models(boston_mlp: VersionInfo,
                                                            tmp_path: Path) -> None:
    for name in ("boston-a", "boston-b"):
        (tmp_path / name).symlink_to(boston_mlp.path.parent)
    done = subprocess.run([sys.executable, "-m", "estimator", "serve", "--registry",
                           str(tmp_path), "--port", str(free_port())], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "MODEL_FOLDER": "",
                                                      "ESTIMATOR_MODEL": ""})
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert line == (f"error: Registry '{tmp_path}' holds several models (boston-a, boston-b); "
                    "choose one with --model or ESTIMATOR_MODEL.")
    bad_token = subprocess.run([sys.executable, "-m", "estimator", "serve", "--model",
                                str(boston_mlp.path), "--port", str(free_port())],
                               capture_output=True, text=True,
                               timeout=60, env={**os.environ, "ESTIMATOR_ADMIN_TOKEN": "short"})
    assert bad_token.returncode == 2
    assert "ESTIMATOR_ADMIN_TOKEN must be at least 16 characters" in bad_token.stderr
    assert "short" not in bad_token.stderr.replace("shortly", "")
