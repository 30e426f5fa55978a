"""Where a study lives, chosen by URL, so that many workers can share it.

    postgresql+psycopg://user:pw@host/db   production: workers on many machines
    sqlite:///studies.db                   one machine (WAL journal, busy timeout)
    journal:///studies.log, studies.log    one machine, Optuna's append-only journal file

Database storages send heartbeats: a worker that dies mid-trial stops
beating, and the next worker to start a trial marks that trial failed and
queues a copy of it (RetryHeartbeatStaleTrialCallback), so no trial is silently
lost. The journal file has no heartbeats; prefer SQLite when workers may be
killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import random
import sqlite3
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from estimator.errors import ConfigError, StudyStorageError

DEFAULT_FILE = Path(".studies") / "optuna.db"
_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_HELP = ("use postgresql+psycopg://USER:PASSWORD@HOST/DB, sqlite:///FILE.db or "
         "journal:///FILE.log")


def default_url(registry_root: Path) -> str:
    """A SQLite file beside the models, so that running a command again resumes its study."""
    return f"sqlite:///{(registry_root / DEFAULT_FILE).resolve()}"


def normalise(url: str) -> tuple[str, str]:
    """(kind, url) with kind `rdb` or `journal`; bare file paths and driverless PostgreSQL
    URLs get their full form. Raises ConfigError for anything else."""
    text = url.strip()
    if "://" not in text:
        lower = text.lower()
        if lower.endswith(_JOURNAL_SUFFIXES):
            return "journal", f"journal:///{text}"
        if lower.endswith(_SQLITE_SUFFIXES):
            return "rdb", f"sqlite:///{text}"
        raise ConfigError(f"'{url}' is not a study storage URL; {_HELP}.", key="--storage",
                          value=url)
    scheme, _, rest = text.partition("://")
    scheme = scheme.lower()
    if scheme == "journal":
        if not rest.lstrip("/"):
            raise ConfigError(f"'{url}' names no journal file; {_HELP}.", key="--storage")
        return "journal", text
    if scheme in ("postgresql", "postgres"):
        return "rdb", f"postgresql+psycopg://{rest}"
    if scheme in ("postgresql+psycopg", "sqlite"):
        if scheme == "sqlite" and not rest.lstrip("/"):
            raise ConfigError(f"'{url}' names no SQLite file; an in-memory study cannot be "
                              f"shared or resumed; {_HELP}.", key="--storage")
        return "rdb", text
    raise ConfigError(f"Study storage scheme '{scheme}' is not supported; {_HELP}.",
                      key="--storage", value=url)


def public_url(url: str) -> str:
    """The URL without user name and password, fit for metadata and messages."""
    kind, full = normalise(url)
    if kind == "journal":
        return full
    from sqlalchemy.engine import URL, make_url

    u = make_url(full)
    bare = URL.create(u.drivername, host=u.host, port=u.port, database=u.database,
                      query=u.query)
    return bare.render_as_string(hide_password=False)


def _journal_path(url: str) -> Path:
    rest = url.partition("://")[2]
    # journal:///relative.log and journal:////absolute.log, as SQLite URLs read.
    return Path(rest[1:] if rest.startswith("/") else rest)


def _sqlite_path(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def open_storage(url: str, *, heartbeat: int = 30, retries: int = 2) -> Any:
    """An Optuna storage for the URL, tables created if needed.

    Raises ConfigError for a malformed URL and StudyStorageError when the
    database or file cannot be reached.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    kind, full = normalise(url)
    shown = public_url(full)
    try:
        if kind == "journal":
            path = _journal_path(full)
            path.parent.mkdir(parents=True, exist_ok=True)
            return JournalStorage(JournalFileBackend(str(path)))
        return _rdb_storage(full, heartbeat, retries)
    except (ConfigError, StudyStorageError):
        raise
    except Exception as err:  # SQLAlchemy, psycopg and OS errors all mean: cannot open it
        raise StudyStorageError(f"Cannot open the study storage {shown}: "
                                f"{_first_line(err)}.") from None


def _rdb_storage(url: str, heartbeat: int, retries: int) -> Any:
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import DBAPIError, IntegrityError

    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True,
                                     "connect_args": {"connect_timeout": 10}}
    db = _sqlite_path(url) if url.startswith("sqlite") else None
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs["connect_args"] = {"timeout": 60}
    for attempt in range(3):
        try:
            with _file_lock(db), quiet_experimental():
                if db is not None:
                    with contextlib.closing(sqlite3.connect(db, timeout=60)) as conn:
                        conn.execute("PRAGMA journal_mode=WAL")  # kept by the file from now on
                retry = RetryHeartbeatStaleTrialCallback(max_retry=retries)
                return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat,
                                  heartbeat_stale_trial_callback=retry)
        except (DBAPIError, sqlite3.OperationalError) as err:
            # Workers opening a new database at once: one creates the tables, the others
            # find them on their next try. SQLite answers "locked" at once, without
            # waiting, where waiting could deadlock (a reader that would become a writer).
            race = (isinstance(err, IntegrityError) or "already exists" in str(err)
                    or "database is locked" in str(err))
            if attempt == 2 or not race:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _file_lock(db: Path | None) -> Iterator[None]:
    """Serialise table creation of one SQLite file across processes."""
    if db is None:
        yield
        return
    with db.with_name(db.name + ".lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _first_line(err: BaseException) -> str:
    cause = getattr(err, "orig", None) or err
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return (lines[0] if lines else type(cause).__name__).rstrip(".")


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """Silence Optuna's 'experimental feature' warnings (heartbeats, retries, multivariate TPE)."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        yield
