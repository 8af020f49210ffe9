"""Subscribers told of a withdrawn change: `subscription_deliveries.kind` ('upcoming' or
'withdrawn'; the rows already there are 'upcoming'), one e-mail per subscriber, change and
kind instead of one per subscriber and change.

SQLite cannot drop a table's UNIQUE, so there the table is rebuilt with its rows (nothing
refers to it).

Revision ID: s001
Revises: n001
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "s001"
down_revision = "n001"
branch_labels = None
depends_on = None

UNIQUE = "uq_subscription_delivery_kind"
TABLE = "subscription_deliveries"


def _deliveries(*, with_kind: bool) -> sa.Table:
    """The table as revision p001 made it, without its UNIQUE (for a rebuild)."""
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"),
                  nullable=False),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    ]
    if with_kind:
        columns.append(sa.Column("kind", sa.String(16), nullable=False,
                                 server_default="upcoming"))
    return sa.Table(TABLE, sa.MetaData(), *columns)


def _unique_on(columns: list[str]) -> str | None:
    """PostgreSQL: the name of the table's UNIQUE constraint on exactly these columns."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(TABLE):
        if constraint["column_names"] == columns:
            return constraint["name"]
    return None


def upgrade() -> None:
    kind = sa.Column("kind", sa.String(16), nullable=False, server_default="upcoming")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(TABLE, recreate="always",
                                  copy_from=_deliveries(with_kind=False)) as batch:
            batch.add_column(kind)
            batch.create_unique_constraint(UNIQUE, ["subscription_id", "change_id", "kind"])
        return
    op.add_column(TABLE, kind)
    old = _unique_on(["subscription_id", "change_id"])
    if old is not None:
        op.drop_constraint(old, TABLE, type_="unique")
    op.create_unique_constraint(UNIQUE, TABLE, ["subscription_id", "change_id", "kind"])


def downgrade() -> None:
    op.execute(f"DELETE FROM {TABLE} WHERE kind <> 'upcoming'")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(TABLE, recreate="always",
                                  copy_from=_deliveries(with_kind=True)) as batch:
            batch.drop_column("kind")
            batch.create_unique_constraint("uq_subscription_delivery",
                                           ["subscription_id", "change_id"])
        return
    op.drop_constraint(UNIQUE, TABLE, type_="unique")
    op.drop_column(TABLE, "kind")
    op.create_unique_constraint("subscription_deliveries_subscription_id_change_id_key", TABLE,
                                ["subscription_id", "change_id"])
