"""The prediction log's database, chosen by URL, and its schema migrations.

    sqlite:///predictions.db                  the default: a file in the working folder
    postgresql+psycopg://USER:PW@HOST/DB      production (postgresql:// and postgres:// too)

The migrations ship inside the package (`monitoring/migrations`) and run through
Alembic without an alembic.ini: `upgrade(url)` is what `estimator db upgrade` and
the Kubernetes migration Job run, once per release, before the service starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from estimator.errors import ConfigError, DatabaseError, EstimatorError

DEFAULT_URL = "sqlite:///predictions.db"
SCRIPT_LOCATION = "estimator.monitoring:migrations"
# Not Alembic's default `alembic_version`: Optuna keeps its own there, and a study storage
# and the prediction log may share one PostgreSQL database.
VERSION_TABLE = "prediction_log_version"
_HELP = "use sqlite:///FILE.db or postgresql+psycopg://USER:PASSWORD@HOST/DB"
_MISSING_TABLE = re.compile(r"no such table|relation \S+ does not exist")


def normalise(url: str) -> URL:
    """The URL with its driver spelt out; ConfigError (naming no password) for anything else."""
    scheme, sep, _ = url.strip().partition("://")
    if not sep:
        raise ConfigError(f"The database URL has no scheme; {_HELP}.", key="--url")
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise ConfigError(f"The database URL cannot be parsed; {_HELP}.", key="--url") from None
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if scheme == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("An in-memory SQLite database forgets the log when it closes; "
                              f"{_HELP}.", key="--url")
        return parsed
    raise ConfigError(f"Database scheme '{scheme}' is not supported; {_HELP}.", key="--url")


def public_url(url: str | URL) -> str:
    """The URL with its password hidden, fit for messages and logs."""
    parsed = normalise(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def create_engine(url: str | URL) -> Engine:
    """An engine for the URL; it connects on first use, not here.

    The houses logged are JSON; orjson writes them several times faster than the
    standard library, which is most of what the log writer spends per row.
    """
    parsed = normalise(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        # Wait for another writer (several workers share one file); see _sqlite_pragmas.
        engine = sa.create_engine(parsed, connect_args={"timeout": 30}, json_serializer=_json)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10},
                            json_serializer=_json)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys enforced; a write-ahead log synced at checkpoints rather than at every
    commit, as SQLite advises for a log written in many small transactions (a crash of the
    machine may lose the last commits, never the file's consistency)."""
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    dbapi_connection.execute("PRAGMA journal_mode = WAL")
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


@contextmanager
def database_errors(url: str | URL) -> Iterator[None]:
    """Turn driver and SQLAlchemy errors into one DatabaseError naming the database."""
    try:
        yield
    except EstimatorError:
        raise
    except SQLAlchemyError as err:
        shown = public_url(url)
        detail = _first_line(err)
        if _MISSING_TABLE.search(detail):
            raise DatabaseError(f"The prediction log at {shown} has no tables yet; run "
                                f"`estimator db upgrade --url URL` first ({detail}).") from err
        raise DatabaseError(f"Cannot use the prediction log at {shown}: {detail}.") from err


def _first_line(err: BaseException) -> str:
    cause = getattr(err, "orig", None) or err
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return (lines[0] if lines else type(cause).__name__).rstrip(".")


def _alembic_config(url: URL, connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("path_separator", "os")
    # ConfigParser reads % as interpolation: a URL-encoded password or option needs %%.
    config.set_main_option("sqlalchemy.url",
                           url.render_as_string(hide_password=False).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the package ships."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_alembic_config(URL.create("sqlite"))).get_current_head()
    assert revision is not None, "the package ships no migration"
    return revision


def current(url: str) -> str | None:
    """The database's revision, or None when it has never been upgraded.

    Raises ConfigError for a malformed URL and DatabaseError when it cannot be reached.
    """
    parsed = normalise(url)
    engine = create_engine(parsed)
    try:
        with database_errors(parsed), engine.connect() as connection:
            return _revision(connection)
    finally:
        engine.dispose()


def upgrade(url: str) -> tuple[str | None, str]:
    """Bring the database to the newest schema; (revision before, revision now).

    Running it again is a no-op. Raises ConfigError for a malformed URL and
    DatabaseError when the database cannot be reached or refuses the change.
    """
    from alembic import command

    parsed = normalise(url)
    engine = create_engine(parsed)
    try:
        with database_errors(parsed), engine.begin() as connection:
            before = _revision(connection)
            command.upgrade(_alembic_config(parsed, connection), "head")
            after = _revision(connection)
    finally:
        engine.dispose()
    assert after is not None
    return before, after


def _revision(connection: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
