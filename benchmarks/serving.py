"""HTTP serving speed, measured against a baseline route of the same app.

Starts the real server (`estimator serve`, one worker, pinned to the first
core when there are several) on 127.0.0.1 and drives it from other
processes on the other cores: `wrk` (Debian's package, installed here when
missing and running as root) for one house per request at concurrency 1, 8
and 32, and an httpx client for single requests of 1,000 and 10,000 houses. Every figure
is printed next to the same measurement on `POST /v1/baseline`, a route of
the same app that reads and parses the same body and answers a constant.
A second baseline, `POST /v1/baseline/typed`, is the idiomatic FastAPI
route (the body declared as a typed list, validated by FastAPI) that the
article's design would start from; its ratios are printed for reference,
the targets are judged against the strict `/v1/baseline`. The server runs
with ESTIMATOR_BENCHMARK_ROUTES=1, which mounts both; `/v1/baseline` is then
the first route matched, so it pays no route check that the prediction
routes skip (they pay one and two more).

The server's CPU time per request is printed too: on a machine shared with
other work it is steadier than requests per second, and the baseline's CPU
time over a route's is the throughput ratio a dedicated core would show.

Targets: one-house throughput of v1 and v2 at least 80 % of the baseline's;
1,000 houses in one v1 request within 3x the baseline's time; 10,000 houses
under 200 ms.

    python benchmarks/serving.py [--model boston-price] [--registry models] [--seconds 2]
                                 [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ROUTES = {"baseline": "/v1/baseline", "v1": "/v1/services/predict", "v2": "/v2/predict",
          "typed-base": "/v1/baseline/typed"}
CONCURRENCY = (1, 8, 32)
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""


def ensure_tool(command: str, package: str | None = None) -> str:
    """The path of `command`, installed from Debian's `package` when missing (as root)."""
    package = package or command
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit(f"{command} is missing: install Debian's package `{package}` "
                 f"(apt-get install {package})")
    print(f"installing {package} from Debian's packages ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which(command) or sys.exit(f"{command} could not be installed")


def pin_cpus() -> bool:
    """Keep the server and its clients off each other's cores, when there are two or more."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        return False
    os.sched_setaffinity(0, cores[1:])  # wrk, started from here, inherits it
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model_ref(registry: Path, model: str) -> tuple[Path, str]:
    """The registry and model to serve; trains the default Boston model when there is none."""
    from estimator.registry import Registry

    if Registry(registry).versions(model.partition("@")[0]):
        return registry, model
    scratch = Path(tempfile.mkdtemp(prefix="estimator-bench-"))
    print(f"no '{model}' in {registry}: training configs/boston.yaml into {scratch} ...",
          file=sys.stderr)
    subprocess.run([sys.executable, "-m", "estimator", "train", "--conf",
                    str(ROOT / "configs" / "boston.yaml"), "--registry", str(scratch),
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return scratch, "boston-price"


def houses(schema: Any, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Varied houses within the observed ranges of the served schema."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for f in schema["features"]:
        if f["kind"] == "categorical":
            columns[f["name"]] = rng.choice(list(f["categories"]), n).tolist()
        elif f["kind"] == "binary":
            columns[f["name"]] = rng.integers(0, 2, n).tolist()
        else:
            values = rng.uniform(f["min"], f["max"], n)
            columns[f["name"]] = (np.round(values) if f["kind"] == "integer"
                                  else np.round(values, 4)).tolist()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def body_for(route: str, rows: list[dict[str, Any]]) -> bytes:
    return json.dumps({"instances": rows} if route == "v2" else rows).encode()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, url: str, body: bytes, connections: int, seconds: int,
            server: int) -> dict[str, float]:
    """Throughput, latency percentiles and the server's CPU time per request."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=body.decode()))
    before = cpu_seconds(server)
    out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          "-s", script.name, url], check=True, capture_output=True,
                         text=True).stdout
    os.unlink(script.name)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        sys.exit(f"{url} answered {bad.group(1)} errors under load:\n{out}")
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    figures["cpu_us"] = (cpu_seconds(server) - before) / done * 1e6
    for pct in ("50", "90", "99"):
        value, unit = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M).groups()  # type: ignore[union-attr]
        figures[f"p{pct}"] = float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
    return figures


def batch_latency(client: httpx.Client, url: str, body: bytes, repeat: int) -> list[float]:
    """Milliseconds per request, after one warm-up request."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        answer = client.post(url, content=body, headers={"Content-Type": "application/json"})
        times.append((time.perf_counter() - start) * 1e3)
        answer.raise_for_status()
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="boston-price")
    parser.add_argument("--registry", type=Path, default=ROOT / "models")
    parser.add_argument("--seconds", type=int, default=2, help="Length of each wrk run.")
    parser.add_argument("--rounds", type=int, default=5, help="wrk runs per route and "
                        "concurrency; medians are reported.")
    args = parser.parse_args()

    wrk = ensure_tool("wrk")
    registry, model = model_ref(args.registry, args.model)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ESTIMATOR_LOG_LEVEL": "warning", "ESTIMATOR_RELOAD_INTERVAL": "2",
           "ESTIMATOR_BENCHMARK_ROUTES": "1"}
    command = [sys.executable, "-m", "estimator", "serve", "--model", model, "--registry",
               str(registry), "--port", str(port)]
    pinned = pin_cpus()
    if pinned:  # the server on the first core, wrk and this client on the others
        command = ["taskset", "-c", "0", *command]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(300):
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            served = client.get("/v1/models").json()
            report(wrk, client, base, served, args.seconds, args.rounds, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)


def report(wrk: str, client: httpx.Client, base: str, served: dict[str, Any],
           seconds: int, rounds: int, server: int) -> None:
    print(f"model {served['name']}@{served['version']} ({served['family']}), one uvicorn "
          f"worker; clients on cores {sorted(os.sched_getaffinity(0))} of {os.cpu_count()}\n")
    one = houses(served["schema"], 1)
    print(f"one house per request (wrk, 1 thread, {seconds} s runs, {rounds} rounds; in each "
          "round every route runs right after a run of the baseline)")
    print(f"{'route':<11}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
          f"{'vs base':>9}{'cpu us/req':>12}{'vs base':>9}")
    # Each run of a route is paired with a baseline run just before it, and the median of
    # the pairs' ratios is reported: a burst of outside load then costs one pair, not the
    # figure, and slow drifts of the machine hit both sides of a pair alike.
    ratio: dict[tuple[str, int], float] = {}
    cpu_ratio: dict[tuple[str, int], float] = {}
    body = body_for("v1", one)  # the baselines take the v1 body
    for conc in CONCURRENCY:
        runs: dict[str, list[dict[str, float]]] = {route: [] for route in ROUTES}
        pairs: dict[str, list[tuple[dict[str, float], dict[str, float]]]] = {}
        for _ in range(rounds):
            for route, path in ROUTES.items():
                if route == "baseline":
                    continue
                before = run_wrk(wrk, base + ROUTES["baseline"], body, conc, seconds, server)
                mine = run_wrk(wrk, base + path, body_for("v1" if "base" in route else route,
                                                          one), conc, seconds, server)
                runs["baseline"].append(before)
                runs[route].append(mine)
                pairs.setdefault(route, []).append((mine, before))
        for route in ROUTES:
            paired = pairs.get(route, [(b, b) for b in runs[route]])
            ratio[route, conc] = statistics.median(m["rps"] / b["rps"] for m, b in paired)
            cpu_ratio[route, conc] = statistics.median(b["cpu_us"] / m["cpu_us"]
                                                       for m, b in paired)
            typical = sorted(runs[route], key=lambda m: m["rps"])[len(runs[route]) // 2]
            print(f"{route:<11}{conc:>5}{typical['rps']:>10.0f}{typical['p50']:>9.2f}"
                  f"{typical['p90']:>9.2f}{typical['p99']:>9.2f}{ratio[route, conc]:>9.2f}"
                  f"{statistics.median(m['cpu_us'] for m in runs[route]):>12.1f}"
                  f"{cpu_ratio[route, conc]:>9.2f}")
    print("\none request of many houses (httpx, sequential, routes interleaved)")
    print(f"{'route':<11}{'houses':>7}{'repeat':>7}{'p50 ms':>9}{'p90 ms':>9}{'vs base':>9}")
    batch: dict[tuple[str, int], float] = {}
    for n, repeat in ((1000, 30), (10_000, 10)):
        rows = houses(served["schema"], n, seed=n)
        bodies = {route: body_for("v1" if "base" in route else route, rows)
                  for route in ROUTES}
        times: dict[str, list[float]] = {route: [] for route in ROUTES}
        for _ in range(repeat):  # interleaved, so that outside load hits every route alike
            for route, path in ROUTES.items():
                times[route] += batch_latency(client, path, bodies[route], 1)
        for route in ROUTES:
            ordered = sorted(times[route])
            p50, p90 = statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]
            batch[route, n] = p50
            print(f"{route:<11}{n:>7}{repeat:>7}{p50:>9.1f}{p90:>9.1f}"
                  f"{p50 / batch['baseline', n]:>9.2f}")
    worst = min(ratio[r, c] for r in ("v1", "v2") for c in CONCURRENCY)
    by_cpu = min(cpu_ratio[r, c] for r in ("v1", "v2") for c in CONCURRENCY)
    print("\ntargets")
    print(f"  one-house throughput of v1/v2 >= 80 % of baseline: worst {worst:.0%} measured, "
          f"{by_cpu:.0%} by server CPU per request  {'met' if worst >= 0.8 else 'MISSED'}")
    typed = min(ratio[r, c] / ratio["typed-base", c] for r in ("v1", "v2") for c in CONCURRENCY)
    print(f"  (for reference: worst v1/v2 throughput is {typed:.0%} of the typed FastAPI "
          "baseline's)")
    ratio = batch["v1", 1000] / batch["baseline", 1000]
    print(f"  1,000 houses in v1 <= 3x baseline: {ratio:.2f}x  {'met' if ratio <= 3 else 'MISSED'}")
    slowest = max(batch["v1", 10_000], batch["v2", 10_000])
    print(f"  10,000 houses < 200 ms: v1 {batch['v1', 10_000]:.0f} ms, v2 "
          f"{batch['v2', 10_000]:.0f} ms  {'met' if slowest < 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
