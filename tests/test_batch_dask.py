"""`estimator predict --engine dask`: the plain path's verdicts and prices, on a real cluster.

One `distributed.LocalCluster` of two worker processes serves the whole module; every run
is compared with `predict_file`, the plain engine, on the same rows.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator.batch import predict_file
from estimator.errors import DataError
from estimator.predictor import Predictor
from estimator.registry import Registry, VersionInfo
from tests.conftest import CALIFORNIA

distributed = pytest.importorskip("distributed", reason="Dask is not installed (the dask extra)")
from estimator.integrations.dask import predict_dask  # noqa: E402

TARGET = "median_house_value"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def houses() -> pd.DataFrame:
    """California rows as a file holds them: an id column, text categories, gaps, and faults
    spread over several partitions."""
    frame = pd.read_csv(CALIFORNIA).drop(columns=[TARGET]).iloc[:3000].astype(object)
    frame.insert(0, "house_id", [f"{i:06d}" for i in range(len(frame))])
    frame.loc[5, "total_rooms"] = "many"            # a word in a number column
    frame.loc[1700, "ocean_proximity"] = None        # required: no gap in training
    frame.loc[2999, "housing_median_age"] = 12.5     # not a whole number
    return frame


def errors_of(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_csv_scored_on_the_cluster_matches_the_plain_engine(
        scheduler: str, california_gbm: VersionInfo, houses: pd.DataFrame,
        tmp_path: Path) -> None:
    src = tmp_path / "houses.csv"
    houses.to_csv(src, index=False)
    plain = predict_file(Predictor.load(california_gbm.path), src, tmp_path / "plain.csv")
    summary = predict_dask(california_gbm.path, src, tmp_path / "out", scheduler=scheduler,
                           blocksize=60_000, chunk_size=250)
    parts = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(parts) > 2 and all(p.startswith("part-") for p in parts)  # several partitions
    assert (summary.scored, summary.refused) == (plain.scored, plain.refused) == (2997, 3)
    assert errors_of(tmp_path / "out.errors.csv") == errors_of(tmp_path / "plain.errors.csv")
    assert [e["row"] for e in errors_of(tmp_path / "out.errors.csv")] == ["5", "1700", "2999"]
    got = pd.read_parquet(tmp_path / "out")
    expected = pd.read_csv(tmp_path / "plain.csv")
    # Input order, and ids as written: CSV cells stay text unless they are numeric features.
    assert list(got["house_id"]) == list(houses.drop(index=[5, 1700, 2999])["house_id"])
    for column in (f"predicted_{TARGET}", f"lower_{TARGET}", f"upper_{TARGET}"):
        np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(),
                                   rtol=1e-12)
    assert pd.api.types.is_float_dtype(got["total_rooms"])  # numbers again, not text
    assert not list(tmp_path.glob(".*partial*"))


def test_a_glob_of_parquet_files_is_one_table(scheduler: str, california_gbm: VersionInfo,
                                              houses: pd.DataFrame, tmp_path: Path) -> None:
    clean = houses.drop(index=[5, 1700, 2999]).infer_objects()
    clean["total_rooms"] = clean["total_rooms"].astype(float)
    clean["housing_median_age"] = clean["housing_median_age"].astype(float)
    (tmp_path / "in").mkdir()
    for i, start in enumerate(range(0, len(clean), 1000)):
        clean.iloc[start:start + 1000].to_parquet(tmp_path / "in" / f"houses-{i}.parquet")
    summary = predict_dask(california_gbm.path, str(tmp_path / "in" / "*.parquet"),
                           tmp_path / "out", scheduler=scheduler)
    assert (summary.scored, summary.refused, summary.errors) == (len(clean), 0, None)
    got = pd.read_parquet(tmp_path / "out")
    assert list(got["house_id"]) == list(clean["house_id"])
    features = clean.drop(columns=["house_id"]).astype(object)
    expected = Predictor.load(california_gbm.path).predict_rows(
        features.where(features.notna(), None).to_dict("records"))
    np.testing.assert_allclose(got[f"predicted_{TARGET}"].to_numpy(), expected, rtol=1e-12)
    assert not (tmp_path / "out.errors.csv").exists()


def test_a_second_run_replaces_the_first_and_its_refusals(
        scheduler: str, california_gbm: VersionInfo, houses: pd.DataFrame,
        tmp_path: Path) -> None:
    houses.to_csv(tmp_path / "day1.csv", index=False)
    predict_dask(california_gbm.path, tmp_path / "day1.csv", tmp_path / "out",
                 scheduler=scheduler, blocksize=60_000)
    assert (tmp_path / "out.errors.csv").exists()
    houses.drop(index=[5, 1700, 2999]).iloc[:100].to_csv(tmp_path / "day2.csv", index=False)
    summary = predict_dask(california_gbm.path, tmp_path / "day2.csv", tmp_path / "out",
                           scheduler=scheduler)
    assert (summary.scored, summary.errors) == (100, None)
    assert len(pd.read_parquet(tmp_path / "out")) == 100
    assert not (tmp_path / "out.errors.csv").exists()


def test_missing_columns_stop_before_any_work(scheduler: str, california_gbm: VersionInfo,
                                              houses: pd.DataFrame, tmp_path: Path) -> None:
    houses.to_csv(tmp_path / "a.csv", index=False)
    houses.drop(columns=["median_income"]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DataError, match=r"Input file '.*b.csv' lacks feature columns "
                                        r"\['median_income'\]"):
        predict_dask(california_gbm.path, tmp_path / "*.csv", tmp_path / "out",
                     scheduler=scheduler)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


def test_inputs_and_outputs_that_cannot_be_used(california_gbm: VersionInfo,
                                                tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"matches no CSV or Parquet file"):
        predict_dask(california_gbm.path, str(tmp_path / "none-*.parquet"), tmp_path / "out")
    with pytest.raises(DataError, match=r"names a CSV file; the Dask engine writes a folder"):
        predict_dask(california_gbm.path, CALIFORNIA, tmp_path / "out.csv")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    pd.read_csv(CALIFORNIA).iloc[:10].to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match=r"holds files that are not estimates \(notes.txt\)"):
        predict_dask(california_gbm.path, tmp_path / "in.csv", tmp_path / "mine",
                     scheduler="tcp://127.0.0.1:1")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def estimator(*args: str, registry: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTIMATOR_REGISTRY": str(registry)}
    return subprocess.run([sys.executable, "-m", "estimator", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.mark.slow
def test_cli_starts_a_local_cluster_or_uses_a_scheduler(
        scheduler: str, session_registry: Registry, california_gbm: VersionInfo,
        houses: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    houses.to_csv(tmp_path / "in" / "houses.csv", index=False)
    common = ("predict", "--model", california_gbm.ref, "--input", str(tmp_path / "in/*.csv"),
              "--engine", "dask", "--json")
    own = estimator(*common, "--workers", "2", "--output", str(tmp_path / "own"),
                    registry=session_registry.root)
    assert own.returncode == 0, own.stderr
    shared = estimator(*common, "--scheduler", scheduler, "--output", str(tmp_path / "shared"),
                       registry=session_registry.root)
    assert shared.returncode == 0, shared.stderr
    for done, folder in ((own, "own"), (shared, "shared")):
        answer = json.loads(done.stdout)
        assert (answer["model"], answer["scored"], answer["refused"]) == \
            (california_gbm.ref, 2997, 3)
        assert answer["errors"] == str(tmp_path / f"{folder}.errors.csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "own"),
                                  pd.read_parquet(tmp_path / "shared"))


def test_cli_engine_options_are_checked(session_registry: Registry,
                                        california_gbm: VersionInfo, tmp_path: Path) -> None:
    done = estimator("predict", "--model", california_gbm.ref, "--input", "x.csv",
                     "--output", str(tmp_path / "o.csv"), "--scheduler", "tcp://h:8786",
                     registry=session_registry.root)
    assert (done.returncode, done.stderr) == (2, "error: --scheduler is for --engine dask.\n")
