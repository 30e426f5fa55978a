"""The command line, run as a user runs it: a subprocess, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES


def run(*args: str, registry: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESTIMATOR_REGISTRY": str(registry), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "estimator", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, check=False, timeout=300)


def test_train_list_promote_rollback_delete(tmp_path: Path) -> None:
    reg = tmp_path / "models"
    conf = EXAMPLES / "seed_config_final.json"
    first = run("train", "--conf", str(conf), "--json", registry=reg)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["model"].startswith("house_pricing_model@v1-")
    assert result["metrics"]["test"]["mae"] > 0
    second = run("train", "--conf", str(conf), "--set", "training.epochs=2", "--quiet",
                 registry=reg)
    assert second.returncode == 0 and "registered house_pricing_model@v2-" in second.stdout
    assert "MAE" in second.stdout and "epoch" not in second.stderr

    listing = json.loads(run("models", "list", "--json", registry=reg).stdout)
    assert [r["aliases"] for r in listing] == [[], ["latest"]]
    assert run("models", "promote", "house_pricing_model@v1", registry=reg).returncode == 0
    assert run("models", "promote", "house_pricing_model@v2", registry=reg).returncode == 0
    back = run("models", "rollback", "house_pricing_model", registry=reg)
    assert back.returncode == 0 and "-> v1-" in back.stdout
    refused = run("models", "delete", "house_pricing_model@v1", registry=reg)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: house_pricing_model@v1-")
    assert "alias production points at it" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    shown = json.loads(run("models", "show", "house_pricing_model", "--json",
                           registry=reg).stdout)
    assert shown["version"].startswith("v1-") and len(shown["history"]) == 5
    history = run("models", "history", "house_pricing_model", registry=reg)
    assert history.returncode == 0 and "rollback" in history.stdout


def test_if_missing_trains_once(tmp_path: Path) -> None:
    reg = tmp_path / "models"
    args = ("train", "--set", "model.family=linear", "--if-missing", "--json")
    first = json.loads(run(*args, registry=reg).stdout)
    again = json.loads(run(*args, registry=reg).stdout)
    assert first["trained"] is True and again["trained"] is False
    assert first["model"] == again["model"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("train", "--conf", "nope.yaml"), 2, "error: Config file 'nope.yaml' does not exist."),
    (("train", "--set", "training.epochs=-3"), 2,
     "error: The config key 'training.epochs' is invalid: Input should be greater than 0. "
     "Got -3 instead."),
    (("train", "--set", "split.test=1.5"), 2, "error: The config key 'split.test' is invalid"),
    (("train", "--set", "data.source=null", "--set", "data.path=missing.csv",
      "--set", "data.target=price"), 1, "error: Data file 'missing.csv' does not exist."),
    (("train", "--set", "data.source=null", "--set", "data.path=houses.csv",
      "--set", "data.target=cost"), 1, "error: Target column 'cost' is not in the data"),
    (("predict", "--model", "ghost", "--input", "x.csv", "--output", "y.csv"), 1,
     "error: No model named 'ghost'"),
    (("train", "--epochs", "3"), 2, "error: No such option: --epochs"),
    (("models", "show", "bad name!"), 1, "error: 'bad name!' is not a model reference"),
])
def test_errors_are_one_line(tmp_path: Path, args: tuple[str, ...], code: int,
                             message: str) -> None:
    (tmp_path / "houses.csv").write_text("a,price\n1,2\n")
    proc = run(*args, registry=tmp_path / "models", cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_predict_command(tmp_path: Path) -> None:
    reg = tmp_path / "models"
    assert run("train", "--set", "model.family=linear", "-q", registry=reg).returncode == 0
    src = tmp_path / "houses.csv"
    rows = json.loads((EXAMPLES / "seed_predict_request.json").read_text())
    header = list(rows[0])
    lines = [",".join(header)] + [",".join(str(r[k]) for k in header) for r in rows * 3]
    lines[2] = lines[2].replace("0.51,", "lots,", 1)
    src.write_text("\n".join(lines) + "\n")
    proc = run("predict", "--model", "boston-price", "--input", str(src), "--output",
               str(tmp_path / "out.csv"), "--json", registry=reg)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert (summary["scored"], summary["refused"]) == (2, 1)
    assert "NOX" in (tmp_path / "out.errors.csv").read_text()

    src.write_text("\n".join(lines[:1] + [lines[2]] * 3) + "\n")  # nothing can be priced
    proc = run("predict", "--model", "boston-price", "--input", str(src), "--output",
               str(tmp_path / "out.csv"), registry=reg)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("error: every row was refused (3)")
    assert (tmp_path / "out.errors.csv").read_text().count("NOX") == 3


def test_what_a_new_user_trips_on(tmp_path: Path) -> None:
    """Output into a folder not made yet, figures with thousands separators, full names when
    piped, plain progress lines off a terminal, and a hint for a mistyped config key."""
    reg = tmp_path / "models"
    data = tmp_path / "sales.csv"
    lines = ["living area,rooms,price"] + [f"{40 + i},{1 + i % 5},{150_000 + 2_500 * i}"
                                           for i in range(60)]
    data.write_text("\n".join(lines) + "\n")
    name = "a-rather-long-model-name-for-the-agency-in-the-north"
    trained = run("train", "--set", f"name={name}", "--set", f"data.path={data}",
                  "--set", "data.source=null", "--set", "data.target=price",
                  "--set", "model.family=mlp", "--set", "training.epochs=30", registry=reg)
    assert trained.returncode == 0, trained.stderr
    assert "━" not in trained.stderr and "epoch 1/30" in trained.stderr
    assert len(trained.stderr.splitlines()) < 20
    table = trained.stdout.splitlines()
    assert table[-4].split("\t")[0] == "split"  # piped: plain tab-separated lines
    mae = table[-1].split("\t")[1]  # the test row, in price units
    assert "e+" not in mae and "," in mae, mae
    listing = run("models", "list", registry=reg).stdout
    assert name in listing and "…" not in listing
    out = tmp_path / "not" / "made" / "yet" / "estimates.csv"
    scored = run("predict", "--model", name, "--input", str(data), "--output", str(out),
                 registry=reg)
    assert scored.returncode == 0, scored.stderr
    assert out.is_file()
    typo = tmp_path / "typo.yaml"
    typo.write_text("model: {family: gbm, n_estimatorz: 10}\n")
    refused = run("train", "--conf", str(typo), registry=reg)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("error: Unknown config key 'model.n_estimatorz'. Did you "
                                      "mean 'n_estimators'?")
