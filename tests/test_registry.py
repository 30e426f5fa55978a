"""The registry: dated versions, aliases moved atomically, history, refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from estimator import config
from estimator.errors import AliasInUseError, ModelNotFoundError, RegistryError
from estimator.registry import Registry
from estimator.training import train


@pytest.fixture()
def three_versions(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "models")
    cfg = config.validate({"name": "prices", "model": {"family": "linear"}})
    for _ in range(3):
        train(cfg, registry=reg)
    return reg


def test_versions_are_dated_sorted_and_latest_moves(three_versions: Registry) -> None:
    reg = three_versions
    versions = reg.versions("prices")
    assert [v.seq for v in versions] == [1, 2, 3]
    today = datetime.now(UTC).strftime("%Y%m%d")
    assert all(v.version.startswith(f"v{v.seq}-{today[:6]}") for v in versions)
    assert reg.aliases("prices") == {"latest": versions[-1].version}
    assert reg.resolve("prices").version == versions[-1].version
    assert reg.resolve("prices@v1").version == versions[0].version
    assert reg.resolve("prices@2").version == versions[1].version


def test_version_records(three_versions: Registry) -> None:
    meta = three_versions.resolve("prices@latest").meta
    for key in ("created", "metrics", "data", "parent", "libraries", "family", "files"):
        assert key in meta
    assert meta["data"]["rows"] == 506 and len(meta["data"]["sha256"]) == 64
    assert {"numpy", "python", "scikit-learn"} <= set(meta["libraries"])
    folder = three_versions.resolve("prices@latest").path
    for name in ("schema.json", "preprocessing.json", "curves.json", "curves.png", "config.json",
                 "metrics.json", "model/linear.npz"):
        assert (folder / name).is_file(), name


def test_promote_rollback_and_history(three_versions: Registry) -> None:
    reg = three_versions
    v1, v2, v3 = (v.version for v in reg.versions("prices"))
    reg.promote("prices@v1")
    before_second = datetime.now(UTC)
    reg.promote("prices@v2")
    assert reg.resolve("prices").version == v2
    assert reg.rollback("prices").version == v1
    assert reg.aliases("prices")["production"] == v1
    moves = [(e["alias"], e["from"], e["to"]) for e in reg.history("prices")
             if e["alias"] == "production"]
    assert moves == [("production", None, v1), ("production", v1, v2), ("production", v2, v1)]
    assert all(e["by"] for e in reg.history("prices"))
    assert reg.alias_at("prices", "production", before_second) == v1
    assert v3 == reg.aliases("prices")["latest"]


def test_refusals(three_versions: Registry) -> None:
    reg = three_versions
    reg.promote("prices@v2")
    with pytest.raises(AliasInUseError, match=r"prices@v2-.* cannot be deleted: alias "
                                              r"production points at it"):
        reg.delete("prices@v2")
    assert reg.delete("prices@v1").seq == 1
    assert [v.seq for v in reg.versions("prices")] == [2, 3]
    with pytest.raises(ModelNotFoundError, match=r"'prices@v1' matches no version or alias"):
        reg.resolve("prices@v1")
    with pytest.raises(ModelNotFoundError, match=r"No model named 'houses'.*models: prices"):
        reg.resolve("houses")
    with pytest.raises(RegistryError, match=r"Alias 'staging' of 'prices' has never moved"):
        reg.rollback("prices", "staging")
    with pytest.raises(RegistryError, match=r"had no version before"):
        reg.rollback("prices")
    with pytest.raises(RegistryError, match=r"'3' cannot be an alias name"):
        reg.promote("prices@v3", alias="3")


def test_a_failed_write_leaves_no_version(tmp_path: Path) -> None:
    reg = Registry(tmp_path)

    def broken(folder: Path) -> dict[str, Any]:
        (folder / "weights.npz").write_bytes(b"partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        reg.create_version("prices", broken)
    assert reg.versions("prices") == []
    assert not [p for p in (tmp_path / "prices").iterdir() if p.name.startswith(".tmp")]


CRASH = """
import os, sys
from pathlib import Path
from estimator.registry import Registry
reg = Registry(sys.argv[1])
def write(folder):
    (folder / "half.npz").write_bytes(b"half")
    os._exit(9)   # the process dies in the middle of writing a version
reg.create_version("prices", write)
"""


def test_a_crash_mid_write_is_never_visible(three_versions: Registry) -> None:
    before = [v.version for v in three_versions.versions("prices")]
    aliases = (three_versions.root / "prices" / "aliases.json").read_text()
    proc = subprocess.run([sys.executable, "-c", CRASH, str(three_versions.root)], check=False)
    assert proc.returncode == 9
    assert [v.version for v in three_versions.versions("prices")] == before
    assert (three_versions.root / "prices" / "aliases.json").read_text() == aliases
    assert json.loads(aliases)["latest"] == before[-1]
    visible = [p.name for p in (three_versions.root / "prices").iterdir()
               if not p.name.startswith(".")]
    assert sorted(visible) == sorted([*before, "aliases.json", "aliases.log.jsonl"])


DIES_AT_FIRST_FSYNC = """
import os, sys
from estimator.registry import Registry
def die(fd):
    os._exit(9)   # killed at the first write to disk of an alias move
os.fsync = die
Registry(sys.argv[1]).promote("prices@v1")
"""


def test_a_move_killed_while_writing_is_neither_applied_nor_logged(
        three_versions: Registry) -> None:
    # The alias file is written aside before the move is logged, so a writer killed while
    # writing leaves no logged move that did not happen.
    aliases, history = three_versions.aliases("prices"), three_versions.history("prices")
    proc = subprocess.run([sys.executable, "-c", DIES_AT_FIRST_FSYNC, str(three_versions.root)],
                          check=False)
    assert proc.returncode == 9
    assert three_versions.aliases("prices") == aliases
    assert three_versions.history("prices") == history
    assert three_versions.promote("prices@v1").version in three_versions.aliases("prices")[
        "production"]  # the next move goes through


DIES_BEFORE_THE_RENAME = """
import os, sys
from estimator.registry import Registry
rename = os.replace
def replace(src, dst):
    if str(dst).endswith("aliases.json"):
        os._exit(9)   # killed after the move was logged, before its file is in place
    rename(src, dst)
os.replace = replace
Registry(sys.argv[1]).promote("prices@v1")
"""


def test_a_move_logged_but_never_applied_is_not_history(three_versions: Registry) -> None:
    three_versions.promote("prices@v2")
    history = three_versions.history("prices")
    proc = subprocess.run([sys.executable, "-c", DIES_BEFORE_THE_RENAME,
                           str(three_versions.root)], check=False)
    assert proc.returncode == 9
    log = three_versions.root / "prices" / "aliases.log.jsonl"
    assert json.loads(log.read_text().splitlines()[-1])["to"].startswith("v1-")  # logged
    assert three_versions.aliases("prices")["production"].startswith("v2-")  # not applied
    assert three_versions.history("prices") == history
    three_versions.promote("prices@v3")  # the next move drops the unapplied one from the log
    assert [e["to"][:2] for e in three_versions.history("prices")][-2:] == ["v2", "v3"]
    assert len(log.read_text().splitlines()) == len(history) + 1
    assert three_versions.rollback("prices").version.startswith("v2-")


def test_alias_file_is_replaced_not_rewritten(three_versions: Registry) -> None:
    path = three_versions.root / "prices" / "aliases.json"
    inode = os.stat(path).st_ino
    three_versions.promote("prices@v3")
    assert os.stat(path).st_ino != inode
