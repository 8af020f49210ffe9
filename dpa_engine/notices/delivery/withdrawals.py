"""Withdrawing a change that already went out: what the outbox does.

Notices not yet started are cancelled (status 'withdrawn': never sent). Every customer that
was notified, or may have been (a notice in doubt), gets a withdrawal notice, queued in the
same outbox and sent exactly once by `dpa change send` like any notice.
"""

from __future__ import annotations

import datetime
from typing import cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session

from ...audit.chain import Event, append_events
from ...storage.schema import CustomerRow, OutboxRow, SendLeaseRow, TargetRow
from ..errors import NoticeError
from . import outbox
from .render import ChangeFacts, message_id

OUTBOX = cast(Table, OutboxRow.__table__)
UNSENT = ("pending", "deferred")


def queue_withdrawals(session: Session, change_id: int, facts: ChangeFacts, *,
                      moment: datetime.datetime, actor: str) -> list[str]:
    """Cancel the change's unsent notices and queue a withdrawal notice for each customer
    that was (or may have been) notified; the keys of those customers."""
    outbox.take_over(session, change_id, moment=moment, actor=actor)
    of_change = OutboxRow.target_id.in_(
        select(TargetRow.id).where(TargetRow.change_id == change_id))
    busy = session.execute(
        select(func.count()).select_from(OutboxRow)
        .where(of_change, OutboxRow.status.in_(("claimed", "sending")),
               OutboxRow.claimed_by.in_(select(SendLeaseRow.sender)))).scalar_one()
    if busy:
        raise NoticeError(f"a 'dpa change send' is sending notices of change {change_id} "
                          "right now", fix="wait until it has finished, then withdraw again")
    rows = session.execute(
        select(TargetRow.id, TargetRow.status, CustomerRow.key, OutboxRow.id.label("message"),
               OutboxRow.status.label("message_status"), OutboxRow.phase)
        .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
        .join(OutboxRow, OutboxRow.target_id == TargetRow.id)
        .where(TargetRow.change_id == change_id, OutboxRow.purpose == "notice")
        .order_by(TargetRow.id)).all()
    unsent = [r for r in rows if r.message_status in UNSENT]
    if unsent:
        session.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.message for r in unsent]))
                        .values(status="withdrawn", claimed_by=None))
    # in doubt: the server may have taken the notice, so the customer hears of the withdrawal
    told = [r for r in rows if r.status == "notified" or r.phase == "data"]
    ids = {r.key: message_id(facts, r.key, "withdrawal") for r in told}
    if told:
        session.execute(insert(OUTBOX), [{
            "target_id": r.id, "purpose": "withdrawal", "message_id": ids[r.key],
            "status": "pending", "attempts": 0, "in_doubt_resends": 0, "refused_recipients": []}
            for r in told])
    events: list[Event] = [Event(event="withdrawal-queued", actor=actor, at=moment,
                                 change_id=change_id, customer_key=r.key,
                                 data={"message_id": ids[r.key]}) for r in told]
    events += [Event(event="cancelled", actor=actor, at=moment, change_id=change_id,
                     customer_key=r.key, data={"status": r.message_status})
               for r in unsent]
    append_events(session, events)
    return [r.key for r in told]


def withdrawals_pending(session: Session, change_id: int) -> int:
    """Withdrawal notices of the change still to be sent."""
    return session.execute(
        select(func.count()).select_from(OutboxRow)
        .join(TargetRow, OutboxRow.target_id == TargetRow.id)
        .where(TargetRow.change_id == change_id, OutboxRow.purpose == "withdrawal",
               OutboxRow.status.not_in(("sent", "failed", "bounced")))).scalar_one()


__all__ = ["queue_withdrawals", "withdrawals_pending"]
