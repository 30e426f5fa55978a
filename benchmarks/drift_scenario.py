"""The whole loop on real data: a market shift, noticed, judged, retrained, switched.

The champion learns the southern California districts (latitude below 35.5, the Los
Angeles and San Diego markets). The real service (`estimator serve`, a child process
on 127.0.0.1 with its own SQLite prediction log) then prices, in this order:

  before   southern districts it never saw (the market it knows)
  shift    northern districts (the Bay Area and the Central Valley): a market it never saw
  after    more northern districts, once the retrained version is serving

Half the houses priced get their sale price back through POST /v1/feedback, dated in
the order they were priced. Every `--every` estimates the script asks
GET /v1/monitoring/drift for the latest `--window` estimates and notes when it first
flags drift. Then `estimator retrain --from-feedback` trains challengers (a dry run
from scratch, then `--fine-tune` for real, as the article does), the gate decides, and
the service follows the production alias on its own. It prints the figures of each
phase: estimates, when drift was flagged, realized median APE, within 10 %, coverage.

    python benchmarks/drift_scenario.py [--shift 3000] [--after 2000] [--every 100]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from serving import ROOT, serving

from estimator import config
from estimator.registry import Registry
from estimator.training import train

DATA = ROOT / "tests" / "data" / "california_housing.csv"
TARGET = "median_house_value"
NAME = "california-south"
TOKEN = "drift-scenario-token-0123456789"
START = datetime(2026, 1, 5, tzinfo=UTC)


class Market:
    """The service, its sale prices and the running record of what it answered."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.served: list[dict[str, Any]] = []  # id, version, price, lower, upper, actual
        self.reported = 0

    def price(self, houses: pd.DataFrame, phase: str, report_share: float = 0.5) -> None:
        """Price the houses 100 at a time; report the sale price of every other one."""
        rows = json.loads(houses.drop(columns=[TARGET]).to_json(orient="records"))
        for start in range(0, len(rows), 100):
            chunk = rows[start:start + 100]
            answer = self.client.post("/v2/predict", json={"instances": chunk})
            answer.raise_for_status()
            sales = []
            for house, p in zip(houses.iloc[start:start + 100].itertuples(),
                                answer.json()["predictions"], strict=True):
                actual = float(getattr(house, TARGET))
                self.served.append({"id": p["id"], "phase": phase, "price": p["price"],
                                    "lower": p.get("lower"), "upper": p.get("upper"),
                                    "actual": actual,
                                    "version": answer.headers["x-model-version"]})
                if len(self.served) % round(1 / report_share) == 0:
                    when = START + timedelta(hours=len(self.served))
                    sales.append({"id": p["id"], "price": actual, "sold_at": when.isoformat()})
            if sales:
                self.report(sales)

    def report(self, sales: list[dict[str, Any]]) -> None:
        for _ in range(50):  # an estimate reaches the log a moment after its answer
            done = self.client.post("/v1/feedback", json=sales,
                                    headers={"Authorization": f"Bearer {TOKEN}"})
            if done.status_code == 200:
                self.reported += len(sales)
                return
            time.sleep(0.1)
        raise RuntimeError(f"feedback refused: {done.text}")

    def drifted(self, window: int) -> dict[str, Any]:
        report: dict[str, Any] = self.client.get(f"/v1/monitoring/drift?window={window}").json()
        return report

    def figures(self, phase: str) -> dict[str, float]:
        rows = [s for s in self.served if s["phase"] == phase]
        actual = np.array([s["actual"] for s in rows])
        price = np.array([s["price"] for s in rows])
        ape = np.abs(price - actual) / actual * 100
        low = np.array([s["lower"] for s in rows], dtype=float)
        high = np.array([s["upper"] for s in rows], dtype=float)
        return {"estimates": len(rows), "median_ape": float(np.median(ape)),
                "within_10": float(np.mean(ape <= 10) * 100),
                "coverage": float(np.mean((actual >= low) & (actual <= high)) * 100)}


def districts(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Training rows of the south, unseen southern rows, and the north, shuffled."""
    frame = pd.read_csv(DATA)
    south = frame[frame.latitude < 35.5].sample(frac=1, random_state=seed)
    north = frame[frame.latitude >= 35.5].sample(frac=1, random_state=seed)
    cut = int(len(south) * 0.85)
    return (south.iloc[:cut].reset_index(drop=True), south.iloc[cut:].reset_index(drop=True),
            north.reset_index(drop=True))


def retrain(work: Path, url: str, *more: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-m", "estimator", "retrain", "--model", NAME,
                          "--from-feedback", "--url", url, "--registry", str(work / "models"),
                          "--json", *more], capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    answer: dict[str, Any] = json.loads(run.stdout)
    return {**answer["decision"], "promoted": answer["promoted"],
            "challenger_ref": answer["challenger"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shift", type=int, default=3000, help="Northern houses before "
                        "retraining.")
    parser.add_argument("--after", type=int, default=2000, help="Northern houses after.")
    parser.add_argument("--every", type=int, default=100, help="Estimates between two looks "
                        "at drift.")
    parser.add_argument("--window", type=int, default=500, help="Estimates a look measures.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="estimator-drift-"))
    learn, unseen, north = districts(args.seed)
    learn.to_csv(work / "south.csv", index=False)
    cfg = config.validate({
        "name": NAME, "data": {"path": str(work / "south.csv"), "target": TARGET},
        "preprocessing": {"log_target": True},
        "model": {"family": "gbm", "n_estimators": 600, "learning_rate": 0.08, "max_depth": 6,
                  "early_stopping_rounds": 50}})
    registry = Registry(work / "models")
    champion = train(cfg, registry=registry).version
    assert champion is not None
    registry.promote(champion.ref)
    print(f"champion {champion.ref}: trained on {len(learn)} southern districts")
    url = f"sqlite:///{work / 'predictions.db'}"
    env = {"ESTIMATOR_DATABASE_URL": url, "ESTIMATOR_ADMIN_TOKEN": TOKEN,
           "ESTIMATOR_SPOOL": str(work / "spool"), "ESTIMATOR_RELOAD_INTERVAL": "1"}
    command = [sys.executable, "-m", "estimator", "serve", "--model", f"{NAME}@production",
               "--registry", str(work / "models"), "--port", "{port}"]
    with serving(command, "/ready", env=env) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        market = Market(client)
        market.price(unseen.head(args.window * 2), "before")
        looks = [market.drifted(args.window)]
        flagged_after = None
        shifted = north.iloc[:args.shift]
        for start in range(0, args.shift, args.every):
            market.price(shifted.iloc[start:start + args.every], "shift")
            looks.append(market.drifted(args.window))
            if flagged_after is None and (looks[-1]["drifted"] or
                                          looks[-1]["prediction"]["drifted"]):
                flagged_after = min(start + args.every, args.shift)
        print(f"before the shift, on {args.window} southern estimates: drifted "
              f"{looks[0]['drifted'] or 'nothing'}")
        print(f"drift flagged after {flagged_after} northern estimates (looks every "
              f"{args.every}, window {args.window}): {looks[-1]['drifted']}"
              f"{'; predictions too' if looks[-1]['prediction']['drifted'] else ''}")
        errors = looks[-1].get("residuals") or {}
        print(f"errors of the {errors.get('rows')} sold estimates against the test split's: "
              f"PSI {errors.get('psi') or 0:.3f}, drifted {errors.get('drifted')}")
        fresh = retrain(work, url, "--dry-run")
        tuned = retrain(work, url, "--fine-tune")
        for label, d in (("from scratch, dry run", fresh), ("fine-tuned", tuned)):
            verdict = ("promoted" if d["promoted"] else "would be promoted" if d["promote"]
                       else "not promoted")
            print(f"retrain {label}: {verdict}: "
                  f"{d['reason']} [window {d['window']['rows']} sales; saving "
                  f"{d['improvement']:+.2f} points, {d['confidence']:.0%} bound "
                  f"{d['improvement_low']:+.2f}]")
        if tuned["promoted"]:
            version = tuned["challenger_ref"].split("@")[1]
            deadline = time.monotonic() + 30
            while client.get("/health").json()["model"]["version"] != version:
                if time.monotonic() > deadline:
                    raise RuntimeError("the service did not switch to the new version")
                time.sleep(0.2)
            print(f"the service switched to {version} on its own")
        market.price(north.iloc[args.shift:args.shift + args.after], "after")
        accuracy = client.get("/v1/monitoring/accuracy").json()
    print()
    print(f"{'phase':<8} {'version':<20} {'estimates':>9} {'median APE':>10} "
          f"{'within 10%':>10} {'coverage':>8}")
    for phase in ("before", "shift", "after"):
        f = market.figures(phase)
        versions = sorted({s["version"] for s in market.served if s["phase"] == phase})
        print(f"{phase:<8} {','.join(versions):<20} {f['estimates']:>9} "
              f"{f['median_ape']:>9.1f}% {f['within_10']:>9.1f}% {f['coverage']:>7.1f}%")
    print(f"\n{market.reported} sale prices reported; the service's own realized figures by "
          "version:")
    for v in accuracy["versions"]:
        r, t = v["realized"], v["test_split"] or {}
        print(f"  {v['version']}: {r['rows']} sales, median APE {r['median_ape'] or 0:.1f} % "
              f"(test split at training: {t.get('median_ape') or 0:.1f} %)")


if __name__ == "__main__":
    main()
