"""Scaling out: `estimator tune` processes sharing one study, and a killed worker's trial retried.

One contract, run against every storage: the local SQLite file, Optuna's
journal file and the real PostgreSQL server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from estimator.tuning import open_storage

GBM = """name: shared-gbm
model: {family: gbm}
tune:
  cv: 3
  heartbeat: 1
  pruning: false
  space:
    model.n_estimators: {low: 20, high: 60}
"""

SLOW_MLP = """name: slow-mlp
model: {family: mlp, layers: [32]}
training: {batch_size: 8, epochs: 5000}
tune:
  cv: 3
  heartbeat: 1
  pruning: false
  replace_space: true
  space:
    model.optimizer.lr: {low: 0.0001, high: 0.01, log: true}
"""


def start(*args: str, registry: Path) -> subprocess.Popen[str]:
    # Passive OpenMP threads: two workers on a busy CI machine should not spin against each other.
    env = {**os.environ, "ESTIMATOR_REGISTRY": str(registry), "COLUMNS": "200",
           "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.Popen([sys.executable, "-m", "estimator", "tune", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture(params=["sqlite", "journal", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(storage URL, unique study name); a PostgreSQL study is deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'studies.db'}", name
    elif request.param == "journal":
        yield str(tmp_path / "studies.log"), name
    else:
        url = request.getfixturevalue("database_url")
        try:
            yield url, name
        finally:
            store = open_storage(url)
            if name in {s.study_name for s in optuna.get_all_study_summaries(store)}:
                optuna.delete_study(study_name=name, storage=store)


def test_two_processes_share_one_study(tmp_path: Path, storage: tuple[str, str]) -> None:
    url, name = storage
    conf = tmp_path / "gbm.yaml"
    conf.write_text(GBM)
    args = ("--conf", str(conf), "--trials", "3", "--storage", url, "--study", name, "--json")
    workers = [start(*args, "--no-register", registry=tmp_path / "models"),
               start(*args, registry=tmp_path / "models")]
    outputs = [w.communicate(timeout=300) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    results = [json.loads(out) for out, _ in outputs]
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    # Each worker saw the other's trials: the last to finish counts all six.
    assert max(r["trials"]["complete"] for r in results) == 6
    assert results[1]["model"].startswith("shared-gbm@v1-")
    assert results[1]["storage"] == results[0]["storage"]
    assert "@" not in results[1]["storage"].partition("://")[2]


def _wait_for_running(url: str, name: str, worker: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[1]
        try:
            study = optuna.load_study(study_name=name, storage=open_storage(url))
        except KeyError:  # not created yet
            study = None
        if study is not None:
            running = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            if running:
                return running[0].number
        time.sleep(0.3)
    raise AssertionError("the worker never started a trial")


def test_killed_workers_trial_is_failed_and_retried(tmp_path: Path) -> None:
    url, name = f"sqlite:///{tmp_path / 'studies.db'}", "killed"
    conf = tmp_path / "mlp.yaml"
    conf.write_text(SLOW_MLP)
    common = ("--conf", str(conf), "--storage", url, "--study", name, "--quiet")
    worker = start(*common, "--trials", "1", registry=tmp_path / "models")
    try:
        killed = _wait_for_running(url, name, worker)
        params = optuna.load_study(study_name=name, storage=url).trials[killed].params
    finally:
        worker.kill()
        worker.communicate()
    time.sleep(3)  # the heartbeat (1 s) goes stale after the grace period (2 s)
    # The same study, run again with a short training so that the retried trial finishes.
    again = start(*common, "--trials", "1", "--json", "--set", "training.epochs=2",
                  registry=tmp_path / "models")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    study = optuna.load_study(study_name=name, storage=url)
    states = {t.number: t.state for t in study.trials}
    assert states[killed] == optuna.trial.TrialState.FAIL
    retry = [t for t in study.trials if t.number != killed]
    assert len(retry) == 1 and retry[0].state == optuna.trial.TrialState.COMPLETE
    assert retry[0].params == params
    with optuna_quiet():
        assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(
            retry[0]) == killed
    assert json.loads(out)["best_trial"] == retry[0].number


def optuna_quiet() -> object:
    from estimator.tuning.storage import quiet_experimental

    return quiet_experimental()
