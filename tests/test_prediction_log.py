"""The prediction log: one contract suite, run on a SQLite file and on the real PostgreSQL.

Each PostgreSQL test gets a schema of its own (dropped afterwards), reached through the
URL's search_path, so that it starts from an empty database like the SQLite file does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from estimator.cli import main
from estimator.errors import ConfigError, DatabaseError, PredictionNotFoundError, ValidationError
from estimator.monitoring import Prediction, PredictionLog, current, head, upgrade
from estimator.monitoring.database import VERSION_TABLE, create_engine
from estimator.monitoring.store import metadata

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none"
HOUSE = {"CRIM": 0.00632, "ZN": 18.0, "CHAS": 0, "RM": 6.575, "ocean_proximity": "NEAR BAY"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema on the PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    server = sa.make_url(request.getfixturevalue("database_url"))
    schema = f"test_log_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield server.update_query_dict({"options": f"-csearch_path={schema}"}) \
            .render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def log(url: str) -> Iterator[PredictionLog]:
    upgrade(url)
    with PredictionLog(url) as opened:
        yield opened


def prediction(model: str = "boston-price", at: datetime | None = None, **changes: Any
               ) -> Prediction:
    made = Prediction(id=uuid.uuid4().hex, model=model, version="v1-20250101-120000",
                      features=HOUSE, price=24.123456789012345,
                      created_at=at or datetime.now(UTC))
    return replace(made, **changes)


# --- migrations ---------------------------------------------------------------------------------

def test_upgrade_brings_an_empty_database_to_the_tables_the_code_uses(url: str) -> None:
    assert current(url) is None
    assert upgrade(url) == (None, head())
    assert current(url) == head()
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            context = MigrationContext.configure(connection,
                                                 opts={"version_table": VERSION_TABLE})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert tables == {"predictions", "feedback", VERSION_TABLE}
    assert differences == []  # the migrations build exactly the tables store.py declares


def test_upgrading_twice_changes_nothing_and_keeps_the_log(url: str) -> None:
    upgrade(url)
    kept = prediction()
    with PredictionLog(url) as log:
        log.record(kept)
    assert upgrade(url) == (head(), head())
    with PredictionLog(url) as log:
        assert log.get(kept.id) == kept


def test_a_database_never_upgraded_says_how_to_fix_it(url: str) -> None:
    with PredictionLog(url) as log, \
            pytest.raises(DatabaseError, match=r"no tables yet; run `estimator db upgrade"):
        log.get(uuid.uuid4().hex)


# --- the log -------------------------------------------------------------------------------------

def test_record_and_get_round_trip_exactly(log: PredictionLog) -> None:
    first = prediction(at=datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC))
    local = datetime(2025, 3, 1, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    second = prediction(at=local, price=31.5, actual=30.0,
                        received_at=datetime(2025, 4, 2, tzinfo=UTC))
    log.record(first, second)
    assert log.get(first.id) == first
    got = log.get(second.id)
    assert got == second  # the same instant, whatever the zone it was given in
    assert got.created_at.tzinfo == UTC and got.actual == 30.0


def test_feedback_attaches_the_sale_price_once(log: PredictionLog) -> None:
    sold = prediction()
    log.record(sold)
    when = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
    answered = log.add_feedback(sold.id, 25.5, received_at=when)
    assert (answered.actual, answered.received_at, answered.price) == (25.5, when, sold.price)
    assert log.get(sold.id) == answered
    with pytest.raises(DatabaseError, match=f"Prediction '{sold.id}' already has feedback"):
        log.add_feedback(sold.id, 26.0)
    assert log.get(sold.id).actual == 25.5


def test_feedback_for_an_unknown_id_is_refused(log: PredictionLog) -> None:
    unknown = "f" * 32
    with pytest.raises(PredictionNotFoundError,
                       match=f"No prediction with id '{unknown}' is in the prediction log"):
        log.add_feedback(unknown, 25.0)
    with pytest.raises(PredictionNotFoundError, match=unknown):
        log.get(unknown)


def test_feedback_must_be_a_finite_price(log: PredictionLog) -> None:
    sold = prediction()
    log.record(sold)
    with pytest.raises(ValidationError, match=r"field 'actual': a sale price must be a finite"):
        log.add_feedback(sold.id, float("nan"))
    assert log.get(sold.id).actual is None


def test_recent_lists_one_models_predictions_since_a_time_oldest_first(
        log: PredictionLog) -> None:
    start = datetime(2025, 5, 1, tzinfo=UTC)
    old = prediction(at=start - timedelta(seconds=1))
    later, sooner = prediction(at=start + timedelta(hours=2)), prediction(at=start)
    other = prediction(model="california-price", at=start + timedelta(hours=1))
    log.record(old, later, sooner, other)
    log.add_feedback(sooner.id, 20.0)
    found = log.recent("boston-price", since=start)
    assert [p.id for p in found] == [sooner.id, later.id]
    assert [p.actual for p in found] == [20.0, None]
    assert log.recent("nobody", since=start) == []


def test_times_without_a_zone_are_refused(log: PredictionLog) -> None:
    with pytest.raises(ValueError, match="created_at 2025-01-01 00:00:00 has no time zone"):
        prediction(at=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="since 2025-01-01 00:00:00 has no time zone"):
        log.recent("boston-price", since=datetime(2025, 1, 1))


# --- the command ---------------------------------------------------------------------------------

def estimator(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "estimator", *args], capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, **(env or {})})


def test_db_upgrade_and_current_in_a_subprocess(url: str) -> None:
    upgraded = estimator("db", "upgrade", env={"ESTIMATOR_DATABASE_URL": url})
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.endswith(f"upgraded from empty to revision {head()} (head)\n")
    again = estimator("db", "upgrade", "--url", url)
    assert again.stdout.endswith(f"already at revision {head()} (head)\n")
    shown = estimator("db", "current", "--url", url)
    assert (shown.returncode, shown.stdout) == (0, f"{head()} (head)\n")


def test_db_current_of_an_empty_database_is_none(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--url", f"sqlite:///{tmp_path / 'empty.db'}"]) == 0
    assert capsys.readouterr().out == "none\n"


def test_an_unreachable_server_is_one_line_and_a_failure() -> None:
    PredictionLog(UNREACHABLE).close()  # opening connects to nothing
    done = estimator("db", "upgrade", "--url", UNREACHABLE)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: Cannot use the prediction log at "
                                  "postgresql+psycopg://postgres@127.0.0.1:1/none: ")
    assert "Connection refused" in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize(("bad", "message"), [
    ("mysql://u@h/db", "Database scheme 'mysql' is not supported"),
    ("predictions.db", "The database URL has no scheme"),
    ("sqlite://", "An in-memory SQLite database forgets the log"),
])
def test_a_bad_url_is_a_usage_error(bad: str, message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=message):
        PredictionLog(bad)
    assert main(["db", "upgrade", "--url", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_passwords_never_reach_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--url", "postgresql://u:s3cret@127.0.0.1:1/db"]) == 1
    err = capsys.readouterr().err
    assert "s3cret" not in err and "postgresql+psycopg://u:***@127.0.0.1:1/db" in err


def test_the_deployments_migrate_with_this_command() -> None:
    """The Kubernetes Job and the compose file run `estimator db upgrade`, a real command."""
    job = yaml.safe_load((ROOT / "deploy" / "k8s" / "migrate-job.yaml").read_text())
    (container,) = job["spec"]["template"]["spec"]["containers"]
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    for command in (container["command"], services["migrate"]["command"]):
        assert command == ["estimator", "db", "upgrade"]
    assert "ESTIMATOR_DATABASE_URL" in services["migrate"]["environment"]
    migrated = services["estimator"]["depends_on"]["migrate"]["condition"]
    assert migrated == "service_completed_successfully"
