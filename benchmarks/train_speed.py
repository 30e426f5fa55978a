"""Training and batch-scoring speed, measured as a user would see it.

Prints wall times of whole commands (start-up included):
  1. the article's final config (64-64-32, 17 epochs) on Boston;
  2. gbm on the California CSV (the copy the tests use);
  3. `estimator predict` on a 1,000,000-row file, in rows/s,
and, measured in the same run as baselines: the interpreter start-up with
NumPy imported, and pandas merely reading the same 1,000,000-row file.

    python benchmarks/train_speed.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
FINAL = DATA / "article" / "seed_config_final.json"
CALIFORNIA = DATA / "california_housing.csv"


def timed(cmd: list[str], repeat: int) -> float:
    """Median wall time of a command, which must succeed."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def estimator(*args: str) -> list[str]:
    return [sys.executable, "-m", "estimator", *args]


def big_file(path: Path, rows: int) -> None:
    """Boston rows resampled with a little noise, as a large agency file would look."""
    from estimator.data import boston

    src = pd.read_csv(boston.csv_path(), header=None, names=[*boston.COLUMNS, boston.TARGET])
    rng = np.random.default_rng(0)
    frame = src.drop(columns=[boston.TARGET]).iloc[rng.integers(0, len(src), rows)]
    frame = frame.reset_index(drop=True)
    for col in ("CRIM", "RM", "LSTAT", "NOX", "DIS"):
        frame[col] = (frame[col] * rng.uniform(0.98, 1.02, rows)).round(4)
    frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        reg = str(Path(tmp) / "models")
        startup = timed([sys.executable, "-c", "import numpy"], args.repeat)
        rows.append(("python start-up + numpy import (baseline)", f"{startup:.2f} s", ""))
        if FINAL.exists():
            t = timed(estimator("train", "--conf", str(FINAL), "--registry", reg, "-q"),
                      args.repeat)
            rows.append(("article final config, Boston, whole command", f"{t:.2f} s",
                         "target < 5 s; Keras: 2.35 s + ~3 s import"))
        else:
            rows.append(("article final config", "skipped", f"{FINAL} absent"))
        if CALIFORNIA.exists():
            t = timed(estimator("train", "--registry", reg, "-q", "--set", "name=cal-gbm",
                                "--set", "model.family=gbm", "--set", "data.source=null",
                                "--set", f"data.path={CALIFORNIA}",
                                "--set", "data.target=median_house_value"), 1)
            rows.append(("gbm on California (20,640 rows), whole command", f"{t:.2f} s",
                         "target < 30 s"))
        else:
            rows.append(("gbm on California", "skipped", f"{CALIFORNIA} absent"))
        subprocess.run(estimator("train", "--registry", reg, "-q", "--set", "name=scorer",
                                 "--set", "training.epochs=5"), check=True,
                       stdout=subprocess.DEVNULL, cwd=ROOT)
        src = Path(tmp) / "houses.csv"
        big_file(src, args.rows)
        start = time.perf_counter()
        pd.read_csv(src)
        read = time.perf_counter() - start
        rows.append((f"pandas read_csv of {args.rows:,} rows (baseline)", f"{read:.2f} s",
                     f"{args.rows / read:,.0f} rows/s"))
        t = timed(estimator("predict", "--model", "scorer", "--registry", reg, "--input",
                            str(src), "--output", str(Path(tmp) / "out.csv")), args.repeat)
        rows.append((f"estimator predict, {args.rows:,} rows, whole command", f"{t:.2f} s",
                     f"{args.rows / t:,.0f} rows/s (target > 200,000); "
                     f"{read / t:.2f}x pandas read alone"))
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    main()
