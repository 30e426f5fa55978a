"""Instructions per request inside the real server, for each route of `serving.py`.

Requests per second on a machine shared with other work move by a tenth
from one run to the next; the instructions the server executes per request
do not. This runs `estimator serve` under valgrind's callgrind (Debian's
package, installed here when missing and running as root) and, per route,
sends a warm-up, zeroes the counters, sends one-house requests over one
keep-alive connection and reads the counters back. Instructions are not
time (a cache miss costs more than an addition, and the kernel's share is
not counted), so the figures complement the wrk ones rather than replace
them; their ratios to the baseline are the same kind as the target's.

    python benchmarks/serving_instructions.py [--requests 1000] [--registry models]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import ROOT, ROUTES, body_for, ensure_tool, free_port, houses, model_ref


def connect(port: int, timeout: float = 600.0) -> http.client.HTTPConnection:
    """A connection to the server once it is ready (slow to start under valgrind)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            conn.request("GET", "/ready")
            answer = conn.getresponse()
            answer.read()
            if answer.status == 200:
                return conn
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("the server did not become ready under valgrind")
        time.sleep(1)


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> None:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200:
        sys.exit(f"{path} answered {answer.status}")


def counted(pid: int, dumps: Path, send: int, conn: http.client.HTTPConnection, path: str,
            body: bytes) -> int:
    """Instructions the server executed while answering `send` requests."""
    for _ in range(300):  # warm-up: caches, lazily built plans, the allocator
        post(conn, path, body)
    subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    for _ in range(send):
        post(conn, path, body)
    before = set(dumps.iterdir())
    subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
    (dump,) = set(dumps.iterdir()) - before
    text = dump.read_text(errors="replace")
    dump.unlink()
    found = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.M)
    if found is None:
        sys.exit(f"no instruction count in {dump.name}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="boston-price")
    parser.add_argument("--registry", type=Path, default=ROOT / "models")
    parser.add_argument("--requests", type=int, default=1000, help="Counted requests per route.")
    args = parser.parse_args()

    ensure_tool("valgrind")
    ensure_tool("callgrind_control", "valgrind")
    registry, model = model_ref(args.registry, args.model)
    port = free_port()
    env = {**os.environ, "ESTIMATOR_LOG_LEVEL": "warning", "ESTIMATOR_RELOAD_INTERVAL": "0",
           "ESTIMATOR_BENCHMARK_ROUTES": "1"}
    with tempfile.TemporaryDirectory(prefix="estimator-callgrind-") as scratch:
        dumps = Path(scratch)
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dumps}/cg.%p",
             sys.executable, "-m", "estimator", "serve", "--model", model, "--registry",
             str(registry), "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn = connect(port)
            conn.request("GET", "/v1/models")
            served = json.loads(conn.getresponse().read())
            one = houses(served["schema"], 1)
            per_request = {
                route: counted(server.pid, dumps, args.requests, conn, path,
                               body_for("v1" if "base" in route else route, one))
                / args.requests
                for route, path in ROUTES.items()}
        finally:
            server.terminate()
            server.wait(timeout=120)
    print(f"model {served['name']}@{served['version']} ({served['family']}), one house per "
          f"request, {args.requests} requests per route, user-space instructions of the server")
    print(f"{'route':<11}{'k instr/req':>13}{'vs base':>9}")
    base = per_request["baseline"]
    for route, count in per_request.items():
        print(f"{route:<11}{count / 1000:>13.1f}{base / count:>9.2f}")


if __name__ == "__main__":
    main()
