"""Notice letters rendered when asked for: the outbox keeps what a letter is made from.

`outbox_payloads.letter_source` (JSON: the notice content, names, date and document
properties) is written when a notice is rendered; `outbox_payloads.letter` becomes optional and
is kept for entries rendered before this revision, whose letters stay exactly as they were.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_payloads") as batch:
        batch.add_column(sa.Column("letter_source", sa.JSON(), nullable=True))
        batch.alter_column("letter", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Letters that were never rendered cannot be rebuilt by SQL: refuse rather than lose them.
    bind = op.get_bind()
    missing = bind.execute(sa.text(
        "SELECT COUNT(*) FROM outbox_payloads WHERE letter IS NULL")).scalar_one()
    if missing:
        raise RuntimeError(f"{missing} notice letter(s) exist only as letter_source: export "
                           "them first (dpa change letters), or stay on revision 0003")
    with op.batch_alter_table("outbox_payloads") as batch:
        batch.alter_column("letter", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("letter_source")
