"""Serving speed, measured against what a user would pick instead.

Every server is a child process of this script on 127.0.0.1, one worker each,
pinned to the first core when there are several (the load generators run on
the others):

  yardstick  the idiomatic typed FastAPI route answering a constant (yardstick.py)
  mlp, gbm   `estimator serve` of the Boston MLP (configs/boston.yaml) and gbm
             (configs/boston-gbm.yaml), through v1 and v2
  mlflow     `mlflow models serve` of the very XGBoost booster the gbm version holds, in a
             virtual environment this script makes (cached under ~/.cache/estimator);
             skipped, with the reason, when it cannot be made

One house per request: wrk (Debian's package, installed when missing, as root) at
concurrency 1, 8 and 32; each run of a route is paired with a yardstick run just
before it, and the median ratio of the pairs is reported, so that outside load on
this shared machine hits both sides of a pair alike. Then single requests of 1,000
and 10,000 houses (httpx, interleaved), as p50 milliseconds.

Targets, as ratios in the same run: v1 one-house MLP throughput at least 0.9x the
yardstick's; the gbm at least 10x MLflow's at every concurrency.

    python benchmarks/serving.py [--seconds 2] [--rounds 3] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from estimator.predictor import Predictor
from estimator.registry import Registry
from estimator.schema import Schema

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("ESTIMATOR_CACHE_DIR", Path.home() / ".cache" / "estimator"))
CONCURRENCY = (1, 8, 32)
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
"""
MLFLOW_MODEL = """
import sys
import mlflow.xgboost
import xgboost as xgb
booster = xgb.Booster()
booster.load_model(sys.argv[1])
mlflow.xgboost.save_model(booster, sys.argv[2])
"""


def ensure_tool(command: str) -> str:
    """The path of `command`, installed from Debian's package of that name when missing."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit(f"{command} is missing: apt-get install {command}")
    print(f"installing {command} from Debian's packages ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", command], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which(command) or sys.exit(f"{command} could not be installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_cores() -> list[str]:
    """`taskset` for the servers: the first core, when the clients can have the others."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or shutil.which("taskset") is None:
        return []
    os.sched_setaffinity(0, cores[1:])  # wrk and httpx, started from here, inherit it
    return ["taskset", "-c", str(cores[0])]


@contextlib.contextmanager
def serving(command: list[str], probe: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> Iterator[str]:
    """Start a server, wait until `probe` answers, yield its base URL, stop it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [part.replace("{port}", str(port)) for part in command]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(base + probe, timeout=2).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    said = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{' '.join(argv)} did not start:\n{said}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def train_models(registry: Path) -> None:
    """The two Boston models, and the MLP again without ranges (to price what they cost)."""
    for conf, extra in (("boston.yaml", []), ("boston-gbm.yaml", []),
                        ("boston.yaml", ["--set", "intervals=null", "--set",
                                         "name=boston-price-plain"])):
        print(f"training configs/{conf} {' '.join(extra)} into {registry} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "estimator", "train", "--conf",
                        str(ROOT / "configs" / conf), "--registry", str(registry), "--quiet",
                        *extra], check=True, stdout=subprocess.DEVNULL)


def mlflow_env() -> tuple[Path | None, str]:
    """A virtual environment with MLflow and our XGBoost version, or None and why not."""
    import xgboost

    venv = CACHE / f"mlflow-venv-xgboost-{xgboost.__version__}"
    mlflow = venv / "bin" / "mlflow"
    if mlflow.exists():
        return venv, "cached"
    print(f"making {venv} with MLflow (a few minutes, once) ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "mlflow",
                        f"xgboost-cpu=={xgboost.__version__}"], check=True,
                       stdout=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, OSError) as err:
        shutil.rmtree(venv, ignore_errors=True)
        return None, f"pip could not install MLflow: {err}"
    return venv, "made"


def houses(schema: Schema, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Varied houses within the observed ranges of a schema."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for f in schema.features:
        if f.kind == "categorical":
            columns[f.name] = rng.choice(list(f.categories), n).tolist()
        elif f.kind == "binary":
            columns[f.name] = rng.integers(0, 2, n).tolist()
        else:
            values = rng.uniform(f.min or 0.0, f.max or 0.0, n)
            columns[f.name] = (np.round(values) if f.kind == "integer"
                               else np.round(values, 4)).tolist()
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


def run_wrk(wrk: str, url: str, body: bytes, connections: int, seconds: int) -> float:
    """Requests per second; exits when any answer is not a success."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=body.decode()))
    out = subprocess.run([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name,
                          url], check=True, capture_output=True, text=True).stdout
    os.unlink(script.name)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        sys.exit(f"{url} answered {bad.group(1)} errors under load:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found is not None, out
    return float(found.group(1))


def p50_ms(url: str, body: bytes, repeat: int) -> float:
    with httpx.Client(timeout=120) as client:
        times = []
        for i in range(repeat + 1):
            start = time.perf_counter()
            client.post(url, content=body,
                        headers={"Content-Type": "application/json"}).raise_for_status()
            if i:  # the first request warms up
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=2, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="paired runs per cell")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow server")
    args = parser.parse_args()
    wrk = ensure_tool("wrk")
    pin = server_cores()
    work = Path(tempfile.mkdtemp(prefix="estimator-bench-"))
    registry = work / "models"
    train_models(registry)
    venv, why = (None, "--no-mlflow") if args.no_mlflow else mlflow_env()

    # Our servers log nothing, like the yardstick and MLflow; "mlp v1 logged" adds the
    # prediction log (SQLite, the default) to show what logging costs.
    quiet = {"ESTIMATOR_LOG_LEVEL": "warning", "ESTIMATOR_RELOAD_INTERVAL": "0",
             "ESTIMATOR_LOG_PREDICTIONS": "false"}
    logged = {**quiet, "ESTIMATOR_LOG_PREDICTIONS": "true",
              "ESTIMATOR_DATABASE_URL": f"sqlite:///{work / 'predictions.db'}",
              "ESTIMATOR_SPOOL": str(work / "predictions.spool")}
    ours = [*pin, sys.executable, "-m", "estimator", "serve", "--registry", str(registry),
            "--port", "{port}", "--model"]
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        yard = stack.enter_context(serving([*pin, sys.executable, "-m", "uvicorn",
                                            "benchmarks.yardstick:app", "--port", "{port}",
                                            "--log-level", "warning"], "/docs"))
        for family, name in (("mlp", "boston-price"), ("gbm", "boston-gbm")):
            base = stack.enter_context(serving([*ours, name], "/ready", quiet))
            urls[f"{family} v1"] = base + "/v1/services/predict"
            urls[f"{family} v2"] = base + "/v2/predict"
        base = stack.enter_context(serving([*ours, "boston-price-plain"], "/ready", quiet))
        urls["mlp v2 no ranges"] = base + "/v2/predict"
        base = stack.enter_context(serving([*ours, "boston-price"], "/ready", logged))
        urls["mlp v1 logged"] = base + "/v1/services/predict"
        gbm_path = Registry(registry).resolve("boston-gbm").path
        gbm = Predictor.load(gbm_path)
        if venv is not None:  # the very booster the gbm version serves
            subprocess.run([str(venv / "bin" / "python"), "-c", MLFLOW_MODEL,
                            str(gbm_path / "model" / "xgboost.json"), str(work / "mlflow-model")],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            base = stack.enter_context(serving(
                [*pin, str(venv / "bin" / "mlflow"), "models", "serve", "-m",
                 str(work / "mlflow-model"), "--env-manager", "local", "-h", "127.0.0.1",
                 "-p", "{port}"], "/ping", {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}))
            urls["mlflow"] = base + "/invocations"

        def body(route: str, rows: list[dict[str, Any]]) -> bytes:
            if route == "mlflow":  # the booster's own inputs: the gbm's preprocessing applied
                x = gbm.preprocessor.transform(gbm.rules.rows(rows).matrix)
                return json.dumps({"dataframe_split": {
                    "columns": [f"f{j}" for j in range(x.shape[1])], "data": x.tolist()}}).encode()
            return json.dumps({"instances": rows} if "v2" in route else rows).encode()

        print(f"servers on core(s) {pin[-1] if pin else 'any'}, clients on "
              f"{sorted(os.sched_getaffinity(0))}; MLflow: {why}\n")
        one = houses(gbm.schema, 1)
        one_house(wrk, yard + "/v1/services/predict", urls,
                  {route: body(route, one) for route in urls}, args.seconds, args.rounds,
                  xgboost_floor(gbm, one))
        many_houses(yard + "/v1/services/predict", urls, gbm.schema, body)
        if "mlflow" in urls:
            print("(MLflow is sent the gbm's preprocessed inputs: it does no validation, "
                  "imputation or encoding of its own)")
    ranges_in_process(registry)
    explain_in_process(registry)
    shutil.rmtree(work, ignore_errors=True)


def per_call(work: Callable[[], object], calls: int) -> list[float]:
    """Seconds of each of `calls` calls of `work` in this process, after 50 to warm up."""
    for _ in range(50):
        work()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return times


def ranges_in_process(registry: Path, calls: int = 5000) -> None:
    """What a range costs a one-house v2 request, in this process where HTTP adds no noise:
    the whole app (routing, middleware, validation, pricing, answer) called through ASGI,
    for the MLP with ranges and the same network trained without them, in turn, so that
    the machine's load hits both alike (medians, and the median of the paired differences)."""
    apps = []
    for name in ("boston-price", "boston-price-plain"):
        predictor = Predictor.load(Registry(registry).resolve(name).path)
        body = json.dumps({"instances": houses(predictor.schema, 1)}).encode()
        apps.append(asgi_post(predictor, Registry(registry).resolve(name).path, body))
    times: list[list[float]] = [[], []]
    for _ in range(calls):
        for post, out in zip(apps, times, strict=True):
            out.append(post())
    with_ranges, without = (statistics.median(t[calls // 10:]) for t in times)
    cost = statistics.median(a - b for a, b in zip(*times, strict=True))
    print(f"\none-house v2 through the app, in process: {with_ranges * 1e6:.1f} us with "
          f"ranges, {without * 1e6:.1f} us without: a range costs {cost * 1e6:.1f} us, "
          f"{cost / with_ranges:.0%} of the request")
    print(f"target: v2 with ranges at most 10 % below without (in process): "
          f"{'met' if cost / with_ranges <= 0.1 else 'MISSED'}")


def asgi_post(predictor: Predictor, path: Path, body: bytes) -> Callable[[], float]:
    """A function that POSTs `body` to /v2/predict of the app serving `predictor`, straight
    through ASGI on one event loop, and answers the seconds it took."""
    from starlette.types import Message

    from estimator.serving.app import create_app
    from estimator.serving.holder import ModelHolder
    from estimator.serving.settings import Settings

    settings = Settings(log_predictions=False, reload_interval=0, log_level="warning")
    app = create_app(settings, ModelHolder(settings, preloaded=(predictor, path)))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v2/predict",
             "raw_path": b"/v2/predict", "root_path": "", "query_string": b"",
             "headers": [(b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    status: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    async def timed() -> float:
        start = time.perf_counter()
        await app(scope, receive, send)
        return time.perf_counter() - start

    loop = asyncio.new_event_loop()

    def post() -> float:
        seconds = loop.run_until_complete(timed())
        if status.pop() != 200:
            raise RuntimeError(f"/v2/predict of {predictor.name} did not answer 200")
        return seconds

    return post


def explain_in_process(registry: Path, calls: int = 1000) -> None:
    """Milliseconds per one-house v2 request with `explain`, in this process (no HTTP)."""
    from estimator.serving.answers import Answers

    print(f"\none house with explain, in process ({calls} calls): ms")
    print(f"{'model':<14}{'p50':>7}{'p99':>7}")
    worst = 0.0
    for name in ("boston-price", "boston-gbm"):
        predictor = Predictor.load(Registry(registry).resolve(name).path)
        answers = Answers(predictor, max_batch=10)
        body = json.dumps({"instances": houses(predictor.schema, 1), "explain": True}).encode()
        times = [t * 1e3 for t in per_call(partial(answers.v2, body), calls)]
        p50, p99 = np.percentile(times, 50), np.percentile(times, 99)
        worst = max(worst, p99)
        print(f"{name:<14}{p50:>7.2f}{p99:>7.2f}")
    print(f"target: explain for one house under 2 ms p99: worst {worst:.2f} ms "
          f"{'met' if worst < 2 else 'MISSED'}")


def xgboost_floor(gbm: Predictor, rows: list[dict[str, Any]], calls: int = 2000) -> float:
    """Seconds XGBoost itself takes to price one house in this process (median): the
    `inplace_predict` call every XGBoost server makes, whatever it does around it."""
    x = gbm.preprocessor.transform(gbm.rules.rows(rows).matrix)
    return statistics.median(per_call(partial(gbm.model.predict, x), calls))


def one_house(wrk: str, yardstick: str, urls: dict[str, str], bodies: dict[str, bytes],
              seconds: int, rounds: int, floor: float) -> None:
    print(f"one house per request: req/s (median of {rounds} runs of {seconds} s) and the "
          "median ratio to the yardstick run just before")
    print(f"{'route':<16}{'conc':>5}{'req/s':>9}{'vs yardstick':>14}")
    ratios: dict[tuple[str, int], float] = {}
    rps: dict[tuple[str, int], float] = {}
    yard: dict[int, float] = {}
    yard_body = bodies["mlp v1"]
    for conc in CONCURRENCY:
        runs: dict[str, list[tuple[float, float]]] = {route: [] for route in urls}
        for _ in range(rounds):
            for route, url in urls.items():
                before = run_wrk(wrk, yardstick, yard_body, conc, seconds)
                runs[route].append((run_wrk(wrk, url, bodies[route], conc, seconds), before))
        yard[conc] = statistics.median(b for pairs in runs.values() for _, b in pairs)
        print(f"{'yardstick':<16}{conc:>5}{yard[conc]:>9.0f}{1:>14.2f}")
        for route, pairs in runs.items():
            rps[route, conc] = statistics.median(m for m, _ in pairs)
            ratios[route, conc] = statistics.median(m / b for m, b in pairs)
            print(f"{route:<16}{conc:>5}{rps[route, conc]:>9.0f}{ratios[route, conc]:>14.2f}")
    worst_mlp = min(ratios["mlp v1", c] for c in CONCURRENCY)
    print(f"\ntarget: v1 MLP one house >= 0.9x the yardstick: worst {worst_mlp:.2f}x "
          f"{'met' if worst_mlp >= 0.9 else 'MISSED'}")
    cost = min(ratios["mlp v2", c] / ratios["mlp v2 no ranges", c] for c in CONCURRENCY)
    print(f"v2 with ranges against without, over HTTP: worst {cost:.2f}x (a ratio of two "
          "noisy ratios; the target is judged in process, below)")
    logging = min(ratios["mlp v1 logged", c] / ratios["mlp v1", c] for c in CONCURRENCY)
    print(f"logging every estimate to SQLite: worst {logging:.2f}x the throughput without")
    if "mlflow" in urls:
        worst = min(ratios["gbm v1", c] / ratios["mlflow", c] for c in CONCURRENCY)
        print(f"target: gbm >= 10x MLflow at every concurrency: worst {worst:.1f}x "
              f"{'met' if worst >= 10 else 'MISSED'}")
        print(f"  XGBoost's own call for one house takes {floor * 1e6:.0f} us in process; added "
              "to the yardstick's time per request, it leaves a ceiling of")
        for c in CONCURRENCY:
            ceiling = 1 / (1 / yard[c] + floor)
            print(f"  conc {c:>2}: {ceiling:,.0f} req/s = {ceiling / rps['mlflow', c]:.1f}x "
                  f"MLflow (gbm v1 reached {rps['gbm v1', c] / rps['mlflow', c]:.1f}x)")


def many_houses(yardstick: str, urls: dict[str, str], schema: Schema,
                body: Callable[[str, list[dict[str, Any]]], bytes]) -> None:
    print("\nmany houses in one request: p50 ms")
    print(f"{'route':<18}{'1,000':>9}{'10,000':>9}")
    for route, url in {"yardstick": yardstick, **urls}.items():
        cells = []
        for n, repeat in ((1000, 15), (10_000, 5)):
            rows = houses(schema, n, seed=n)
            sent = body("mlp v1" if route == "yardstick" else route, rows)
            cells.append(f"{p50_ms(url, sent, repeat):>9.1f}")
        print(f"{route:<18}{''.join(cells)}")


if __name__ == "__main__":
    main()
