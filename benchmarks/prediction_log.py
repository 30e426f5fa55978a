"""The prediction log: does the writer keep up, and does an outage lose anything?

1. The writer alone: `--rows` estimates handed to LogWriter at once, written in its
   batches to PostgreSQL (a fresh schema on the server at `--database`) and to a
   SQLite file; rows per second.
2. The service's own full single-house throughput: wrk at concurrency 8 on v1 for
   `--seconds`, logging off, then logging to PostgreSQL. The writer must beat the
   second figure by a margin.
3. An outage under load: the service logs to PostgreSQL through a TCP forwarder
   (benchmarks/proxy.py); wrk loads it for the whole run while the forwarder refuses
   and cuts every database connection for `--outage` seconds in the middle. Then the
   script waits for the spool to drain and counts: requests answered, requests failed,
   rows stored; lost = answered - stored.

    python benchmarks/prediction_log.py [--outage 60] [--seconds 10] [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from proxy import Proxy
from serving import LUA, ensure_tool, houses, serving

from estimator import config
from estimator.monitoring import upgrade
from estimator.monitoring.store import Prediction
from estimator.monitoring.writer import LogWriter
from estimator.predictor import Predictor
from estimator.registry import Registry
from estimator.training import train

NAME = "boston-price"


def fresh_schema(server: str) -> str:
    """A URL of an empty schema on the server, with the log's tables."""
    schema = f"bench_log_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)
    upgrade(url)
    return url


def rows_stored(url: str) -> int:
    engine = sa.create_engine(sa.make_url(url))
    with engine.connect() as connection:
        count = int(connection.execute(sa.text("SELECT count(*) FROM predictions")).scalar_one())
    engine.dispose()
    return count


def writer_speed(url: str, spool: Path, rows: int, house: dict[str, object]) -> float:
    """Rows per second the writer stores, handed `rows` estimates at once."""
    writer = LogWriter(url, spool)
    entries = [Prediction(id=uuid.uuid4().hex, model=NAME, version="v1", features=house,
                          price=24.0 + i * 1e-6, lower=20.0, upper=28.0) for i in range(rows)]
    writer.put(entries[:100])
    writer.flush()  # connect, outside the timing
    start = time.perf_counter()
    writer.put(entries[100:])
    writer.flush()
    took = time.perf_counter() - start
    writer.stop()
    assert not spool.exists(), "the database refused the benchmark's rows"
    return (rows - 100) / took


def load(wrk: str, url: str, body: str, seconds: int) -> dict[str, float]:
    """wrk at concurrency 8: requests answered, failed, per second, and p99 latency (ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(body=body))
    out = subprocess.run([wrk, "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", script.name,
                          "--timeout", "10s", url], check=True, capture_output=True,
                         text=True).stdout
    Path(script.name).unlink()
    total = re.search(r"(\d+) requests in", out)
    assert total is not None, out
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    failed = (int(bad.group(1)) if bad else 0) + \
        (sum(int(g) for g in errors.groups()) if errors else 0)
    answered = int(total.group(1))
    return {"answered": answered, "failed": failed, "per_s": answered / seconds,
            "p99_ms": float(p99.group(1)) * scale}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--outage", type=int, default=60, help="seconds the database is away")
    parser.add_argument("--seconds", type=int, default=10, help="length of the speed runs")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the writer run")
    args = parser.parse_args()
    wrk = ensure_tool("wrk")
    work = Path(tempfile.mkdtemp(prefix="estimator-log-bench-"))
    registry = Registry(work / "models")
    cfg = config.validate({"name": NAME, "model": {"family": "mlp", "layers": [64, 64, 32]},
                           "training": {"batch_size": 10, "epochs": 30}})
    version = train(cfg, registry=registry).version
    assert version is not None
    house = houses(Predictor.load(version.path).schema, 1)[0]
    body = json.dumps([house])

    print(f"{'what':<46} {'figure':>14}")
    for label, url in (("writer alone, PostgreSQL", fresh_schema(args.database)),
                       ("writer alone, SQLite", f"sqlite:///{work / 'writer.db'}")):
        if url.startswith("sqlite"):
            upgrade(url)
        speed = writer_speed(url, work / "writer.spool", args.rows, house)
        print(f"{label + ' (rows/s)':<46} {speed:>14,.0f}")

    command = [sys.executable, "-m", "estimator", "serve", "--model", NAME, "--registry",
               str(registry.root), "--port", "{port}"]
    quiet = {"ESTIMATOR_LOG_LEVEL": "warning", "ESTIMATOR_RELOAD_INTERVAL": "0"}
    for label, extra in (("logging off", {"ESTIMATOR_LOG_PREDICTIONS": "false"}),
                         ("logging to SQLite", {
                             "ESTIMATOR_DATABASE_URL": f"sqlite:///{work / 'speed.db'}",
                             "ESTIMATOR_SPOOL": str(work / "speed.spool")}),
                         ("logging to PostgreSQL", {
                             "ESTIMATOR_DATABASE_URL": fresh_schema(args.database),
                             "ESTIMATOR_SPOOL": str(work / "speed.spool")})):
        with serving(command, "/ready", {**quiet, **extra}) as base:
            load(wrk, base + "/v1/services/predict", body, 2)  # warm up
            got = load(wrk, base + "/v1/services/predict", body, args.seconds)
        print(f"{'service, ' + label + ' (requests/s)':<46} {got['per_s']:>14,.0f}")
        print(f"{'service, ' + label + ' (p99 ms)':<46} {got['p99_ms']:>14.2f}")

    target = sa.make_url(args.database)
    proxy = Proxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    direct = fresh_schema(args.database)
    through = sa.make_url(direct).set(host="127.0.0.1", port=proxy.port) \
        .render_as_string(hide_password=False)
    spool = work / "outage.spool"
    margin = 15
    with serving(command, "/ready", {**quiet, "ESTIMATOR_DATABASE_URL": through,
                                     "ESTIMATOR_SPOOL": str(spool)}) as base:
        def outage() -> None:
            time.sleep(margin)
            proxy.stop()
            time.sleep(args.outage)
            proxy.start()

        cut = threading.Thread(target=outage)
        cut.start()
        got = load(wrk, base + "/v1/services/predict", body, args.outage + 2 * margin)
        cut.join()
        drained = time.monotonic()
        while spool.exists() and time.monotonic() - drained < 300:
            time.sleep(0.5)
        took = time.monotonic() - drained
        time.sleep(2)  # the last batch
    proxy.stop()
    stored = rows_stored(direct)
    print(f"{f'outage of {args.outage} s under load: requests answered':<46} "
          f"{got['answered']:>14,}")
    print(f"{'  requests failed':<46} {got['failed']:>14,}")
    print(f"{'  rows stored':<46} {stored:>14,}")
    # wrk counts the answers it finished; the (at most 8) requests in flight when it stops
    # are answered and logged too, so the log may hold a few more rows than it counted.
    print(f"{'  rows lost (answered - stored, at least 0)':<46} "
          f"{max(0, got['answered'] - stored):>14,}")
    print(f"{'  rows of requests in flight at the end':<46} "
          f"{max(0, stored - got['answered']):>14,}")
    print(f"{'  spool drained after the return (s)':<46} {took:>14.1f}")
    print(f"{'  requests/s through it; p99 ms':<46} "
          f"{got['per_s']:>8,.0f}; {got['p99_ms']:.1f}")


if __name__ == "__main__":
    main()
