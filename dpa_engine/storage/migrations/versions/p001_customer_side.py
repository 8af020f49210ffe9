"""The customer's side: notice-page answers, refused requests, list subscriptions, and the
customer's contact name (for greetings).

Revision ID: p001
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p001"
down_revision = "w001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE (SQLite adds and drops a column in place; no copy of a referenced table)
    op.add_column("customers", sa.Column("contact_name", sa.Text(), nullable=True))
    op.create_table(
        "portal_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("change_targets.id"),
                  nullable=False, unique=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("receipt", sa.String(32), nullable=False, unique=True),
        sa.Column("recorded", sa.Boolean(), nullable=False),
        sa.Column("completing_until", sa.DateTime(), nullable=True),
        sa.Column("confirmation_sent_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "portal_refusals",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("window_started_at", sa.DateTime(), nullable=False),
        sa.Column("in_window", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmation_sent_at", sa.DateTime(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "subscription_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscription_id", sa.Integer(), sa.ForeignKey("subscriptions.id"),
                  nullable=False),
        sa.Column("change_id", sa.Integer(), sa.ForeignKey("changes.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("subscription_id", "change_id"),
    )


def downgrade() -> None:
    # step by step and skipping what is gone: SQLite (pysqlite) commits DDL as it goes, so a
    # downgrade that a later step refused may have run part of this one already
    inspector = sa.inspect(op.get_bind())
    for table in ("subscription_deliveries", "subscriptions", "portal_refusals",
                  "portal_answers"):
        if inspector.has_table(table):
            op.drop_table(table)
    if "contact_name" in {c["name"] for c in inspector.get_columns("customers")}:
        op.drop_column("customers", "contact_name")
