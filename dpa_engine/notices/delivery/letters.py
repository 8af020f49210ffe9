"""Notice letters (.docx): rendered when asked for, from what the outbox kept for a notice
sent or attempted, or as the notice would be sent now for one never started."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ...files import write_atomically
from ...mail import SmtpSettings
from ...render import DocxRenderer
from ...storage import Database
from ...storage.schema import OutboxPayloadRow, OutboxRow, TargetRow
from ..changes import get_change
from ..compose import LetterSource, letter_document
from ..errors import NoticeError
from ..register import now_utc
from ..texts import NoticeTexts
from .render import ChangeFacts, change_facts, queued_addressee, render_notice


def change_outbox(session: Session, change_id: int, purposes: tuple[str, ...] = ("notice",)
                  ) -> list[OutboxRow]:
    """The change's outbox entries in order (`purposes`: the change notices, and/or the
    notices of its withdrawal), with their targets, customers, agreements and payloads
    loaded."""
    query = (select(OutboxRow).join(TargetRow, OutboxRow.target_id == TargetRow.id)
             .where(TargetRow.change_id == change_id, OutboxRow.purpose.in_(purposes))
             .order_by(OutboxRow.id)
             .options(selectinload(OutboxRow.target).selectinload(TargetRow.customer),
                      selectinload(OutboxRow.target).selectinload(TargetRow.agreement),
                      selectinload(OutboxRow.payload)))
    return list(session.execute(query).scalars())


def letter_bytes(payload: OutboxPayloadRow, renderer: DocxRenderer) -> bytes:
    """The .docx letter of a notice as it was sent (the same document every time)."""
    return renderer.render_bytes(letter_document(LetterSource.model_validate(
        payload.letter_source)))


def letters(db: Database, change_id: int, folder: Path, *, renderer: DocxRenderer,
            texts: NoticeTexts, settings: SmtpSettings | None = None,
            only_unnotified: bool = False,
            clock: Callable[[], datetime.datetime] = now_utc) -> list[Path]:
    """Write each customer's notice letter (.docx), e.g. for the fallback contacts: the
    notice as sent or, for one never sent (not rendered yet), as it would be sent now."""
    written = []
    with db.transaction() as session:
        change = get_change(session, change_id)
        facts: ChangeFacts | None = None
        for message in change_outbox(session, change_id):
            target = message.target
            if only_unnotified and target.status == "notified":
                continue
            if message.payload is not None:
                letter = letter_bytes(message.payload, renderer)
            else:
                facts = facts or change_facts(session, settings or SmtpSettings(), change)
                rendered = render_notice(facts, texts, queued_addressee(message), clock())
                letter = renderer.render_bytes(letter_document(rendered.letter_source))
            path = folder / f"change-{change_id}-{target.customer.key}.docx"
            write_atomically(path, letter)
            written.append(path)
    if not written and not (only_unnotified and change.status in ("sent", "closed")):
        raise NoticeError(f"change {change_id} has no letters" + (
            " for customers that were not notified" if only_unnotified else ""),
            fix=f"send it first: dpa change send {change_id}")
    return written
