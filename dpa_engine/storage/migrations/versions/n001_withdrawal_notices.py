"""Withdrawal notices: the outbox holds, per customer of a change, its notice and (when the
change is withdrawn after it went out) the notice of the withdrawal.

`outbox.purpose` ('notice' or 'withdrawal'); one message per customer and purpose instead of
one per customer. SQLite cannot drop a column's UNIQUE, so there the table is rebuilt (its
rows and the payloads that refer to them are kept; foreign keys are off while a migration
runs, see storage.database.migrate).

Revision ID: n001
Revises: p001
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "n001"
down_revision = "p001"
branch_labels = None
depends_on = None

UNIQUE = "uq_outbox_target_purpose"


def _outbox(*, with_purpose: bool) -> sa.Table:
    """The outbox as revision 0001 made it, without its column-level UNIQUE (for a rebuild)."""
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("change_targets.id"), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False, unique=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("rendered_for", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("in_doubt_resends", sa.Integer(), nullable=False),
        sa.Column("refused_recipients", sa.JSON(), nullable=False),
    ]
    if with_purpose:
        columns.append(sa.Column("purpose", sa.String(16), nullable=False,
                                 server_default="notice"))
    return sa.Table("outbox", sa.MetaData(), *columns,
                    sa.Index("ix_outbox_status", "status"))


def upgrade() -> None:
    purpose = sa.Column("purpose", sa.String(16), nullable=False, server_default="notice")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always",
                                  copy_from=_outbox(with_purpose=False)) as batch:
            batch.add_column(purpose)
            batch.create_unique_constraint(UNIQUE, ["target_id", "purpose"])
        return
    op.add_column("outbox", purpose)
    op.drop_constraint("outbox_target_id_key", "outbox", type_="unique")
    op.create_unique_constraint(UNIQUE, "outbox", ["target_id", "purpose"])


def downgrade() -> None:
    op.execute("DELETE FROM outbox_payloads WHERE outbox_id IN "
               "(SELECT id FROM outbox WHERE purpose <> 'notice')")
    op.execute("DELETE FROM outbox WHERE purpose <> 'notice'")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("outbox", recreate="always",
                                  copy_from=_outbox(with_purpose=True)) as batch:
            batch.drop_column("purpose")
            batch.create_unique_constraint("uq_outbox_target", ["target_id"])
        return
    op.drop_constraint(UNIQUE, "outbox", type_="unique")
    op.drop_column("outbox", "purpose")
    op.create_unique_constraint("outbox_target_id_key", "outbox", ["target_id"])
