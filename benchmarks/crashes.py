"""Crashes and bad versions, for benchmarks/reliability.py.

`kill -9` of `estimator train` and of alias moves at random moments must leave
a registry where every listed version loads, every alias names an existing
version and no half-written folder is visible. A version whose weights are
corrupt, or are an .npz holding a pickle that would run code, must be refused
by the service when promoted, in one log line, while the old version keeps
serving, and the pickle must never run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from load import JSON, V1, Service
from serving import ROOT

from estimator.errors import ModelLoadError
from estimator.predictor import Predictor, file_digests
from estimator.registry import Registry, VersionInfo

# A tight loop of alias moves, for kills that land inside a move rather than at start-up.
PROMOTE_LOOP = """
import sys
from estimator.registry import Registry
registry, name, versions = Registry(sys.argv[1]), sys.argv[2], sys.argv[3:]
while True:
    for version in versions:
        registry.promote(f"{name}@{version}", "production")
"""


def registry_problems(root: Path, name: str) -> list[str]:
    """Everything that makes a model's registry folder inconsistent, in words."""
    registry = Registry(root)
    problems = []
    versions = {v.version: v for v in registry.versions(name)}
    for info in versions.values():
        try:
            Predictor.load(info.path)
        except ModelLoadError as err:
            problems.append(f"{info.version} does not load: {err.message}")
    try:
        aliases = registry.aliases(name)
    except (OSError, ValueError) as err:
        return [*problems, f"aliases.json is unreadable: {err}"]
    problems += [f"alias {a} names {v}, which does not exist"
                 for a, v in aliases.items() if v not in versions]
    problems += [f"partial folder {p.name} is visible" for p in (root / name).iterdir()
                 if p.is_dir() and not p.name.startswith(".") and p.name not in versions]
    try:
        registry.history(name)
    except ValueError as err:
        problems.append(f"the alias history has a torn line: {err}")
    return problems


def hidden_leftovers(root: Path, name: str) -> int:
    """Temporary files and folders a killed writer left (hidden, so never listed)."""
    return sum(1 for p in (root / name).iterdir() if p.name.startswith(".tmp-")
               or (p.name.startswith(".") and p.name.endswith(".tmp")))


def history_behind(root: Path, name: str) -> list[str]:
    """Aliases whose last move in the history is not what the alias file says."""
    registry = Registry(root)
    last: dict[str, Any] = {}
    for event in registry.history(name):
        last[event["alias"]] = event["to"]
    return [f"the history moves {alias} to {last.get(alias)}, the alias file says {version}"
            for alias, version in registry.aliases(name).items()
            if alias in last and last[alias] != version]


def unapplied_in_log(root: Path, name: str) -> bool:
    """Whether the log file holds a move a killed writer logged but never applied."""
    registry = Registry(root)
    return bool(registry._unapplied(name, registry._logged(name)))


def kill_at_random(argv: list[str], longest: float, rng: random.Random) -> tuple[float, bool]:
    """Start a command, SIGKILL it after a random delay; (delay, whether it finished)."""
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    delay = rng.uniform(0.05, longest)
    try:
        proc.wait(timeout=delay)
        return delay, True
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return delay, False


def kill_train(root: Path, name: str, train_argv: list[str], loops: int, typical: float,
               rng: random.Random) -> tuple[str, str, bool]:
    """`kill -9` of `estimator train` at random moments of its run."""
    before = len(Registry(root).versions(name))
    delays, finished, problems = [], 0, []
    for _ in range(loops):
        delay, done = kill_at_random(train_argv, typical * 1.1, rng)
        delays.append(delay)
        finished += done
        problems += registry_problems(root, name)
    after = len(Registry(root).versions(name))
    done = (f"{loops} runs of estimator train killed at {min(delays):.1f}-{max(delays):.1f} s "
            f"(a run takes {typical:.1f} s)")
    figure = (f"{finished} finished first; versions {before} -> {after}, all load; "
              f"{hidden_leftovers(root, name)} hidden temporary folders left; problems: "
              f"{'; '.join(problems[:2]) or 'none'}")
    return done, figure, not problems


def kill_promote(service: Service, root: Path, name: str, versions: list[str], loops: int,
                 typical: float, rng: random.Random) -> tuple[str, str, bool]:
    """`kill -9` of `estimator models promote`, and of a tight loop of alias moves."""
    registry = Registry(root)
    moves_before = len(registry.history(name))
    problems: list[str] = []
    unapplied = 0
    for i in range(loops):
        target = f"{name}@{versions[i % len(versions)]}"
        kill_at_random([sys.executable, "-m", "estimator", "models", "promote", target,
                        "--registry", str(root)], typical * 1.2, rng)
        problems += registry_problems(root, name) + history_behind(root, name)
        kill_at_random([sys.executable, "-c", PROMOTE_LOOP, str(root), name, *versions],
                       typical + 1.0, rng)
        unapplied += unapplied_in_log(root, name)
        problems += registry_problems(root, name) + history_behind(root, name)
    moves = len(registry.history(name)) - moves_before
    time.sleep(service.watch * 1.5)  # one look of the service's watcher at the alias
    served = service.served()
    production = registry.aliases(name).get("production")
    if served not in versions:
        problems.append(f"the service answers with {served}")
    done = (f"{loops} x (estimator models promote killed at random, then a loop of alias "
            "moves killed at random)")
    figure = (f"{moves:,} moves in the history; after the kills: production = {production}, "
              f"the service serves {served}; a move logged but never applied was left after "
              f"{unapplied}/{loops} loop kills (the history leaves it out); problems: "
              f"{'; '.join(problems[:2]) or 'none'}")
    return done, figure, not problems and service.alive()


# -- versions that must be refused -------------------------------------------------------------

class Payload:
    """Unpickling this creates the marker file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def pickled_npz(path: Path, like: Path, marker: Path) -> None:
    """`like`'s arrays, the first replaced by an object array holding the payload."""
    with np.load(like, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    first = next(iter(arrays))
    arrays[first] = np.array([Payload(marker)], dtype=object)
    np.savez(path, **arrays)  # type: ignore[arg-type]


def bad_version(root: Path, good: VersionInfo, kind: str, marker: Path) -> VersionInfo:
    """A copy of `good` registered as a new version, its weights spoiled as `kind` says."""
    def write(folder: Path) -> dict[str, Any]:
        for item in good.path.iterdir():
            if item.name != "version.json":
                copy = shutil.copytree if item.is_dir() else shutil.copy2
                copy(item, folder / item.name)
        weights = next((folder / "model").glob("*.npz"))
        if kind == "pickle":
            pickled_npz(weights, good.path / "model" / weights.name, marker)
        elif kind == "truncated":
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        meta = {k: v for k, v in good.meta.items() if k not in ("name", "version")}
        return {**meta, "files": file_digests(folder)}  # checksums that match the bad file

    info = Registry(root).create_version(good.name, write, reason=f"bad weights: {kind}")
    if kind == "flipped":  # spoiled after it was written: the checksum no longer matches
        weights = next((info.path / "model").glob("*.npz"))
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    return info


def refused(service: Service, root: Path, good: VersionInfo, kind: str,
            work: Path) -> tuple[str, str, bool]:
    """Promote a bad version to production; the service must refuse it and keep serving."""
    marker = work / f"code-ran-{kind}"
    Registry(root).promote(good.ref)
    deadline = time.monotonic() + 15
    while service.served() != good.version and time.monotonic() < deadline:
        time.sleep(0.1)
    bad = bad_version(root, good, kind, marker)
    lines_before = service.log().count("model not switched")
    subprocess.run([sys.executable, "-m", "estimator", "models", "promote", bad.ref,
                    "--registry", str(root)], cwd=ROOT, check=True, capture_output=True)
    deadline = time.monotonic() + 15
    said: list[str] = []
    while time.monotonic() < deadline and not said:
        time.sleep(0.5)
        said = [line for line in service.log().splitlines()[-50:]
                if "model not switched" in line and bad.version in line]
    time.sleep(service.watch * 1.5)  # another look of the watcher: it must not complain twice
    refusals = service.log().count("model not switched") - lines_before
    with httpx.Client(base_url=service.base, timeout=30) as client:
        answer = client.post(V1, content=json.dumps([_house(good)]).encode(), headers=JSON)
    answered_by = answer.headers.get("x-model-version")
    code_ran = marker.exists()
    reason = (said[0].split("model not switched: ", 1)[-1].replace(f"{root}/", "")
              if said else "no line logged")
    figure = (f"{refusals} log line: {reason[:150]}; answers {answer.status_code} from "
              f"{answered_by}; code ran: {'YES' if code_ran else 'no'}")
    passed = (refusals == 1 and answer.status_code == 200 and answered_by == good.version
              and not code_ran)
    return f"promote {bad.version} to production, wait for the watcher", figure, passed


def payload_is_live(work: Path, good: VersionInfo) -> bool:
    """The control: loading the same kind of file with allow_pickle=True does run the code."""
    marker = work / "control-marker"
    weights = next((good.path / "model").glob("*.npz"))
    path = work / "control.npz"
    pickled_npz(path, weights, marker)
    with np.load(path, allow_pickle=True) as npz:
        for key in npz.files:
            npz[key]
    return marker.exists()


def _house(info: VersionInfo) -> dict[str, Any]:
    return Predictor.load(info.path).schema.example_row()
