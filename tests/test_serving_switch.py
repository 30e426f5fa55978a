"""Versions switch without a restart: by the watcher, by the admin route, never to a bad one."""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from estimator import config
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from estimator.training import train
from tests.serving_support import TOKEN, running, wait_for

pytestmark = pytest.mark.slow
NAME = "switch"


def linear(registry: Registry, alpha: float, **data: Any) -> VersionInfo:
    """A real, quick Boston model; different alphas give different prices."""
    cfg = config.validate({"name": NAME, "data": {"source": "boston", **data},
                           "model": {"family": "linear", "alpha": alpha}})
    result = train(cfg, registry=registry)
    assert result.version is not None
    return result.version


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, VersionInfo,
                                                                 VersionInfo]:
    registry = Registry(tmp_path_factory.mktemp("switch-registry"))
    first, second = linear(registry, 0.1), linear(registry, 500.0)
    return registry, first, second


@pytest.fixture()
def registry(versions: tuple[Registry, VersionInfo, VersionInfo], tmp_path: Path) -> Registry:
    """A private copy, so that each test moves its own aliases; production is the first."""
    source = versions[0]
    copy = Registry(tmp_path / "models")
    shutil.copytree(source.root, copy.root)
    copy.promote(f"{NAME}@{versions[1].version}")
    return copy


def test_promote_under_load_switches_with_no_failed_request(
        registry: Registry, versions: tuple[Registry, VersionInfo, VersionInfo]) -> None:
    _, first, second = versions
    row = Predictor.load(first.path).schema.example_row()
    price = {v.version: float(Predictor.load(v.path).predict_rows([row])[0])
             for v in (first, second)}
    assert price[first.version] != pytest.approx(price[second.version])
    answers: list[tuple[int, str, float]] = []
    stop = threading.Event()

    with running(registry.root, NAME, reload_interval=0.1) as client:
        def hammer(route: str) -> None:
            with httpx.Client(base_url=client.base_url, timeout=30) as own:
                while not stop.is_set():
                    if route == "v1":
                        r = own.post("/v1/services/predict", json=[row])
                        got = r.json()["predictions"][0]["Prediction price 0"] if \
                            r.status_code == 200 else float("nan")
                    else:
                        r = own.post("/v2/predict", json={"instances": [row]})
                        got = r.json()["predictions"][0]["price"] if r.status_code == 200 \
                            else float("nan")
                    answers.append((r.status_code, r.headers.get("x-model-version", ""), got))

        threads = [threading.Thread(target=hammer, args=(route,))
                   for route in ("v1", "v2", "v1", "v2")]
        for t in threads:
            t.start()
        wait_for(lambda: len(answers) > 50)
        registry.promote(f"{NAME}@{second.version}")
        wait_for(lambda: client.get("/health").json()["model"]["version"] == second.version)
        wait_for(lambda: sum(1 for a in answers if a[1] == second.version) > 50)
        registry.rollback(NAME)
        wait_for(lambda: client.get("/health").json()["model"]["version"] == first.version)
        stop.set()
        for t in threads:
            t.join()

    assert [a for a in answers if a[0] != 200] == []
    assert {a[1] for a in answers} == {first.version, second.version}
    for _, version, got in answers:  # each answer was computed by the version it names
        assert got == pytest.approx(price[version], rel=1e-9)


def test_admin_reload_switches_at_once_with_the_token(
        registry: Registry, versions: tuple[Registry, VersionInfo, VersionInfo]) -> None:
    _, first, second = versions
    with running(registry.root, NAME, admin_token=TOKEN) as client:  # watcher off
        registry.promote(f"{NAME}@{second.version}")
        refused = client.post("/v1/admin/reload")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in refused.json()["message"]
        wrong = client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.get("/health").json()["model"]["version"] == first.version
        done = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert done.status_code == 200
        assert done.json() == {"switched": True,
                               "model": {"name": NAME, "version": second.version},
                               "previous": {"name": NAME, "version": first.version}}
        answer = client.post("/v2/predict", json={"instances": [
            Predictor.load(first.path).schema.example_row()]})
        assert answer.json()["model"]["version"] == second.version
        again = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert again.json()["switched"] is False


def test_a_version_that_cannot_load_is_refused_and_the_old_one_kept(
        registry: Registry, versions: tuple[Registry, VersionInfo, VersionInfo],
        caplog: pytest.LogCaptureFixture) -> None:
    _, first, second = versions

    def copy_of_second(folder: Path) -> dict[str, Any]:
        for item in second.path.iterdir():
            if item.name != "version.json":
                (shutil.copytree if item.is_dir() else shutil.copy2)(item, folder / item.name)
        return {k: v for k, v in second.meta.items() if k not in ("name", "version")}

    broken = registry.create_version(NAME, copy_of_second)
    weights = next((broken.path / "model").iterdir())
    weights.write_text(weights.read_text().replace("1", "2"))
    caplog.set_level(logging.ERROR, logger="estimator.serving")
    with running(registry.root, NAME, reload_interval=0.05, admin_token=TOKEN) as client:
        registry.promote(f"{NAME}@{broken.version}")
        wait_for(lambda: any("corrupt" in r.getMessage() for r in caplog.records))
        reload = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reload.status_code == 409
        assert reload.json()["error"] == "model_load_failed"
        assert "does not match its recorded checksum" in reload.json()["message"]
        assert client.get("/ready").json()["model"]["version"] == first.version
        answer = client.post("/v1/services/predict", json=[
            Predictor.load(first.path).schema.example_row()])
        assert answer.status_code == 200
        assert answer.headers["x-model-version"] == first.version
    refusals = [r for r in caplog.records if "corrupt" in r.getMessage()]
    assert len(refusals) == 1  # one clear line, not one per look
    assert f"still serving {NAME}@{first.version}" in refusals[0].getMessage()


def test_a_version_with_other_features_is_refused(
        registry: Registry, versions: tuple[Registry, VersionInfo, VersionInfo],
        caplog: pytest.LogCaptureFixture) -> None:
    _, first, _ = versions
    without_b = linear(registry, 1.0, exclude=["B"])
    caplog.set_level(logging.ERROR, logger="estimator.serving")
    with running(registry.root, NAME, admin_token=TOKEN) as client:
        registry.promote(f"{NAME}@{without_b.version}")
        reload = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert reload.status_code == 409
        assert "takes other features than the served version" in reload.json()["message"]
        assert client.get("/health").json()["model"]["version"] == first.version
    assert any("restart the service" in r.getMessage() for r in caplog.records)


def test_a_server_without_a_model_is_alive_but_not_ready(tmp_path: Path,
                                                         versions: tuple[Registry, VersionInfo,
                                                                         VersionInfo]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with running(empty, reload_interval=0.05) as client:
        health = client.get("/health")
        assert health.status_code == 200
        assert health.json()["model"] is None
        assert "holds no model" in health.json()["message"]
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["error"] == "not_ready"
        predict = client.post("/v1/services/predict", json=[{}])
        assert predict.status_code == 503
        shutil.copytree(versions[0].root / NAME, empty / NAME)  # a model arrives
        wait_for(lambda: client.get("/ready").status_code == 200)
        assert client.get("/ready").json()["model"]["name"] == NAME
