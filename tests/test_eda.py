"""The EDA report: facts of the Boston and California data, the files, and the CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimator import config
from estimator.config import DataConfig
from estimator.data import boston
from estimator.data.sources import load
from estimator.errors import ConfigError, DataError
from estimator.reports.eda import EdaResult, eda, find_cap
from tests.conftest import CALIFORNIA

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "data:image/png;base64,"


@pytest.fixture(scope="module")
def boston_report(tmp_path_factory: pytest.TempPathFactory) -> EdaResult:
    return eda(DataConfig(source="boston"), out_dir=tmp_path_factory.mktemp("eda-boston"))


def boston_frame() -> pd.DataFrame:
    return pd.read_csv(boston.csv_path(), header=None, names=[*boston.COLUMNS, boston.TARGET])


def test_boston_summary_facts(boston_report: EdaResult) -> None:
    s = boston_report.summary
    assert (s["rows"], s["columns"], len(s["features"])) == (506, 14, 13)
    assert s["rows_dropped_missing_target"] == 0
    assert s["target"]["capped"]["value"] == 50.0
    assert s["target"]["capped"]["count"] == 16
    assert {t["feature"] for t in s["target_correlation"][:2]} == {"RM", "LSTAT"}
    r = {(p["a"], p["b"]): p["r"] for p in s["collinear_pairs"]}
    assert r[("RAD", "TAX")] == pytest.approx(0.91, abs=0.01)
    assert all(abs(v) >= s["collinear_threshold"] for v in r.values())
    assert s["missing"] == dict.fromkeys(boston.COLUMNS, 0)
    assert s["categorical"] == {}


def test_correlations_agree_with_pandas(boston_report: EdaResult) -> None:
    frame = boston_frame()
    expected = frame.corr()["MEDV"].drop("MEDV")
    got = {t["feature"]: t["r"] for t in boston_report.summary["target_correlation"]}
    assert got == pytest.approx(expected.to_dict(), abs=1e-12)
    ranked = [t["feature"] for t in boston_report.summary["target_correlation"]]
    assert ranked == list(expected.abs().sort_values(ascending=False).index)


def test_kinds_are_the_ones_training_sees(boston_report: EdaResult) -> None:
    schema = load(DataConfig(source="boston")).schema
    assert boston_report.summary["kinds"] == {f.name: f.kind for f in schema.features}
    assert boston_report.summary["kinds"]["CHAS"] == "binary"


def test_boston_files_are_self_contained(boston_report: EdaResult) -> None:
    html = boston_report.html.read_text(encoding="utf-8")
    assert html.count(IMAGE) == 13 + 3  # one per feature, target, heatmap, scatter
    assert not re.search(r"https?://|<script|<link|@import|url\(", html)
    assert json.loads(boston_report.json.read_text()) == boston_report.summary
    for name, text in boston.DESCRIPTIONS.items():
        if name != "B":
            assert text in html.replace("&#39;", "'"), name


def test_report_says_what_b_is(boston_report: EdaResult) -> None:
    html = boston_report.html.read_text(encoding="utf-8")
    assert "share of Black residents" in html
    assert "exclude: [B]}</code> trains without it" in html
    assert any("About B" in n for n in boston_report.summary["notes"])


def test_excluding_b_and_default_folder(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.validate({"name": "no-b", "data": {"source": "boston", "exclude": ["B"]}})
    result = eda(cfg)
    assert result.html == Path("reports/no-b/eda.html") and result.html.exists()
    assert "B" not in result.summary["kinds"] and len(result.summary["features"]) == 12
    assert result.summary["excluded"] == ["B"]
    assert "It is excluded here." in result.html.read_text(encoding="utf-8")


def test_missing_targets_are_dropped_and_counted(tmp_path: Path) -> None:
    frame = boston_frame()
    frame.loc[[3, 50, 400], "MEDV"] = np.nan
    frame.loc[[7, 8], "RM"] = np.nan
    frame["town"] = np.where(frame["CHAS"] == 1, "river", np.where(frame["RAD"] > 8, "hub",
                                                                   "other"))
    s = eda(frame, target="MEDV", out_dir=tmp_path).summary
    assert (s["rows"], s["rows_dropped_missing_target"]) == (503, 3)
    assert s["missing"]["RM"] == 2
    assert s["kinds"]["town"] == "categorical"
    levels = frame.dropna(subset=["MEDV"])["town"].value_counts()
    assert s["categorical"]["town"]["levels"] == levels.to_dict()
    assert s["categorical"]["town"]["cardinality"] == 3
    assert "town" not in s["correlation"]["columns"]
    assert any("dropped 3 rows" in n for n in s["notes"])


def test_find_cap_sees_a_pile_at_the_maximum_only() -> None:
    rng = np.random.default_rng(1)
    smooth = rng.normal(100, 10, 5000)
    capped = np.minimum(smooth, 110.0)
    assert find_cap(smooth) is None
    cap = find_cap(capped)
    assert cap is not None and cap["value"] == 110.0
    assert cap["count"] == int((smooth >= 110.0).sum())
    levels = rng.integers(1, 7, 3000).astype(float)  # a die: the maximum is as common as the rest
    assert find_cap(levels) is None
    assert find_cap(np.array([1.0, 2.0, np.nan] + [3.0] * 12)) is not None
    assert find_cap(np.full(50, 4.0)) is None


def test_library_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Target column 'price' is not in the data"):
        eda(boston_frame(), target="price", out_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        eda(tmp_path / "nope.csv", target="price", out_dir=tmp_path)
    with pytest.raises(ConfigError, match="needs `target`"):
        eda(boston_frame(), out_dir=tmp_path)


def test_california_report(tmp_path: Path) -> None:
    path = CALIFORNIA
    result = eda(path, target="median_house_value", out_dir=tmp_path)
    s = result.summary
    raw = pd.read_csv(path)
    assert result.html.stat().st_size < 5_000_000
    assert s["rows"] == len(raw) == 20640
    assert s["missing"]["total_bedrooms"] == raw["total_bedrooms"].isna().sum() == 207
    assert s["categorical"]["ocean_proximity"]["cardinality"] == 5
    assert s["kinds"]["ocean_proximity"] == "categorical"
    price = raw["median_house_value"]
    assert s["target"]["capped"] == {"value": 500001.0, "count": int((price == 500001).sum()),
                                     "share": pytest.approx((price == 500001).mean())}
    assert s["target_correlation"][0]["feature"] == "median_income"
    assert ("longitude", "latitude") in {(p["a"], p["b"]) for p in s["collinear_pairs"]}
    assert result.html.read_text(encoding="utf-8").count(IMAGE) == 9 + 3


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "estimator", "eda", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_writes_the_report(tmp_path: Path) -> None:
    proc = cli("--conf", str(ROOT / "configs" / "boston.yaml"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["name"] == "boston-price" and out["rows"] == 506
    html = tmp_path / out["html"]
    assert html == tmp_path / "reports" / "boston-price" / "eda.html" and html.exists()
    assert (tmp_path / out["json"]).exists()


def test_cli_reads_a_file(tmp_path: Path) -> None:
    csv = tmp_path / "houses.csv"
    boston_frame().to_csv(csv, index=False)
    proc = cli("--data", str(csv), "--target", "MEDV", "--out", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "506 rows, 13 features" in proc.stdout
    assert "MEDV is capped: 16 rows at 50" in proc.stdout
    assert (tmp_path / "out" / "eda.html").exists()


@pytest.mark.parametrize(("args", "code", "message"), [
    ((), 2, "error: give exactly one of --conf FILE or --data FILE --target COLUMN"),
    (("--conf", "c.yaml", "--data", "d.csv"), 2,
     "error: give exactly one of --conf FILE or --data FILE --target COLUMN"),
    (("--data", "d.csv"), 2, "error: --data needs --target, the column to predict"),
    (("--data", "missing.csv", "--target", "price"), 1,
     "error: Data file 'missing.csv' does not exist."),
    (("--conf", "missing.yaml"), 2, "error: Config file 'missing.yaml' does not exist."),
])
def test_cli_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], code: int,
                                 message: str) -> None:
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == code
    assert proc.stderr.splitlines() == [message]
    assert not (tmp_path / "reports").exists()


def test_real_data_traps_are_flagged(tmp_path: Path) -> None:
    """An agency's file as it comes: an id, year columns, a garage built in 2207, a far-out
    lot size and a category with gaps."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "Order": np.arange(1, n + 1),
        "living_area": rng.normal(120, 30, n).round(1),
        "lot_area": rng.normal(600, 80, n).round(),
        "YearBuilt": rng.integers(1900, 2008, n),
        "YrSold": rng.integers(2006, 2011, n),
        "GarageYrBlt": rng.integers(1950, 2010, n).astype(float),
        "style": rng.choice(["detached", "terraced", "flat"], n).astype(object),
        "price": rng.normal(200_000, 40_000, n).round(-2),
    })
    frame.loc[7, "GarageYrBlt"] = 2207
    frame.loc[9, "lot_area"] = 250_000
    frame.loc[:29, "style"] = None
    result = eda(frame, target="price", out_dir=tmp_path)
    s = result.summary
    assert s["identifiers"] == [{"name": "Order", "why": "unique in every row and named like "
                                                        "an id"}]
    by_name = {f["name"]: f for f in s["features"]}
    assert {n for n, f in by_name.items() if f["year"]} == {"YearBuilt", "YrSold", "GarageYrBlt"}
    garage = by_name["GarageYrBlt"]["suspicious"]
    assert garage["count"] == 1 and garage["examples"] == [2207.0]
    assert "after 2010" in garage["rule"]
    assert by_name["YrSold"]["suspicious"] is None
    assert by_name["lot_area"]["suspicious"]["examples"][0] == 250_000
    assert s["categorical"]["style"]["missing"] == 30
    html = result.html.read_text()
    assert '<a href="#identifiers">' in html and 'id="identifiers"' in html
    assert "exclude: [Order]" in html
    assert "<td>2,207</td>" not in html and "2207" in html  # years without separators
    assert "<em>(missing)</em></td><td>30</td>" in html
