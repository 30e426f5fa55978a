"""Alembic's entry point for the prediction log.

`estimator.monitoring.database.upgrade` hands over an open connection; run by
the `alembic` command instead, the URL comes from `sqlalchemy.url`. Batch mode
lets later migrations alter tables on SQLite too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from estimator.monitoring.database import VERSION_TABLE, create_engine
from estimator.monitoring.store import metadata


def run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      version_table=VERSION_TABLE, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


shared = context.config.attributes.get("connection")
if shared is not None:
    run(shared)
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        run(connection)
    engine.dispose()
