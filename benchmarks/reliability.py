"""Reliability of the real service: soak, version switches, misbehaving clients, hostile
bodies, crashes of the registry's writers and bad versions, as a table of figures.

Everything runs on this machine: two versions of one model are trained into a scratch
registry with `estimator train`, `estimator serve` runs as a child process on 127.0.0.1
(its watcher at the default 2 s, 0.5 s with --short), and the clients are threads here.

  soak              concurrency 8 for --minutes (10), the server's RSS sampled every
                    few seconds: flat within 10 % after the first tenth (warm-up)
  switches          `estimator models promote` moves production between the two
                    versions every 3 s under load: every request answered, every move
                    followed by the service on its own
  slow clients      200 idle open connections and 16 bodies sent a byte at a time while
                    others are served: their latency
  hostile: ...      deep nesting, 50 MB, 1e400, 10**400, wrong content
                    types, invalid UTF-8: each a 4xx, never a 5xx, the service still up
  kill -9 ...       `estimator train`, `estimator models promote` and a loop of alias
                    moves killed at random moments: the registry stays consistent
  bad weights ...   a corrupt .npz, a truncated one whose checksum matches, and one
                    holding a pickle that would create a file, promoted to production:
                    refused in one log line, the old version keeps serving, no code runs

Exits non-zero when any row fails. `--short` is the test's version: a 10 s soak and
fewer loops, with a fast-training linear model.

    python benchmarks/reliability.py [--minutes 10] [--short]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import crashes
from hostile import hostile, slow_clients
from load import Load, Service
from serving import ROOT, houses

from estimator.predictor import Predictor
from estimator.registry import Registry

MODEL = "boston-price"
LINEAR = f"name: {MODEL}\nmodel: {{family: linear}}\n"


@dataclass(frozen=True)
class Plan:
    """How long and how often, for the full run or the short one."""

    soak: float  # seconds
    switches: float  # seconds of alias moves every `period`
    period: float
    slow: float  # seconds of slow clients
    train_kills: int
    promote_kills: int
    conf: str  # configs/boston.yaml, or the linear config for a quick run
    watch: float  # the service's watcher interval

    @classmethod
    def of(cls, minutes: float, short: bool) -> Plan:
        if short:
            return cls(soak=10, switches=6, period=3, slow=3, train_kills=2, promote_kills=3,
                       conf="linear", watch=0.5)
        return cls(soak=minutes * 60, switches=60, period=3, slow=20, train_kills=8,
                   promote_kills=15, conf=str(ROOT / "configs" / "boston.yaml"),
                   watch=2.0)


@dataclass(frozen=True)
class Row:
    check: str
    done: str
    figure: str
    passed: bool


def train_argv(registry: Path, conf: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "estimator", "train", "--conf", str(conf), "--registry",
            str(registry), "--quiet", *extra]


def soak(service: Service, bodies: list[bytes], seconds: float) -> Row:
    """Concurrency 8 for `seconds`, RSS sampled; flat within 10 % after the first tenth."""
    samples: list[tuple[float, float]] = []
    step = max(0.5, min(5.0, seconds / 120))
    with Load(service.base, bodies, 8) as load:
        began = time.monotonic()
        while (now := time.monotonic() - began) < seconds and service.alive():
            samples.append((now, service.rss_mib()))
            time.sleep(step)
    warm = seconds / 10
    after = [rss for t, rss in samples if t >= warm] or [samples[-1][1]]
    spread = (max(after) - min(after)) / min(after)
    figure = (f"RSS {after[0]:.1f} -> {after[-1]:.1f} MiB after {warm:.0f} s warm-up "
              f"(max {max(after):.1f}, spread {spread:.1%}, limit 10 %); {load.summary()}")
    return Row("soak", f"concurrency 8 for {seconds:.0f} s, RSS every {step:.1f} s", figure,
               spread <= 0.10 and load.failed == 0 and service.alive())


def switches(service: Service, bodies: list[bytes], root: Path, versions: list[str],
             seconds: float, period: float) -> Row:
    """Move production between two versions every `period` under load."""
    delays: list[float] = []
    moves = 0
    with Load(service.base, bodies, 8) as load:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            began = time.monotonic()
            target = versions[(versions.index(service.served() or versions[0]) + 1) % 2]
            subprocess.run([sys.executable, "-m", "estimator", "models", "promote",
                            f"{MODEL}@{target}", "--registry", str(root)], cwd=ROOT,
                           check=True, capture_output=True)
            moved = time.monotonic()
            moves += 1
            while service.served() != target and time.monotonic() - moved < 15:
                time.sleep(0.05)
            if service.served() == target:
                delays.append(time.monotonic() - moved)
            time.sleep(max(0.0, began + period - time.monotonic()))
    seen = ", ".join(f"{v.split('-')[0]}: {n:,}" for v, n in sorted(load.versions.items()))
    figure = (f"{len(delays)}/{moves} moves followed (slowest {max(delays, default=0):.1f} s "
              f"after the move); answers by version {seen}; {load.summary()}")
    return Row("switches", f"production moved every {period:.0f} s for {seconds:.0f} s "
               "under concurrency 8", figure,
               load.failed == 0 and len(delays) == moves and service.alive())


def run(plan: Plan, work: Path) -> list[Row]:
    root = work / "models"
    conf = Path(plan.conf)
    if plan.conf == "linear":
        conf = work / "linear.yaml"
        conf.write_text(LINEAR)
    began = time.monotonic()  # the two versions side by side: one core each
    runs = [subprocess.Popen(train_argv(root, conf, *extra), cwd=ROOT,
                             stdout=subprocess.DEVNULL) for extra in ([], ["--set", "seed=7"])]
    if any(run.wait() != 0 for run in runs):
        sys.exit("estimator train failed")
    typical = time.monotonic() - began
    registry = Registry(root)
    versions = [v.version for v in registry.versions(MODEL)]
    first = registry.promote(f"{MODEL}@{versions[0]}")
    predictor = Predictor.load(first.path)
    bodies = [b"[" + house + b"]" for house in _encoded(houses(predictor.schema, 200))]
    integer = next((f.name for f in predictor.schema.features if f.kind == "integer"), None)
    rng = random.Random(0)

    rows: list[Row] = []
    service = Service(root, MODEL, work, plan.watch)
    service.start()
    try:
        rows.append(soak(service, bodies, plan.soak))
        rows.append(switches(service, bodies, root, versions, plan.switches, plan.period))
        rows.append(Row("slow clients", *slow_clients(service, bodies, plan.slow)))
        rows += [Row(*r) for r in hostile(service, predictor.schema.example_row(), integer)]
        began = time.monotonic()
        subprocess.run([sys.executable, "-m", "estimator", "models", "list", "--registry",
                        str(root)], cwd=ROOT, check=True, capture_output=True)
        cli = time.monotonic() - began
        rows.append(Row("kill -9 promote", *crashes.kill_promote(
            service, root, MODEL, versions, plan.promote_kills, cli, rng)))
        rows.append(Row("kill -9 train", *crashes.kill_train(
            root, MODEL, train_argv(root, conf), plan.train_kills, typical, rng)))
        live = crashes.payload_is_live(work, first)
        for kind in ("flipped", "truncated", "pickle"):
            done, figure, passed = crashes.refused(service, root, first, kind, work)
            if kind == "pickle":
                figure += f"; the same file loaded with allow_pickle=True runs it: {live}"
            rows.append(Row(f"bad weights: {kind}", done, figure, passed and
                            (live or kind != "pickle")))
    finally:
        service.stop()
    return rows


def _encoded(rows: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(row).encode() for row in rows]


def print_table(rows: list[Row]) -> None:
    width = max(len(r.check) for r in rows)
    print(f"\n{'check':<{width}}  result  what was done / figure")
    for r in rows:
        print(f"{r.check:<{width}}  {'pass' if r.passed else 'FAIL':<6}  {r.done}")
        print(f"{'':<{width}}          {r.figure}")
    failed = sum(not r.passed for r in rows)
    print(f"\n{len(rows) - failed} passed, {failed} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    parser.add_argument("--short", action="store_true",
                        help="a 10 s soak and fewer loops, with a linear model (the test's run)")
    args = parser.parse_args()
    plan = Plan.of(args.minutes, args.short)
    with tempfile.TemporaryDirectory(prefix="estimator-reliability-") as scratch:
        rows = run(plan, Path(scratch))
    print_table(rows)
    sys.exit(0 if all(r.passed for r in rows) else 1)


if __name__ == "__main__":
    main()
