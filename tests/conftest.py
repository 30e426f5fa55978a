"""Shared fixtures: real models, trained once per test session into a temporary registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from estimator import config
from estimator.registry import Registry, VersionInfo
from estimator.training import train

DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = DATA / "article"
CALIFORNIA = DATA / "california_housing.csv"


BLOCKED = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "pandas", "sklearn"):
            raise ImportError("blocked " + name)
sys.meta_path.insert(0, Block())
from estimator.predictor import load_predictor
p = load_predictor(sys.argv[1])
row = p.schema.example_row()
print(repr(float(p.predict_rows([row, row])[0])))
assert not {"torch", "pandas", "sklearn"} & set(sys.modules)
"""


def price_with_training_stack_blocked(version: Path) -> float:
    """The typical house's price from a fresh process where torch, pandas and sklearn fail
    to import: the proof that a loaded version needs only NumPy and XGBoost."""
    proc = subprocess.run([sys.executable, "-c", BLOCKED, str(version)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout)


@pytest.fixture(scope="session", autouse=True)
def prediction_log_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Servers started by tests (in this process or as commands) log into a scratch folder,
    not into the working folder."""
    scratch = tmp_path_factory.mktemp("prediction-log")
    os.environ.setdefault("ESTIMATOR_DATABASE_URL", f"sqlite:///{scratch / 'predictions.db'}")
    os.environ.setdefault("ESTIMATOR_SPOOL", str(scratch / "prediction-log.spool"))


@pytest.fixture(scope="session")
def session_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def boston_mlp(session_registry: Registry) -> VersionInfo:
    """The article's final architecture, trained briefly on Boston."""
    cfg = config.validate({"name": "boston-mlp", "model": {"family": "mlp", "layers": [64, 64, 32]},
                           "training": {"batch_size": 10, "epochs": 30}})
    result = train(cfg, registry=session_registry)
    assert result.version is not None
    return result.version


@pytest.fixture(scope="session")
def boston_gbm(session_registry: Registry) -> VersionInfo:
    cfg = config.validate({"name": "boston-gbm", "model": {"family": "gbm", "n_estimators": 300}})
    result = train(cfg, registry=session_registry)
    assert result.version is not None
    return result.version


@pytest.fixture(scope="session")
def california_gbm(session_registry: Registry) -> VersionInfo:
    """Gradient-boosted trees on the California CSV: a categorical column, missing values,
    and derived columns (rotated coordinates, ratios) that every prediction path computes."""
    path = CALIFORNIA
    cfg = config.validate({
        "name": "california-gbm",
        "data": {"path": str(path), "target": "median_house_value", "unit": "$"},
        "preprocessing": {"coordinates": True, "ratios": True},
        "model": {"family": "gbm", "n_estimators": 200, "learning_rate": 0.1},
    })
    result = train(cfg, registry=session_registry)
    assert result.version is not None
    return result.version


@pytest.fixture()
def database_url() -> str:
    """The real PostgreSQL server the tests may use, or a skip saying why there is none."""
    url = os.environ.get("ESTIMATOR_TEST_DATABASE_URL")
    if not url:
        pytest.skip("ESTIMATOR_TEST_DATABASE_URL is not set (scripts/test sets it)")
    return url
