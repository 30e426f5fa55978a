"""The range served with each estimate.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as table:  # batch: SQLite cannot ALTER freely
        table.add_column(sa.Column("lower", sa.Double(), nullable=True))
        table.add_column(sa.Column("upper", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as table:
        table.drop_column("upper")
        table.drop_column("lower")
