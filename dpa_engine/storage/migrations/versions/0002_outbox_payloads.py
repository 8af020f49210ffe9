"""Outbox payloads in their own table: the send loop's status commits rewrite a small row.

The rendered text, HTML, MIME bytes and .docx letter of each outbox entry (about 47 KB) move
from `outbox` to `outbox_payloads` (one row per entry, same id), written once when the notice
is rendered. Existing data is moved as is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PAYLOAD = ("body_text", "body_html", "letter", "mime")


def _payload_columns() -> list[sa.Column[Any]]:
    return [sa.Column("body_text", sa.Text(), nullable=False),
            sa.Column("body_html", sa.Text(), nullable=False),
            sa.Column("letter", sa.LargeBinary(), nullable=False),
            sa.Column("mime", sa.LargeBinary(), nullable=False)]


def upgrade() -> None:
    # Copied aside first: on SQLite, dropping columns recreates `outbox`, which must not be
    # referenced by a foreign key at that moment (the old table is dropped).
    op.create_table("_outbox_payloads_move",
                    sa.Column("outbox_id", sa.Integer(), primary_key=True,
                              autoincrement=False),
                    *_payload_columns())
    op.execute(sa.text("INSERT INTO _outbox_payloads_move (outbox_id, body_text, body_html, "
                       "letter, mime) SELECT id, body_text, body_html, letter, mime FROM outbox"))
    with op.batch_alter_table("outbox") as batch:
        for column in _PAYLOAD:
            batch.drop_column(column)
    op.create_table("outbox_payloads",
                    sa.Column("outbox_id", sa.Integer(), sa.ForeignKey("outbox.id"),
                              primary_key=True, autoincrement=False),
                    *_payload_columns())
    op.execute(sa.text("INSERT INTO outbox_payloads (outbox_id, body_text, body_html, letter, "
                       "mime) SELECT outbox_id, body_text, body_html, letter, mime "
                       "FROM _outbox_payloads_move"))
    op.drop_table("_outbox_payloads_move")


def downgrade() -> None:
    op.create_table("_outbox_payloads_move",
                    sa.Column("outbox_id", sa.Integer(), primary_key=True,
                              autoincrement=False),
                    *_payload_columns())
    op.execute(sa.text("INSERT INTO _outbox_payloads_move (outbox_id, body_text, body_html, "
                       "letter, mime) SELECT outbox_id, body_text, body_html, letter, mime "
                       "FROM outbox_payloads"))
    op.drop_table("outbox_payloads")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("body_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("letter", sa.LargeBinary(), nullable=False,
                                   server_default=sa.text("''")))
        batch.add_column(sa.Column("mime", sa.LargeBinary(), nullable=False,
                                   server_default=sa.text("''")))
    for column in _PAYLOAD:
        op.execute(sa.text(f"UPDATE outbox SET {column} = (SELECT m.{column} FROM "
                           "_outbox_payloads_move m WHERE m.outbox_id = outbox.id)"))
    op.drop_table("_outbox_payloads_move")
