"""The prediction log: every estimate served, and the sale prices reported later.

Two tables, created by the package's migrations (`estimator db upgrade`):

    predictions  id (the 32-hex id /v2/predict returns), created_at, model, version,
                 features (the house as sent, JSON), price
    feedback     prediction_id -> predictions.id, actual (the sale price), received_at

Times are stored and returned in UTC. The same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from estimator.errors import DatabaseError, PredictionNotFoundError, ValidationError
from estimator.monitoring.database import DEFAULT_URL, create_engine, database_errors, normalise

# Deterministic constraint names, so that later migrations can alter them on every backend.
metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always UTC: SQLite keeps no zone, so it is added back on reading."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)  # Prediction and PredictionLog refuse naive times
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


predictions = sa.Table(
    "predictions", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("model", sa.String(), nullable=False),
    sa.Column("version", sa.String(), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),
    sa.Column("price", sa.Double(), nullable=False),
    sa.Column("lower", sa.Double(), nullable=True),
    sa.Column("upper", sa.Double(), nullable=True),
    sa.Index(None, "model", "created_at"),
)

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("prediction_id", sa.String(32), sa.ForeignKey(predictions.c.id),
              primary_key=True),
    sa.Column("actual", sa.Double(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("sold_at", UTCDateTime(), nullable=True),
)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Prediction:
    """One estimate as the service answered it, with the sale price once it is reported."""

    id: str
    model: str
    version: str
    features: Mapping[str, Any]
    price: float
    created_at: datetime = field(default_factory=_now)
    lower: float | None = None
    upper: float | None = None
    actual: float | None = None
    received_at: datetime | None = None
    sold_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.created_at, "created_at")
        _aware(self.received_at, "received_at")


@dataclass(frozen=True)
class Sale:
    """A sale price reported for an earlier estimate, and when the house sold."""

    id: str
    price: float
    sold_at: datetime | None = None


class PredictionLog:
    """The log in one database, opened by URL; it connects on first use, not when opened.

    The database must hold the current schema (`estimator db upgrade`). Every
    method raises DatabaseError when the database cannot be reached or used.
    """

    def __init__(self, url: str = DEFAULT_URL) -> None:
        self.url = normalise(url)
        self._engine = create_engine(self.url)

    def close(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, *entries: Prediction, skip_existing: bool = False) -> None:
        """Store predictions in one transaction (and the feedback of those that carry one).

        With `skip_existing`, a prediction whose id is already stored is left as it is,
        so that replaying rows after a crash stores each once.
        """
        rows = [{"id": p.id, "created_at": p.created_at, "model": p.model,
                 "version": p.version, "features": dict(p.features), "price": float(p.price),
                 "lower": p.lower, "upper": p.upper}
                for p in entries]
        answered = [{"prediction_id": p.id, "actual": _actual(p.actual),
                     "received_at": p.received_at or _now()}
                    for p in entries if p.actual is not None]
        if not rows:
            return
        with database_errors(self.url), self._engine.begin() as connection:
            connection.execute(self._insert(skip_existing), rows)
            if answered:
                connection.execute(feedback.insert(), answered)

    def _insert(self, skip_existing: bool) -> Any:
        if not skip_existing:
            return predictions.insert()
        if self.url.get_backend_name() == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(predictions).on_conflict_do_nothing(index_elements=["id"])
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(predictions).on_conflict_do_nothing(index_elements=["id"])

    def get(self, prediction_id: str) -> Prediction:
        """The prediction with this id; PredictionNotFoundError when the log has none."""
        with database_errors(self.url), self._engine.connect() as connection:
            row = connection.execute(_select().where(predictions.c.id == prediction_id)).first()
        if row is None:
            raise PredictionNotFoundError(prediction_id)
        return _prediction(row)

    def add_feedback(self, prediction_id: str, actual: float,
                     received_at: datetime | None = None) -> Prediction:
        """Record the sale price of an earlier prediction; the prediction with it.

        Raises PredictionNotFoundError for an unknown id, ValidationError for a price
        that is not a finite number, DatabaseError when the id already has feedback.
        """
        row = {"prediction_id": prediction_id, "actual": _actual(actual),
               "received_at": _aware(received_at, "received_at") or _now()}
        with database_errors(self.url):
            try:
                with self._engine.begin() as connection:
                    known = connection.execute(sa.select(predictions.c.id)
                                               .where(predictions.c.id == prediction_id)).first()
                    if known is None:
                        raise PredictionNotFoundError(prediction_id)
                    connection.execute(feedback.insert(), row)
            except IntegrityError:  # the prediction exists: its feedback row does too
                raise DatabaseError(f"Prediction '{prediction_id}' already has feedback; "
                                    "a sale price is recorded once.") from None
        return self.get(prediction_id)

    def add_sales(self, sales: list[Sale]) -> int:
        """Store the sale prices of earlier estimates, all or none; how many were stored.

        Raises ValidationError naming the row (0-based in `sales`) and field of the first
        fault: a price that is not a positive finite number, a sale in the future, an id
        given twice, an id the log has no estimate for, or one that already has a price.
        """
        now = _now()
        ids = check_sales(sales)
        with database_errors(self.url), self._engine.begin() as connection:
            known = set(connection.execute(sa.select(predictions.c.id)
                                           .where(predictions.c.id.in_(ids))).scalars())
            priced = set(connection.execute(sa.select(feedback.c.prediction_id)
                                            .where(feedback.c.prediction_id.in_(ids))).scalars())
            for row, sale in enumerate(sales):
                if sale.id not in known:
                    raise ValidationError(f"no estimate with id '{sale.id}' is in the "
                                          "prediction log", row=row, field="id")
                if sale.id in priced:
                    raise ValidationError(f"estimate '{sale.id}' already has a sale price; "
                                          "a sale is recorded once", row=row, field="id")
            if sales:
                connection.execute(feedback.insert(), [
                    {"prediction_id": sale.id, "actual": float(sale.price), "received_at": now,
                     "sold_at": sale.sold_at} for sale in sales])
        return len(sales)

    def sold(self, model: str, since: datetime | None = None) -> list[Prediction]:
        """The model's estimates that have a sale price, oldest first (since `since`)."""
        query = _select().where(predictions.c.model == model, feedback.c.actual.is_not(None))
        if since is not None:
            query = query.where(predictions.c.created_at >= _aware(since, "since"))
        query = query.order_by(predictions.c.created_at, predictions.c.id)
        with database_errors(self.url), self._engine.connect() as connection:
            return [_prediction(row) for row in connection.execute(query)]

    def latest(self, model: str, n: int | None = None,
               since: datetime | None = None) -> list[Prediction]:
        """The model's last `n` estimates (all, without `n`) made since `since`, oldest first."""
        query = _select().where(predictions.c.model == model)
        if since is not None:
            query = query.where(predictions.c.created_at >= _aware(since, "since"))
        query = query.order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
        if n is not None:
            query = query.limit(n)
        with database_errors(self.url), self._engine.connect() as connection:
            return [_prediction(row) for row in connection.execute(query)][::-1]

    def recent(self, model: str, since: datetime) -> list[Prediction]:
        """The model's predictions made at or after `since` (aware), oldest first."""
        query = (_select()
                 .where(predictions.c.model == model,
                        predictions.c.created_at >= _aware(since, "since"))
                 .order_by(predictions.c.created_at, predictions.c.id))
        with database_errors(self.url), self._engine.connect() as connection:
            return [_prediction(row) for row in connection.execute(query)]


def check_sales(sales: list[Sale]) -> list[str]:
    """The ids of sales that can be stored, in order; ValidationError naming the first row
    whose price is not a positive number, whose sale is in the future or whose id repeats."""
    now = _now()
    seen: dict[str, int] = {}
    for row, sale in enumerate(sales):
        _aware(sale.sold_at, "sold_at")
        if not (isinstance(sale.price, int | float) and math.isfinite(sale.price)
                and sale.price > 0):
            raise ValidationError(f"a sale price must be a positive number, got {sale.price!r}",
                                  row=row, field="price", value=sale.price)
        if sale.sold_at is not None and sale.sold_at > now + timedelta(days=1):
            raise ValidationError(f"{sale.sold_at.date()} is in the future", row=row,
                                  field="sold_at")
        if sale.id in seen:
            raise ValidationError(f"'{sale.id}' is reported twice (also in row "
                                  f"{seen[sale.id]})", row=row, field="id")
        seen[sale.id] = row
    return list(seen)


def _aware(value: datetime | None, name: str) -> datetime | None:
    """Refuse a time without a zone: it would be read as UTC on one server, local on another."""
    if value is not None and value.tzinfo is None:
        raise ValueError(f"{name} {value} has no time zone; give an aware time "
                         "such as datetime.now(UTC)")
    return value


def _actual(value: float | None) -> float:
    if value is None or not math.isfinite(value):
        raise ValidationError(f"a sale price must be a finite number; got {value!r}",
                              field="actual", value=value)
    return float(value)


def _select() -> sa.Select[Any]:
    return (sa.select(predictions, feedback.c.actual, feedback.c.received_at,
                      feedback.c.sold_at)
            .select_from(predictions.outerjoin(feedback)))


def _prediction(row: sa.Row[Any]) -> Prediction:
    return Prediction(id=row.id, model=row.model, version=row.version, features=row.features,
                      price=row.price, created_at=row.created_at, lower=row.lower,
                      upper=row.upper, actual=row.actual, received_at=row.received_at,
                      sold_at=row.sold_at)
