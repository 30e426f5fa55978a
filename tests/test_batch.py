"""Batch estimates: chunks, refused rows in an errors file, CSV and Parquet."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator.batch import predict_file
from estimator.data import boston
from estimator.errors import DataError
from estimator.predictor import Predictor
from estimator.registry import VersionInfo


def boston_frame() -> pd.DataFrame:
    return pd.read_csv(boston.csv_path(), header=None, names=[*boston.COLUMNS, boston.TARGET])


def test_scores_in_chunks_and_refuses_bad_rows(boston_mlp: VersionInfo, tmp_path: Path) -> None:
    frame = boston_frame().drop(columns=["MEDV"])
    frame.insert(0, "house_id", range(len(frame)))
    frame["RAD"] = frame["RAD"].astype(object)
    frame.loc[7, "RAD"] = "four"
    frame.loc[300, "CHAS"] = 3
    frame.loc[12, "RM"] = np.nan  # RM had no gap in training: required, as in the API
    src = tmp_path / "houses.csv"
    frame.to_csv(src, index=False)
    predictor = Predictor.load(boston_mlp.path)
    summary = predict_file(predictor, src, tmp_path / "out.csv", chunk_size=100)
    assert (summary.scored, summary.refused) == (503, 3)
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 503 and "predicted_MEDV" in out.columns
    assert not {7, 12, 300} & set(out["house_id"])
    clean = frame.drop(index=[7, 12, 300]).drop(columns=["house_id"])
    clean["RAD"] = clean["RAD"].astype(float)
    expected = predictor.predict_rows(clean.to_dict("records"))
    got = out["predicted_MEDV"].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with (tmp_path / "out.errors.csv").open() as fh:
        errors = list(csv.DictReader(fh))
    assert [(e["row"], e["line"], e["field"]) for e in errors] == [
        ("7", "9", "RAD"), ("12", "14", "RM"), ("300", "302", "CHAS")]
    assert [e["reason"] for e in errors] == ['must be a whole number, got "four"',
                                             "a value is required, got null",
                                             "must be 0 or 1, got 3.0"]


def test_parquet_in_and_out(boston_gbm: VersionInfo, tmp_path: Path) -> None:
    frame = boston_frame()
    frame.to_parquet(tmp_path / "in.parquet")
    summary = predict_file(Predictor.load(boston_gbm.path), tmp_path / "in.parquet",
                           tmp_path / "out.parquet", chunk_size=128)
    assert (summary.scored, summary.refused, summary.errors) == (506, 0, None)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 506 and out["predicted_MEDV"].notna().all()
    assert not (tmp_path / "out.errors.csv").exists()


def test_missing_columns_stop_the_run_and_leave_nothing(boston_mlp: VersionInfo,
                                                        tmp_path: Path) -> None:
    boston_frame().drop(columns=["RM", "TAX"]).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(DataError, match=r"lacks feature columns \['RM', 'TAX'\]"):
        predict_file(Predictor.load(boston_mlp.path), tmp_path / "in.csv",
                     tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
