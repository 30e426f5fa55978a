"""Every estimate is logged, off the request path, and an outage of the database loses none."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from benchmarks.proxy import Proxy
from estimator.monitoring import PredictionLog, upgrade
from estimator.monitoring.store import Prediction, predictions
from estimator.monitoring.writer import LogWriter
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from tests.serving_support import running, wait_for


def stored(url: str, ids: list[str]) -> dict[str, int]:
    """How many times each id is in the log's table."""
    engine = sa.create_engine(PredictionLog(url).url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(predictions.c.id, sa.func.count())
                                      .where(predictions.c.id.in_(ids))
                                      .group_by(predictions.c.id)).all()
    finally:
        engine.dispose()
    return {row[0]: row[1] for row in rows}


def test_every_estimate_is_logged_as_sent(session_registry: Registry,
                                          california_gbm: VersionInfo, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    row = Predictor.load(california_gbm.path).schema.example_row()
    gap = {k: v for k, v in row.items() if k != "total_bedrooms"}
    since = datetime.now(UTC)
    with running(session_registry.root, california_gbm.ref, database_url=url,
                 spool=tmp_path / "spool") as client:
        v2 = client.post("/v2/predict", json={"instances": [row, gap]}).json()["predictions"]
        v1 = client.post("/v1/services/predict", json=[row]).json()["predictions"]
        log = PredictionLog(url)
        wait_for(lambda: len(log.recent(california_gbm.name, since)) == 3)
    logged = {p.id: p for p in log.recent(california_gbm.name, since)}
    for answer, house in zip(v2, (row, gap), strict=True):
        entry = logged[answer["id"]]
        assert entry.features == house and "total_bedrooms" not in logged[v2[1]["id"]].features
        assert (entry.price, entry.lower, entry.upper) == (answer["price"], answer["lower"],
                                                           answer["upper"])
        assert entry.version == california_gbm.version
    [article] = [p for i, p in logged.items() if i not in {a["id"] for a in v2}]
    assert article.price == v1[0]["Prediction price 0"] and article.lower is None
    log.close()


def test_logging_can_be_turned_off(session_registry: Registry, boston_mlp: VersionInfo,
                                   tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    with running(session_registry.root, boston_mlp.ref, database_url=url,
                 log_predictions=False) as client:
        row = Predictor.load(boston_mlp.path).schema.example_row()
        assert client.post("/v2/predict", json={"instances": [row]}).status_code == 200
    assert not (tmp_path / "log.db").exists()


@pytest.fixture()
def postgres(database_url: str) -> Iterator[str]:
    upgrade(database_url)
    yield database_url


def test_an_outage_loses_no_estimate_and_fails_no_request(
        session_registry: Registry, boston_mlp: VersionInfo, postgres: str,
        tmp_path: Path) -> None:
    target = sa.engine.make_url(postgres)
    proxy = Proxy((target.host or "127.0.0.1", target.port or 5432))
    proxy.start()
    through = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    spool = tmp_path / "spool"
    row = Predictor.load(boston_mlp.path).schema.example_row()
    ids: list[str] = []

    def send(client: httpx.Client, n: int) -> None:
        for i in range(n):
            answer = client.post("/v2/predict", json={"instances": [row | {"RM": 5 + i / n}]})
            assert answer.status_code == 200, answer.text
            ids.append(answer.json()["predictions"][0]["id"])

    try:
        with running(session_registry.root, boston_mlp.ref, database_url=through,
                     spool=spool) as client:
            writer: LogWriter = client.app_state.writer  # type: ignore[attr-defined]
            send(client, 20)
            wait_for(lambda: writer.backlog == 0)
            proxy.stop()  # the database goes away
            send(client, 40)
            wait_for(spool.exists, timeout=20)
            assert writer.backlog > 0
            send(client, 10)
            proxy.start()  # and comes back
            send(client, 10)
            wait_for(lambda: writer.backlog == 0, timeout=60)
            assert writer.spooled > 0
    finally:
        proxy.stop()
    counts = stored(postgres, ids)
    assert len(ids) == 80 and counts == dict.fromkeys(ids, 1)


def test_a_restart_replays_what_the_spool_holds(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    refused = LogWriter("postgresql+psycopg://postgres@127.0.0.1:1/test", spool, retry=60)
    entries = [Prediction(id=f"{i:032x}", model="m", version="v1", features={"a": i},
                          price=100.0 + i, lower=90.0, upper=110.0) for i in range(25)]
    refused.start()
    refused.put(entries[:10])
    refused.put(entries[10:])
    refused.stop()
    assert len(spool.read_text().splitlines()) == 25
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    PredictionLog(url).record(entries[0])  # stored once already, before a crash
    back = LogWriter(url, spool)
    back.start()
    wait_for(lambda: not spool.exists())
    back.stop()
    assert stored(url, [e.id for e in entries]) == {e.id: 1 for e in entries}
    got = PredictionLog(url).get(entries[7].id)
    assert (got.features, got.price, got.lower) == ({"a": 7}, 107.0, 90.0)
