"""Batch scoring at scale: the plain engine, Dask with 2 workers, Spark local[2].

For each size in `--rows`, California-like houses are generated into one Parquet file
(rows of the bundled California CSV drawn with replacement and jittered, its category
column kept, and gaps in total_bedrooms and housing_median_age), and each engine prices
it with a gradient-boosted California model, as a user would run it:

    plain   estimator predict --input F.parquet --output out.parquet
    dask    estimator predict --engine dask --workers 2 --input F.parquet --output out/
    spark   a PySpark job on local[2]: read, price_udf, write Parquet

Each is a fresh process; its wall time (cluster or JVM start included), rows per second,
and peak memory are printed. Peak memory is the RSS of the whole process tree (the
command, its Dask workers and nanny, or the JVM and its Python workers) summed at each
sample every 0.1 s, and the highest sum kept; for Spark, the JVM's own peak beside it (its
heap grows up to spark.driver.memory, 1 GiB by default, and stops there).

Targets on a 2-core machine: no engine's peak memory grows with the input size, and the
Dask engine within 1.5x the plain engine's time.

    python benchmarks/batch_scale.py [--rows 1000000,10000000] [--engines plain,dask,spark]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from estimator import config
from estimator.registry import Registry
from estimator.training import train

ROOT = Path(__file__).resolve().parents[1]
CALIFORNIA = ROOT / "tests" / "data" / "california_housing.csv"
TARGET = "median_house_value"
ROW_GROUP = 500_000

SPARK_JOB = """
import os, sys
from pyspark.sql import SparkSession, functions as F
from estimator.integrations.spark import price_udf
registry, model, src, dst = sys.argv[1:5]
spark = (SparkSession.builder.master("local[2]").appName("batch-scale")
         .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1")
         # Splits of about one row group, so both cores work on one file; Arrow batches of
         # the plain engine's chunk size (docs/deploy.md gives the same advice).
         .config("spark.sql.files.maxPartitionBytes", "32m")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
houses = spark.read.parquet(src)
price = price_udf(model, registry=registry)
(houses.withColumn("estimate", price(F.struct(*houses.columns)))
       .select("*", "estimate.*").drop("estimate").write.mode("overwrite").parquet(dst))
spark.stop()
"""


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` California-like houses, written a row group at a time (bounded memory)."""
    base = pd.read_csv(CALIFORNIA).drop(columns=[TARGET])
    rng = np.random.default_rng(seed)
    numeric = [c for c in base.columns if c != "ocean_proximity"]
    writer = None
    try:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            frame = base.iloc[rng.integers(0, len(base), n)].reset_index(drop=True)
            for column in ("longitude", "latitude", "median_income"):
                frame[column] = frame[column] * rng.normal(1.0, 0.002, n)
            for column in ("total_rooms", "population", "households"):
                frame[column] = np.maximum(1, np.round(frame[column] * rng.normal(1, 0.05, n)))
            frame.loc[rng.random(n) < 0.01, "housing_median_age"] = np.nan
            frame[numeric] = frame[numeric].astype("float64")
            frame.insert(0, "house_id", np.arange(start, start + n, dtype=np.int64))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
    finally:
        if writer is not None:
            writer.close()


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(seconds, peak MB of the process tree's summed RSS, peak MB of its JVM alone, stderr)
    of a command."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=err)
        root = psutil.Process(process.pid)
        peak = jvm_peak = 0
        while process.poll() is None:
            total = jvm = 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for proc in tree:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    rss = proc.memory_info().rss
                    total += rss
                    jvm += rss if proc.name() == "java" else 0
            peak, jvm_peak = max(peak, total), max(jvm_peak, jvm)
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"{args[2:4]} failed:\n{text[-3000:]}")
    return seconds, peak / 2**20, jvm_peak / 2**20, text


def model(registry: Path) -> str:
    cfg = config.validate({
        "name": "california-scale",
        "data": {"path": str(CALIFORNIA), "target": TARGET},
        "preprocessing": {"coordinates": True, "ratios": True},
        "model": {"family": "gbm", "n_estimators": 200, "learning_rate": 0.1},
    })
    result = train(cfg, registry=Registry(registry))
    assert result.version is not None
    return result.version.ref


def engines(name: str, registry: Path, ref: str, src: Path, out: Path) -> list[str]:
    cli = [sys.executable, "-m", "estimator", "predict", "--model", ref, "--input", str(src),
           "--registry", str(registry)]
    if name == "plain":
        return [*cli, "--output", str(out / "plain.parquet")]
    if name == "dask":
        return [*cli, "--engine", "dask", "--workers", "2", "--output", str(out / "dask")]
    return [sys.executable, "-c", SPARK_JOB, str(registry), ref, str(src), str(out / "spark")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000",
                        help="comma-separated input sizes (default 1000000,10000000)")
    parser.add_argument("--engines", default="plain,dask,spark")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.rows.split(",")]
    names = args.engines.split(",")
    work = args.work or Path(tempfile.mkdtemp(prefix="batch-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    print(f"cores {os.cpu_count()}, memory {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"scratch {work}", flush=True)
    ref = model(work / "models")
    figures = []
    print(f"{'engine':<6} {'rows':>11} {'seconds':>8} {'rows/s':>9} {'peak MB':>8} "
          f"{'of it JVM':>9}", flush=True)
    for rows in sizes:
        src = work / f"houses-{rows}.parquet"
        if not src.exists():
            generate(src, rows)
        out = work / f"out-{rows}"
        for name in names:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            seconds, peak, jvm, _ = run_measured(engines(name, work / "models", ref, src, out),
                                                 env)
            figures.append({"engine": name, "rows": rows, "seconds": round(seconds, 2),
                            "rows_per_s": round(rows / seconds), "peak_mb": round(peak),
                            "jvm_peak_mb": round(jvm)})
            print(f"{name:<6} {rows:>11,} {seconds:>8.1f} {rows / seconds:>9,.0f} "
                  f"{peak:>8,.0f} {jvm:>9,.0f}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    plain = {f["rows"]: f["seconds"] for f in figures if f["engine"] == "plain"}
    for f in figures:
        if f["engine"] == "dask" and f["rows"] in plain:
            print(f"dask / plain time at {f['rows']:,} rows: {f['seconds'] / plain[f['rows']]:.2f}x"
                  " (target <= 1.5x)")
    for name in names:
        peaks = [f["peak_mb"] for f in figures if f["engine"] == name]
        if len(peaks) > 1:
            print(f"{name} peak memory, smallest to largest input: "
                  + " -> ".join(f"{p:,} MB" for p in peaks))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
