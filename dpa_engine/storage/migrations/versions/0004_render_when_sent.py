"""Notices are rendered when their SMTP transaction starts, not when the change is queued.

Queueing a change records its targets and outbox entries in one transaction (the plan is
frozen and nothing can be lost); each entry's text and MIME are rendered when it is first
sent and written with the record of that start, so sending begins at once instead of after
every notice was rendered. Until then an entry has no payload row and no `subject` or
`rendered_for`, which become optional.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


_PAYLOAD = "outbox_id, body_text, body_html, letter, mime, letter_source"


def _payload_table(name: str, *, referencing: bool) -> None:
    """`outbox_payloads` as revision 0003 left it (or a copy without the reference)."""
    key = sa.Column("outbox_id", sa.Integer(), *([sa.ForeignKey("outbox.id")] if referencing
                                                  else []), primary_key=True,
                    autoincrement=False)
    op.create_table(name, key, sa.Column("body_text", sa.Text(), nullable=False),
                    sa.Column("body_html", sa.Text(), nullable=False),
                    sa.Column("letter", sa.LargeBinary(), nullable=True),
                    sa.Column("mime", sa.LargeBinary(), nullable=False),
                    sa.Column("letter_source", sa.JSON(), nullable=True))


def _alter_outbox(nullable: bool) -> None:
    """SQLite alters a column by copying the table and dropping the old one, which must not be
    referenced by a foreign key at that moment: the payloads are moved aside meanwhile."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _payload_table("_outbox_payloads_move", referencing=False)
        op.execute(sa.text(f"INSERT INTO _outbox_payloads_move ({_PAYLOAD}) "
                           f"SELECT {_PAYLOAD} FROM outbox_payloads"))
        op.drop_table("outbox_payloads")
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column("subject", existing_type=sa.Text(), nullable=nullable)
        batch.alter_column("rendered_for", existing_type=sa.Date(), nullable=nullable)
    if sqlite:
        _payload_table("outbox_payloads", referencing=True)
        op.execute(sa.text(f"INSERT INTO outbox_payloads ({_PAYLOAD}) "
                           f"SELECT {_PAYLOAD} FROM _outbox_payloads_move"))
        op.drop_table("_outbox_payloads_move")


def upgrade() -> None:
    _alter_outbox(nullable=True)


def downgrade() -> None:
    # Entries not rendered yet have no text for the older schema: refuse rather than invent it.
    bind = op.get_bind()
    unrendered = bind.execute(sa.text(
        "SELECT COUNT(*) FROM outbox WHERE rendered_for IS NULL")).scalar_one()
    if unrendered:
        raise RuntimeError(f"{unrendered} queued notice(s) are not rendered yet: finish "
                           "sending them (dpa change send), or stay on revision 0004")
    _alter_outbox(nullable=False)
