"""Sale prices come back: over HTTP (bearer token) and from a file, all or none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from estimator.data import boston
from estimator.monitoring import PredictionLog, upgrade
from estimator.monitoring.store import Prediction
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from tests.serving_support import TOKEN, running

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_sale_prices_come_back_over_http(session_registry: Registry, boston_mlp: VersionInfo,
                                         tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    row = Predictor.load(boston_mlp.path).schema.example_row()
    with running(session_registry.root, boston_mlp.ref, database_url=url,
                 admin_token=TOKEN) as client:
        served = client.post("/v2/predict", json={"instances": [row] * 4}).json()["predictions"]
        ids = [p["id"] for p in served]
        assert client.post("/v1/feedback", json={"id": ids[0], "price": 24.0}).status_code == 401
        one = client.post("/v1/feedback", json={"id": ids[0], "price": 24.5,
                                                "sold_at": "2026-11-30"}, headers=AUTH)
        assert (one.status_code, one.json()) == (200, {"stored": 1})
        refused = [
            ([{"id": ids[1], "price": 20.0}, {"id": "f" * 32, "price": 21.0}], 1, "id",
             "no estimate with id"),
            ([{"id": ids[1], "price": 20.0}, {"id": ids[1], "price": 21.0}], 1, "id",
             "reported twice (also in row 0)"),
            ([{"id": ids[1], "price": -3.0}], 0, "price", "must be a positive number"),
            ([{"id": ids[1], "price": 20.0}, {"id": ids[0], "price": 21.0}], 1, "id",
             "already has a sale price"),
            ([{"id": ids[1], "price": 20.0, "sold_at": "2999-01-01"}], 0, "sold_at",
             "is in the future"),
            ([{"id": ids[1], "price": "a lot"}], 0, "price", "valid number"),
            ([{"id": ids[1], "price": 20.0, "agent": "x"}], 0, "agent", "Extra inputs"),
        ]
        for body, row_at, field, words in refused:
            answer = client.post("/v1/feedback", json=body, headers=AUTH)
            assert answer.status_code == 422, (body, answer.text)
            assert (answer.json()["row"], answer.json()["field"]) == (row_at, field), body
            assert words in answer.json()["message"], answer.json()
        twice = client.post("/v1/feedback", headers={**AUTH, "Content-Type": "application/json"},
                            content=f'{{"id": "{ids[1]}", "price": 20.0, "price": 2000.0}}')
        assert (twice.status_code, twice.json()["row"], twice.json()["field"]) == (
            422, 0, "price")
        many = client.post("/v1/feedback", headers=AUTH, json=[
            {"id": i, "price": 20.0 + n, "sold_at": "2026-12-01T10:00:00+01:00"}
            for n, i in enumerate(ids[1:])])
        assert many.json() == {"stored": 3}
    log = PredictionLog(url)
    got = [log.get(i) for i in ids]
    assert [g.actual for g in got] == [24.5, 20.0, 21.0, 22.0]  # nothing refused got in
    assert got[0].sold_at is not None and got[0].sold_at.isoformat() == "2026-11-30T00:00:00+00:00"
    assert got[1].sold_at is not None and got[1].sold_at.hour == 9
    log.close()


def test_feedback_is_off_without_an_admin_token(session_registry: Registry,
                                               boston_mlp: VersionInfo) -> None:
    with running(session_registry.root, boston_mlp.ref) as client:
        assert client.post("/v1/feedback", json={"id": "x", "price": 1.0}).status_code == 404


def importer(*args: str, url: str, registry: Path | None = None
             ) -> subprocess.CompletedProcess[str]:
    extra = ["--registry", str(registry)] if registry else []
    return subprocess.run([sys.executable, "-m", "estimator", "feedback", "import", *args,
                           "--url", url, *extra], capture_output=True, text=True,
                          check=False, env={**os.environ}, timeout=300)


def test_a_file_of_sales_is_imported_all_or_none(session_registry: Registry,
                                                 boston_gbm: VersionInfo,
                                                 tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    log = PredictionLog(url)
    served = [Prediction(id=f"{i:032x}", model="boston-gbm", version="v1", features={},
                         price=20.0) for i in range(3)]
    log.record(*served)
    sales = tmp_path / "sales.csv"
    pd.DataFrame({"id": [p.id for p in served], "price": [21.0, -1.0, 19.5],
                  "sold_at": ["2026-10-01", "2026-10-02", "2026-10-03"]}).to_csv(sales,
                                                                               index=False)
    bad = importer(str(sales), url=url)
    assert bad.returncode == 1
    assert bad.stderr.strip() == ("error: row 1, field 'price': a sale price must be a positive "
                                  "number, got -1.0")
    assert log.get(served[0].id).actual is None  # nothing stored
    pd.DataFrame({"id": [p.id for p in served], "price": [21.0, 22.0, 19.5]}).to_csv(
        sales, index=False)
    good = importer(str(sales), url=url)
    assert good.returncode == 0, good.stderr
    assert "stored 3 sale prices" in good.stdout
    assert [log.get(p.id).actual for p in served] == [21.0, 22.0, 19.5]
    houses = tmp_path / "houses.csv"
    frame = pd.read_csv(boston.csv_path(), header=None,
                        names=[*boston.COLUMNS, boston.TARGET]).head(5)
    frame.assign(sold_at="2026-09-15").to_csv(houses, index=False)
    unknown = importer(str(houses), url=url)
    assert unknown.returncode == 1 and "give --model" in unknown.stderr
    priced = importer(str(houses), "--model", boston_gbm.ref, url=url,
                      registry=session_registry.root)
    assert priced.returncode == 0, priced.stderr
    assert "stored 5 sale prices (5 houses priced with" in priced.stdout
    from datetime import UTC, datetime, timedelta

    logged = log.recent("boston-gbm", datetime.now(UTC) - timedelta(minutes=5))
    imported = [p for p in logged if p.actual is not None and p.version == boston_gbm.version]
    assert sorted(p.actual for p in imported) == sorted(frame[boston.TARGET].tolist())
    assert all(p.lower is not None and p.lower < p.price < p.upper for p in imported)
    log.close()


@pytest.mark.parametrize("content", ["id,price\nabc,20\n"])
def test_a_sale_for_an_unknown_estimate_is_one_line(tmp_path: Path, content: str) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    (tmp_path / "s.csv").write_text(content)
    run = importer(str(tmp_path / "s.csv"), url=url)
    assert run.returncode == 1
    assert run.stderr.strip() == ("error: row 0, field 'id': no estimate with id 'abc' is in "
                                  "the prediction log")
