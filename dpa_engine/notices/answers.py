"""What comes back after a notice: objections, consents, bounces, and letters posted.

An objection (or, under specific authorisation, a consent or refusal) is recorded with the
moment it arrived; one after the deadline is kept and flagged for follow-up. A bounce that
arrives after the server accepted a notice means the customer was NOT notified. A customer
reached by a posted letter instead is notified from the moment the letter went out: its
window runs from then.
"""

from __future__ import annotations

import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.chain import append_event
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import ChangeRow, CustomerRow, ObjectionRow, TargetRow
from .changes import get_change
from .deadlines import BRUSSELS, objection_deadline
from .errors import NoticeError
from .planning import agreement_window
from .register import find_customer, now_utc


class ObjectionReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    customer: str
    kind: str
    received_at: datetime.datetime
    deadline: datetime.datetime | None
    late: bool
    note: str


def change_target(session: Session, change: ChangeRow, customer_ref: str
                  ) -> tuple[CustomerRow, TargetRow]:
    """A customer (by key, number or name) and what the change told it; a clear error if the
    change did not concern it."""
    customer = find_customer(session, customer_ref)
    target = session.execute(select(TargetRow).where(
        TargetRow.change_id == change.id, TargetRow.customer_id == customer.id)
    ).scalar_one_or_none()
    if target is None and change.status in ("sending", "sent", "closed"):
        raise NoticeError(f"customer '{customer.key}' was not notified of change {change.id}",
                          fix=f"see who was notified: dpa change status {change.id}")
    if target is None:
        raise NoticeError(f"customer '{customer.key}' has not been sent change {change.id}",
                          fix=f"send the change first: dpa change send {change.id}")
    return customer, target


def record_objection(db: Database, change_id: int, customer_ref: str, *,
                     received_at: datetime.datetime, text: str, actor: str,
                     kind: Literal["objection", "consent"] = "objection",
                     now: datetime.datetime | None = None) -> ObjectionReport:
    """Record a customer's objection (or, under specific authorisation, its consent)."""
    safe_fields({"objection text": text, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=BRUSSELS)
    if received_at > moment + datetime.timedelta(minutes=5):
        raise NoticeError(f"received-at {received_at.isoformat()} is in the future",
                          field="--received-at", fix="give the moment the message arrived")
    if not text.strip():
        raise NoticeError("the text of the customer's message is empty", field="--text",
                          fix="paste the customer's message (or give --text-file)")
    with db.transaction() as session:
        change = get_change(session, change_id)
        customer, target = change_target(session, change, customer_ref)
        if target.kind == "informational":
            raise NoticeError(f"customer '{customer.key}' only received an informational notice "
                              f"for change {change_id}: there is nothing to object to or "
                              "consent to", fix="keep the message as ordinary correspondence")
        if kind == "consent" and target.kind != "consent":
            raise NoticeError(f"customer '{customer.key}' has general authorisation: no consent "
                              "is needed", fix="record only objections for this customer")
        if received_at < change.proposed_at:
            raise NoticeError("the message was received before the change was proposed",
                              field="--received-at", fix="check the date")
        late = target.deadline is not None and received_at >= target.deadline
        notes = []
        if late:
            notes.append("LATE: received after the deadline; flagged for follow-up")
        if change.status == "closed":
            notes.append(f"change {change_id} is closed; outcome stays '{target.outcome}'")
        session.add(ObjectionRow(change_id=change.id, target_id=target.id, kind=kind,
                                 received_at=received_at, text=text, late=late,
                                 recorded_at=moment, recorded_by=actor))
        if late or change.status == "closed":
            target.follow_up = join_note(target.follow_up, f"{kind} received "
                                     f"{received_at.isoformat()} after the deadline")
        append_event(session, "consented" if kind == "consent" else "objected", actor=actor,
                     at=moment, change_id=change.id, customer_key=customer.key,
                     data={"received_at": received_at.isoformat(), "late": late, "text": text,
                           "deadline": target.deadline.isoformat() if target.deadline else None})
        return ObjectionReport(change=change.id, customer=customer.key, kind=kind,
                               received_at=received_at, deadline=target.deadline, late=late,
                               note="; ".join(notes) or "on time")


def join_note(existing: str | None, note: str) -> str:
    """A follow-up note added to those already kept."""
    return f"{existing}; {note}" if existing else note


def record_bounce(db: Database, change_id: int, customer_ref: str, *, reason: str, actor: str,
                  now: datetime.datetime | None = None) -> None:
    """A bounce that arrived after the server had accepted the notice: NOT notified after all."""
    safe_fields({"bounce reason": reason, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    with db.transaction() as session:
        change = get_change(session, change_id)
        if change.status == "closed":
            raise NoticeError(f"change {change_id} is already closed",
                              fix="contact the customer through its fallback contact")
        customer, target = change_target(session, change, customer_ref)
        if target.status != "notified":
            raise NoticeError(f"customer '{customer.key}' is not recorded as notified "
                              f"(status {target.status})", fix="nothing to do")
        message = target.message
        if message is not None:
            message.status = "bounced"
            message.last_error = reason
        target.status, target.notified_at, target.deadline = "not-notified", None, None
        contact = customer.fallback_contact or "no fallback contact on file: find one"
        target.follow_up = join_note(target.follow_up,
                                     f"NOT notified: reach {contact} (letter: dpa change letters)")
        append_event(session, "bounced", actor=actor, at=moment, change_id=change.id,
                     customer_key=customer.key, data={"reason": reason, "after_acceptance": True})


class LetterReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    customer: str
    sent_at: datetime.datetime
    deadline: datetime.datetime | None


def record_letter_sent(db: Database, change_id: int, customer_ref: str, *,
                       sent_at: datetime.datetime, actor: str,
                       now: datetime.datetime | None = None) -> LetterReport:
    """A customer the e-mail did not reach got the notice by post: it is notified from
    `sent_at`, and its window (if any) runs from then, counted as for an e-mail."""
    safe_fields({"customer": customer_ref, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=BRUSSELS)
    if sent_at > moment:
        raise NoticeError(f"sent-at {sent_at.isoformat()} is in the future", field="--sent-at",
                          fix="record the letter once it has gone out, with the moment it did")
    with db.transaction() as session:
        change = get_change(session, change_id)
        customer, target = change_target(session, change, customer_ref)
        if change.status in ("closed", "withdrawn"):
            raise NoticeError(f"change {change_id} is {change.status}",
                              fix=f"see the outcome: dpa change status {change_id}")
        if target.status == "notified":
            raise NoticeError(f"customer '{customer.key}' was already notified of change "
                              f"{change_id} on {target.notified_at:%Y-%m-%d %H:%M} (UTC)",
                              fix="its window already runs; keep the letter as a copy")
        if target.status != "not-notified":
            raise NoticeError(f"the e-mail notice to '{customer.key}' is still being sent",
                              fix=f"finish sending first (dpa change send {change_id}), then "
                              "write the letters: dpa change letters "
                              f"{change_id} --unnotified --output-dir letters/")
        if sent_at < change.proposed_at:
            raise NoticeError("the letter went out before the change was proposed",
                              field="--sent-at", fix="check the date")
        deadline = None
        if target.kind != "informational":
            deadline = objection_deadline(sent_at, agreement_window(target.agreement))
        target.status, target.notified_at, target.deadline = "notified", sent_at, deadline
        target.follow_up = None  # reached: the earlier "NOT notified" follow-up is done
        append_event(session, "letter-sent", actor=actor, at=moment, change_id=change.id,
                     customer_key=customer.key,
                     data={"sent_at": sent_at.isoformat(),
                           "deadline": deadline.isoformat() if deadline else None})
        return LetterReport(change=change.id, customer=customer.key, sent_at=sent_at,
                            deadline=deadline)


__all__ = ["LetterReport", "ObjectionReport", "change_target", "join_note", "record_bounce",
           "record_letter_sent", "record_objection"]
