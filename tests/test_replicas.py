"""Replicas of the service writing to one PostgreSQL prediction log lose and double nothing.

Two real `estimator serve` processes (as two pods run them) share one database, a schema of
its own on the test server; estimates sent to both, concurrently, must each be in the log
exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from estimator.monitoring import upgrade
from estimator.predictor import Predictor
from estimator.registry import VersionInfo
from tests.serving_support import wait_for
from tests.test_serving_process import free_port, wait_ready

pytestmark = pytest.mark.slow
REQUESTS = 80  # per replica; each request carries 1 to 3 houses


@pytest.fixture()
def shared_log(database_url: str) -> Iterator[str]:
    """A URL of an empty, migrated schema on the PostgreSQL server, dropped afterwards."""
    server = sa.make_url(database_url)
    schema = f"test_replicas_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = server.update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def logged_ids(url: str) -> list[str]:
    engine = sa.create_engine(sa.make_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.text("SELECT id FROM predictions")).scalars())
    finally:
        engine.dispose()


def test_two_replicas_log_every_estimate_exactly_once(
        shared_log: str, california_gbm: VersionInfo, tmp_path: Path) -> None:
    row = Predictor.load(california_gbm.path).schema.example_row()
    replicas: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for i in range(2):
            port = free_port()
            env = {**os.environ, "ESTIMATOR_DATABASE_URL": shared_log,
                   "ESTIMATOR_SPOOL": str(tmp_path / f"replica-{i}.spool"),
                   "MODEL_FOLDER": str(california_gbm.path), "ESTIMATOR_MODEL": "",
                   "OMP_WAIT_POLICY": "PASSIVE"}
            log = (tmp_path / f"replica-{i}.log").open("wb")
            process = subprocess.Popen([sys.executable, "-m", "estimator", "serve", "--host",
                                        "127.0.0.1", "--port", str(port)], env=env,
                                       stdout=log, stderr=subprocess.STDOUT)
            replicas.append((f"http://127.0.0.1:{port}", process))
        for base, process in replicas:
            wait_ready(base, process)  # type: ignore[arg-type]  # only polls it

        def send(k: int) -> list[str]:
            """Request k: to replica k % 2, 1 to 3 houses, on /v2 (ids answered) or /v1."""
            base = replicas[k % 2][0]
            houses = [row] * (1 + k % 3)
            if k % 4 < 2:
                answer = httpx.post(f"{base}/v2/predict", json={"instances": houses},
                                    timeout=30)
                assert answer.status_code == 200, answer.text
                return [p["id"] for p in answer.json()["predictions"]]
            answer = httpx.post(f"{base}/v1/services/predict", json=houses, timeout=30)
            assert answer.status_code == 200, answer.text
            return [""] * len(houses)  # the article's shape answers no id; still logged

        with ThreadPoolExecutor(max_workers=8) as pool:
            answered = [ids for ids in pool.map(send, range(2 * REQUESTS))]
        sent = sum(len(ids) for ids in answered)
        returned = {i for ids in answered for i in ids if i}
        wait_for(lambda: len(logged_ids(shared_log)) >= sent, timeout=30)
    finally:
        for _, process in replicas:
            process.send_signal(signal.SIGTERM)  # a graceful stop writes what is queued
        for _, process in replicas:
            process.wait(timeout=30)
    ids = logged_ids(shared_log)
    assert len(ids) == sent  # nothing lost, nothing doubled
    assert len(set(ids)) == sent
    assert returned <= set(ids)  # the ids the clients were given are the ones stored
    for i in range(2):
        assert not (tmp_path / f"replica-{i}.spool").exists()  # nothing left waiting
