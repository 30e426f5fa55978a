"""Retraining with a gate, on a real market move: a model of the southern California
districts meets the northern ones. A better challenger is promoted, a worse one is
registered but not promoted, and the decision is kept with the version and the history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator import config
from estimator.cli import main
from estimator.monitoring.gate import judge
from estimator.predictor import Estimates
from estimator.registry import Registry, VersionInfo
from estimator.training import train
from tests.conftest import CALIFORNIA
from tests.serving_support import TOKEN, running, wait_for

NAME = "ca-south"
TARGET = "median_house_value"


def _districts() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(CALIFORNIA)
    south = frame[frame.latitude < 35.5].sample(4000, random_state=1).reset_index(drop=True)
    north = frame[frame.latitude >= 35.5].sample(frac=1, random_state=0).reset_index(drop=True)
    north["sold_at"] = pd.date_range("2026-01-01", periods=len(north), freq="h", tz="UTC")
    return south, north


@pytest.fixture(scope="module")
def champion_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry whose production model knows only the south."""
    folder = tmp_path_factory.mktemp("retrain")
    south, _ = _districts()
    south.to_csv(folder / "south.csv", index=False)
    cfg = config.validate({
        "name": NAME, "data": {"path": str(folder / "south.csv"), "target": TARGET},
        "preprocessing": {"log_target": True},
        "model": {"family": "gbm", "n_estimators": 150, "learning_rate": 0.15, "max_depth": 5},
        "intervals": {"folds": 3}})
    registry = Registry(folder / "models")
    result = train(cfg, registry=registry)
    assert result.version is not None
    registry.promote(result.version.ref)
    return registry.root


@pytest.fixture()
def registry(champion_registry: Path, tmp_path: Path) -> Registry:
    shutil.copytree(champion_registry, tmp_path / "models")
    return Registry(tmp_path / "models")


def _champion(registry: Registry) -> VersionInfo:
    return registry.resolve(f"{NAME}@production")


def _sales(tmp_path: Path, rows: int, *, scramble_learning: bool = False) -> Path:
    _, north = _districts()
    sales = north.head(rows).copy()
    if scramble_learning:  # the older 70 % teach nonsense; the newest 30 % judge
        learn = int(rows * 0.7)
        sales.loc[:learn - 1, TARGET] = sales[TARGET].iloc[:learn].sample(
            frac=1, random_state=3).to_numpy()
    path = tmp_path / "sales.csv"
    sales.to_csv(path, index=False)
    return path


def test_the_gate_promotes_only_a_challenger_that_is_surely_better() -> None:
    rng = np.random.default_rng(0)
    actual = rng.uniform(100, 500, 400)

    def estimates(error: float, width: float) -> Estimates:
        price = actual * (1 + rng.normal(0, error, actual.size))
        return Estimates(price=price, lower=price * (1 - width), upper=price * (1 + width))

    champion = estimates(0.20, 0.35)
    better = judge(actual, champion, estimates(0.10, 0.2), level=0.9)
    assert better.promote and better.reason.startswith("better:"), better.reason
    assert better.improvement_low > 0 and better.champion["median_ape"] > 10
    same = judge(actual, champion, estimates(0.20, 0.35), level=0.9)
    assert not same.promote and same.reason.startswith("not better"), same.reason
    narrow = judge(actual, champion, estimates(0.10, 0.05), level=0.9)
    assert not narrow.promote and "ranges do not hold" in narrow.reason, narrow.reason
    assert narrow.coverage_floor == pytest.approx(100 * (0.9 - 2 * np.sqrt(0.09 / 400)))


def test_a_better_challenger_is_promoted_and_the_decision_kept(
        registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    champion = _champion(registry)
    sales = _sales(tmp_path, 1200)
    assert main(["retrain", "--model", NAME, "--data", str(sales), "--fine-tune",
                 "--registry", str(registry.root), "-q"]) == 0
    out = capsys.readouterr().out
    assert "promoted to production" in out and "judged on the 360 newest sales" in out, out
    new = _champion(registry)
    assert new.version != champion.version
    decision = new.meta["retrain"]
    assert decision["promote"] and decision["champion_version"] == champion.version
    assert decision["window"] == {"rows": 360, "unpriced": 0,  # sales 841 to 1,200, hourly
                                  "from": "2026-02-05T00:00:00+00:00",
                                  "to": "2026-02-19T23:00:00+00:00"}
    assert decision["challenger"]["median_ape"] < decision["champion"]["median_ape"]
    assert decision["how"] == "fine-tuned from the champion" and decision["trained_on_new"] == 840
    assert new.meta["parent"] == champion.ref
    moved = registry.history(NAME)[-1]
    assert (moved["alias"], moved["from"], moved["to"]) == ("production", champion.version,
                                                            new.version)
    assert moved["reason"].startswith("retrain: better") and moved["details"] == decision


def test_a_worse_challenger_is_registered_but_not_promoted(
        registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    champion = _champion(registry)
    sales = _sales(tmp_path, 1200, scramble_learning=True)
    assert main(["retrain", "--model", NAME, "--data", str(sales), "--fine-tune",
                 "--registry", str(registry.root), "-q", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["promoted"] is False and answer["decision"]["reason"].startswith(
        "not better"), answer
    assert _champion(registry).version == champion.version  # production did not move
    latest = registry.resolve(f"{NAME}@latest")
    assert latest.version != champion.version and latest.meta["retrain"]["promote"] is False
    event = registry.history(NAME)[-1]
    assert event["alias"] == "latest" and event["reason"].startswith("retrain: not promoted")


def test_a_dry_run_decides_without_touching_the_registry(
        registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = ([v.version for v in registry.versions(NAME)], registry.aliases(NAME))
    sales = _sales(tmp_path, 600)
    assert main(["retrain", "--model", NAME, "--data", str(sales), "--dry-run",
                 "--registry", str(registry.root), "-q"]) == 0
    out = capsys.readouterr().out
    assert "(dry run, not registered): would" in out and "from scratch" in out, out
    assert ([v.version for v in registry.versions(NAME)], registry.aliases(NAME)) == before


def test_sale_prices_reported_to_the_service_retrain_it_and_it_switches(
        registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    champion = _champion(registry)
    _, north = _districts()
    houses = north.head(900)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with running(registry.root, f"{NAME}@production", database_url=url, admin_token=TOKEN,
                 reload_interval=0.1) as client:
        rows = json.loads(houses.drop(columns=[TARGET, "sold_at"]).to_json(orient="records"))
        ids = [p["id"] for start in range(0, len(rows), 300) for p in client.post(
            "/v2/predict", json={"instances": rows[start:start + 300]}).json()["predictions"]]
        client.app_state.writer.settle()
        sales = [{"id": i, "price": float(p), "sold_at": t.isoformat()}
                 for i, p, t in zip(ids, houses[TARGET], houses["sold_at"], strict=True)]
        stored = client.post("/v1/feedback", json=sales,
                             headers={"Authorization": f"Bearer {TOKEN}"})
        assert stored.json() == {"stored": 900}, stored.text
        assert main(["retrain", "--model", NAME, "--from-feedback", "--url", url, "--fine-tune",
                     "--registry", str(registry.root), "-q"]) == 0
        out = capsys.readouterr().out
        assert "promoted to production" in out and "270 newest sales" in out, out
        new = _champion(registry)
        assert new.version != champion.version
        assert new.meta["retrain"]["source"] == "prediction log"
        wait_for(lambda: client.get("/health").json()["model"]["version"] == new.version)


def test_too_few_sales_or_no_source_is_one_line(
        registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sales = _sales(tmp_path, 40)
    assert main(["retrain", "--model", NAME, "--data", str(sales),
                 "--registry", str(registry.root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Only 40 new sold houses of ca-south@") and \
        "at least 50 (30 to judge on, 20 to learn from)" in err and err.count("\n") == 1, err
    assert main(["retrain", "--model", NAME, "--registry", str(registry.root)]) == 2
    assert "give --data FILE or --from-feedback" in capsys.readouterr().err
    pd.read_csv(sales).drop(columns=[TARGET]).to_csv(sales, index=False)
    assert main(["retrain", "--model", NAME, "--data", str(sales),
                 "--registry", str(registry.root)]) == 1
    assert "has no sale price column (median_house_value or price" in capsys.readouterr().err
