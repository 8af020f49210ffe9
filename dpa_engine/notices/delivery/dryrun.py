"""`dpa change send --dry-run`: every message the run would send, written as .eml files
instead of being sent. Nothing is queued, claimed, recorded or audited: the database is only
read. A message is rendered as it would be sent now, with the audit log's current head as
its witness header; one the run would send as stored (in doubt, or rendered earlier the same
Brussels day) is written as stored."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from ...audit.chain import head_of
from ...files import OutputSet
from ...mail import SmtpSettings
from ...storage import Database
from ...storage.schema import ChangeRow
from ..changes import get_change
from ..deadlines import brussels_day, on_brussels_day
from ..errors import NoticeError
from ..planning import plan_with_rows
from ..register import now_utc
from ..texts import NoticeTexts
from .letters import change_outbox
from .mime import with_witness
from .render import (
    Addressee,
    ChangeFacts,
    addressee,
    change_facts,
    message_id,
    queued_addressee,
    render_notice,
    render_withdrawal,
)
from .withdrawals import withdrawals_pending

DONE = ("sent", "failed", "bounced", "withdrawn")  # (withdrawn: cancelled, never sent)


def dry_run(db: Database, change_id: int, folder: Path, *, settings: SmtpSettings,
            texts: NoticeTexts, clock: Callable[[], datetime.datetime] = now_utc,
            inputs: Iterable[tuple[str, Path]] = ()) -> list[Path]:
    """Write `<customer key>.eml` in `folder` for each notice `send_change` would send now;
    all files or none. `inputs`: files that must not be replaced (the database)."""
    messages: dict[str, bytes] = {}
    with db.transaction() as session:  # read only: the transaction writes nothing
        change = get_change(session, change_id)
        if change.status == "proposed":
            raise NoticeError(f"change {change_id} has not been planned",
                              fix=f"review who gets it first: dpa change plan {change_id}")
        if change.status in ("sent", "closed"):
            raise NoticeError(f"change {change_id} was already sent: there is nothing left to "
                              "send", fix=f"see the outcome: dpa change status {change_id}")
        if change.status == "withdrawn" and not withdrawals_pending(session, change_id):
            raise NoticeError(f"change {change_id} was withdrawn",
                              fix=f"see why: dpa change status {change_id}")
        facts = change_facts(session, settings, change)
        moment, head = clock(), head_of(session)
        for who, stored, announced in _would_send(session, change, facts, moment):
            if stored is None:
                rendered = (render_notice(facts, texts, who, moment) if announced is None
                            else render_withdrawal(facts, texts, who, announced, moment))
                stored = with_witness(rendered.mime, head)
            messages[who.key] = stored
    if not messages:
        raise NoticeError(f"change {change_id} has no notice left to send",
                          fix=f"see the outcome: dpa change status {change_id}")
    with OutputSet(inputs=inputs) as output:
        for key, mime in messages.items():
            output.add(folder / f"{key}.eml", mime)
    return [folder / f"{key}.eml" for key in messages]


def _would_send(session: Session, change: ChangeRow, facts: ChangeFacts,
                moment: datetime.datetime
                ) -> list[tuple[Addressee, bytes | None, datetime.date | None]]:
    """Each addressee a run would send to now, with the stored bytes it would send as is,
    and for a withdrawal notice the day the change was announced to it."""
    if change.status == "planned":  # not queued yet: as the first run would queue them
        plan, rows = plan_with_rows(session, change, moment)
        if plan.plan_hash != change.plan_hash:
            raise NoticeError(f"the register changed since change {change.id} was planned",
                              fix=f"review the plan again: dpa change plan {change.id}")
        result: list[tuple[Addressee, bytes | None, datetime.date | None]] = []
        for entry in plan.affected:
            customer, agreement = rows[entry.customer]
            result.append((addressee(
                message_id=message_id(facts, customer.key), key=customer.key,
                name=customer.name, kind=entry.kind, language=entry.language,
                recipients=entry.recipients, reasons=[r.model_dump() for r in entry.reasons],
                agreement=agreement, contact_name=customer.contact_name,
                country=customer.country), None, None))
        return result
    result = []
    for message in change_outbox(session, change.id, ("notice", "withdrawal")):
        if message.status in DONE:
            continue
        announced = None if message.purpose == "notice" else brussels_day(
            message.target.notified_at or moment)
        payload = message.payload  # sent as stored: in doubt, or rendered the same day
        stored = payload is not None and message.rendered_for is not None and (
            message.phase == "data" or on_brussels_day(moment, message.rendered_for))
        result.append((queued_addressee(message),
                       bytes(payload.mime) if stored and payload is not None else None, announced))
    return result


__all__ = ["dry_run"]
