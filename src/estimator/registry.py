"""The model registry: immutable, dated versions and atomically moved aliases.

Layout under the root (`./models`, `--registry` or `ESTIMATOR_REGISTRY`):

    <name>/
      aliases.json              {"latest": "v3-20261126-101500", "production": ...}
      aliases.log.jsonl         one line per alias move: when, alias, from, to, by
      v1-20261120-093000/       a version folder: version.json, schema.json, ...
      v2-20261126-101500/

A version is written into a hidden temporary folder and renamed into place, and
the alias file is replaced at once, so a crash never leaves half a version or an
alias file visible. A version folder is self-contained (`MODEL_FOLDER` may name one).
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from estimator.atomic import write_json_atomic, written_beside
from estimator.errors import AliasInUseError, ModelNotFoundError, RegistryError

ALIAS_FILE = "aliases.json"
HISTORY_FILE = "aliases.log.jsonl"
VERSION_FILE = "version.json"
_VERSION_RE = re.compile(r"^v(\d+)-(\d{8}-\d{6})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def default_root() -> Path:
    return Path(os.environ.get("ESTIMATOR_REGISTRY", "models"))


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    path: Path
    meta: dict[str, Any]

    @property
    def seq(self) -> int:
        m = _VERSION_RE.match(self.version)
        return int(m.group(1)) if m else 0

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def split_ref(ref: str) -> tuple[str, str | None]:
    name, _, selector = ref.partition("@")
    if not name or not _NAME_RE.match(name):
        raise RegistryError(f"'{ref}' is not a model reference; use NAME, NAME@VERSION or "
                            "NAME@ALIAS.")
    return name, (selector or None)


class Registry:
    """Versions and aliases of every model under one root folder."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # -- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith("."))

    def versions(self, name: str) -> list[VersionInfo]:
        """Every complete version of `name`, oldest first."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        out = []
        for p in folder.iterdir():
            if p.is_dir() and _VERSION_RE.match(p.name) and (p / VERSION_FILE).exists():
                try:
                    meta = json.loads((p / VERSION_FILE).read_text())
                except (OSError, json.JSONDecodeError):
                    meta = {}
                out.append(VersionInfo(name=name, version=p.name, path=p, meta=meta))
        return sorted(out, key=lambda v: v.seq)

    def aliases(self, name: str) -> dict[str, str]:
        path = self.root / name / ALIAS_FILE
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text()))

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every alias move, oldest first, less a move that a killed writer logged but never
        applied (see `_unapplied`)."""
        events = self._logged(name)
        unapplied = self._unapplied(name, events)
        return [e for i, e in enumerate(events) if i not in unapplied]

    def _logged(self, name: str) -> list[dict[str, Any]]:
        path = self.root / name / HISTORY_FILE
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def _unapplied(self, name: str, events: list[dict[str, Any]]) -> set[int]:
        """Indexes of logged moves that never reached the alias file.

        A move is logged, then its alias file renamed into place; a writer killed between
        the two leaves, as the last move of that alias, one from the version the file
        still names to another. Readers skip it and the next move drops it from the log.
        """
        aliases = self.aliases(name)
        last = {e["alias"]: i for i, e in enumerate(events)}
        return {i for alias, i in last.items()
                if events[i]["to"] != aliases.get(alias) == events[i]["from"]}

    def alias_at(self, name: str, alias: str, when: datetime) -> str | None:
        """Which version an alias pointed at, at a moment in the past."""
        current = None
        for event in self.history(name):
            if event["alias"] == alias and datetime.fromisoformat(event["when"]) <= when:
                current = event["to"]
        return current

    def resolve(self, ref: str) -> VersionInfo:
        """Find the version a reference names.

        `NAME` is the production version, or the latest one when nothing is in
        production; `NAME@ALIAS`, `NAME@v3`, `NAME@3` and the full version
        name work too. Raises ModelNotFoundError naming what exists.
        """
        name, selector = split_ref(ref)
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelNotFoundError(f"No model named '{name}' in registry '{self.root}' "
                                     f"(models: {known}).")
        aliases = self.aliases(name)
        if selector is None:
            selector = "production" if "production" in aliases else "latest"
            if selector not in aliases:
                return versions[-1]
        by_name = {v.version: v for v in versions}
        target = aliases.get(selector, selector)
        if target in by_name:
            return by_name[target]
        seq = target.removeprefix("v")
        if seq.isdigit():
            for v in versions:
                if v.seq == int(seq):
                    return v
        raise ModelNotFoundError(
            f"'{ref}' matches no version or alias of '{name}' (aliases: "
            f"{', '.join(sorted(aliases)) or 'none'}; versions: "
            f"{', '.join(v.version for v in versions[-5:])}).")

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def create_version(self, name: str, write: Callable[[Path], dict[str, Any]],
                       now: datetime | None = None, reason: str = "trained",
                       details: dict[str, Any] | None = None) -> VersionInfo:
        """Write a new version with `write(tmp_folder) -> meta`, then publish it atomically.

        The new version becomes `latest`, with `reason` (and `details`) in the
        alias history. `write` fills the folder and returns the metadata stored
        as version.json.
        """
        split_ref(name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            meta = write(tmp)
            stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
            with self._locked(name):
                seq = max((v.seq for v in self.versions(name)), default=0) + 1
                version = f"v{seq}-{stamp}"
                meta = {**meta, "name": name, "version": version}
                write_json_atomic(tmp / VERSION_FILE, meta)
                final = folder / version
                os.rename(tmp, final)
                self._move_alias(name, "latest", version, reason, details)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return VersionInfo(name=name, version=version, path=final, meta=meta)

    def _move_alias(self, name: str, alias: str, version: str | None, reason: str,
                    details: dict[str, Any] | None = None) -> None:
        """Caller holds the lock. The new alias file is written to disk aside first, then
        the move is logged and the file renamed into place at once, and only then is the
        log synced; a move a killed writer logged but never applied is dropped first."""
        logged = self._logged(name)
        unapplied = self._unapplied(name, logged)
        if unapplied:
            history = self.root / name / HISTORY_FILE
            kept = "".join(json.dumps(e) + "\n" for i, e in enumerate(logged)
                           if i not in unapplied)
            os.replace(written_beside(history, kept), history)
        aliases = self.aliases(name)
        previous = aliases.get(alias)
        if version is None:
            aliases.pop(alias, None)
        else:
            aliases[alias] = version
        event: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                                 "alias": alias, "from": previous, "to": version, "by": _who(),
                                 "reason": reason}
        if details is not None:
            event["details"] = details
        path = self.root / name / ALIAS_FILE
        tmp = written_beside(path, aliases)
        try:
            with (self.root / name / HISTORY_FILE).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(event) + "\n")
                fh.flush()
                os.replace(tmp, path)
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def promote(self, ref: str, alias: str = "production", reason: str | None = None,
                details: dict[str, Any] | None = None) -> VersionInfo:
        """Point `alias` at the version `ref` names; `reason` and `details` (a retrain
        decision, say) are kept in the alias history."""
        if not _NAME_RE.match(alias) or alias.isdigit() or _VERSION_RE.match(alias):
            raise RegistryError(f"'{alias}' cannot be an alias name; use letters such as "
                                "'production' or 'staging'.")
        info = self.resolve(ref)
        with self._locked(info.name):
            self._move_alias(info.name, alias, info.version, reason or f"promote {ref}",
                             details)
        return info

    def rollback(self, name: str, alias: str = "production") -> VersionInfo:
        """Point `alias` back at the version it held before its last move."""
        split_ref(name)
        with self._locked(name):
            moves = [e for e in self.history(name) if e["alias"] == alias]
            if not moves:
                raise RegistryError(f"Alias '{alias}' of '{name}' has never moved; nothing to "
                                    "roll back to.")
            previous = moves[-1]["from"]
            if previous is None:
                raise RegistryError(f"Alias '{alias}' of '{name}' had no version before "
                                    f"{moves[-1]['to']}; nothing to roll back to.")
            existing = {v.version: v for v in self.versions(name)}
            if previous not in existing:
                raise RegistryError(f"Cannot roll '{alias}' back to {previous}: that version "
                                    "was deleted.")
            self._move_alias(name, alias, previous, reason="rollback")
        return existing[previous]

    def delete(self, ref: str) -> VersionInfo:
        """Remove a version that no alias points at."""
        info = self.resolve(ref)
        with self._locked(info.name):
            holders = sorted(a for a, v in self.aliases(info.name).items() if v == info.version)
            if holders:
                raise AliasInUseError(f"{info.ref} cannot be deleted: alias "
                                      f"{', '.join(holders)} points at it; promote another "
                                      "version first.")
            trash = info.path.with_name(f".deleted-{info.version}-{uuid.uuid4().hex}")
            os.rename(info.path, trash)
            shutil.rmtree(trash, ignore_errors=True)
        return info


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover - no passwd entry in some containers
        return "unknown"
