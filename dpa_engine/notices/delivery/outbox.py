"""The outbox's state transitions, each inside the caller's transaction.

    pending / deferred --claim--> claimed --start--> sending --> sent / failed / deferred
                  ^                  |                  |
                  +---- release -----+                  |
                  +---- take over (its sender is dead) -+   (phase 'data' kept: in doubt)

`start` stores the exact bytes and marks phase 'data' before the server can have the
message; a message taken over (or deferred) in phase 'data' is in doubt: it is resent with
the same Message-ID and bytes, and audited as such. Every update of a claimed message checks
that this sender still holds it.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Integer,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from ...audit.chain import Event, append_events, head_of, lock_log
from ...audit.crosscheck import artefact_digests
from ...storage.schema import (
    AgreementRow,
    ChangeRow,
    CustomerRow,
    ListVersionRow,
    OutboxPayloadRow,
    OutboxRow,
    SendLeaseRow,
    TargetRow,
)
from ..errors import NoticeError
from ..planning import plan_with_rows
from .mime import with_witness
from .render import Addressee, ChangeFacts, Rendered, addressee, message_id

CLAIMABLE = ("pending", "deferred")
# writes go to the tables (Core): no ORM bookkeeping for thousands of one-row updates
OUTBOX = cast(Table, OutboxRow.__table__)
PAYLOADS = cast(Table, OutboxPayloadRow.__table__)
TARGETS = cast(Table, TargetRow.__table__)


def enqueue(session: Session, change: ChangeRow, facts: ChangeFacts, *,
            moment: datetime.datetime, actor: str) -> None:
    """Every notice of the change into the outbox (targets, entries, 'queued' records), in
    the caller's transaction. Each notice is rendered when its SMTP transaction first starts."""
    plan, rows = plan_with_rows(session, change, moment)
    if plan.plan_hash != change.plan_hash:
        raise NoticeError(f"the register changed since change {change.id} was planned",
                          fix=f"review the plan again: dpa change plan {change.id}")
    targets: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    events: list[Event] = []
    for entry in plan.affected:
        customer, agreement = rows[entry.customer]
        reasons = [r.model_dump() for r in entry.reasons]
        message = message_id(facts, customer.key)
        targets.append({"change_id": change.id, "customer_id": customer.id,
                        "agreement_id": agreement.id, "kind": entry.kind, "reasons": reasons,
                        "language": entry.language, "recipients": list(entry.recipients),
                        "status": "queued"})
        messages.append({"message_id": message, "status": "pending", "attempts": 0,
                         "in_doubt_resends": 0, "refused_recipients": []})
        events.append(Event(event="queued", actor=actor, at=moment, change_id=change.id,
                            customer_key=customer.key, data={
                                "message_id": message, "kind": entry.kind,
                                "recipients": entry.recipients,
                                "agreement_version": agreement.version,
                                "window_days": entry.window_days,
                                "window_unit": entry.window_unit, "reasons": reasons}))
    if targets:  # multi-row inserts: thousands of customers cost a handful of statements
        target_ids = session.execute(
            insert(TARGETS).returning(TARGETS.c.id, sort_by_parameter_order=True),
            targets).scalars().all()
        session.execute(insert(OUTBOX), [{**message, "target_id": target_id} for
                                         message, target_id in zip(messages, target_ids,
                                                                   strict=True)])
    append_events(session, events)
    change.status = "sending"


def _of_change(change_id: int) -> Any:
    return OutboxRow.target_id.in_(select(TargetRow.id).where(TargetRow.change_id == change_id))


def take_over(session: Session, change_id: int, *, moment: datetime.datetime,
              actor: str) -> None:
    """Give back what senders without a live lease left claimed or started (see lease.py)."""
    lock_log(session)  # before any outbox row: a sender's writer locks the log, then its rows
    live = select(SendLeaseRow.sender)
    rows = session.execute(
        select(OutboxRow.id, OutboxRow.message_id, OutboxRow.status, OutboxRow.phase,
               CustomerRow.key)
        .join(TargetRow, OutboxRow.target_id == TargetRow.id)
        .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
        .where(TargetRow.change_id == change_id, OutboxRow.status.in_(("claimed", "sending")),
               OutboxRow.claimed_by.not_in(live))
        .with_for_update(of=OutboxRow, skip_locked=True)).all()
    if not rows:
        return
    session.execute(update(OUTBOX).where(OUTBOX.c.id.in_([r.id for r in rows]))
                    .values(status="pending", claimed_by=None))
    append_events(session, [
        Event(event="taken-over", actor=actor, at=moment, change_id=change_id,
              customer_key=row.key, data={"message_id": row.message_id, "phase": row.phase})
        for row in rows if row.status == "sending"])


@dataclass(frozen=True)
class Claimed:
    """A message claimed by this sender, with what sending and recording it needs."""

    id: int
    target_id: int
    purpose: str  # 'notice', or 'withdrawal' (the change was withdrawn after it went out)
    notified_at: datetime.datetime | None  # of the customer, by its notice
    addressee: Addressee
    services: frozenset[str]  # all the agreement's services (for the list snapshot)
    stated_deadline: datetime.datetime | None
    fallback_contact: str | None
    in_doubt: bool  # its last attempt reached DATA: the server may have it
    attempts: int  # counting this one
    rendered_for: datetime.date | None  # of the stored bytes, if any
    subject: str | None
    mime: bytes | None
    # digests of the stored text, HTML and letter source, when the bytes are stored
    stored_digests: dict[str, str] | None


_DETAILS = (
    select(OutboxRow.id, OutboxRow.message_id, OutboxRow.phase, OutboxRow.attempts,
           OutboxRow.purpose, TargetRow.notified_at,
           OutboxRow.rendered_for, OutboxRow.subject, TargetRow.id.label("target_id"),
           TargetRow.kind, TargetRow.language, TargetRow.reasons, TargetRow.recipients,
           TargetRow.stated_deadline, CustomerRow.key, CustomerRow.name,
           CustomerRow.contact_name, CustomerRow.country, CustomerRow.fallback_contact,
           AgreementRow.services, AgreementRow.reference,
           AgreementRow.version, AgreementRow.remedy, AgreementRow.window_days,
           AgreementRow.window_unit, AgreementRow.holiday_country, OutboxPayloadRow.mime,
           OutboxPayloadRow.body_text, OutboxPayloadRow.body_html,
           OutboxPayloadRow.letter_source)
    .join(TargetRow, OutboxRow.target_id == TargetRow.id)
    .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
    .join(AgreementRow, TargetRow.agreement_id == AgreementRow.id)
    .outerjoin(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
    .order_by(OutboxRow.id))


def claim(session: Session, change_id: int, sender: str, *, limit: int,
          skip: Collection[int] = ()) -> list[Claimed]:
    """Up to `limit` messages due for sending, marked as this sender's. Rows another
    transaction holds are skipped (FOR UPDATE SKIP LOCKED on PostgreSQL), so several senders
    never claim the same message."""
    # no ORDER BY: the status index yields claimable rows without sorting all of them, so a
    # claim costs the same for the first and the ten-thousandth message
    query = (select(OutboxRow.id).join(TargetRow, OutboxRow.target_id == TargetRow.id)
             .where(TargetRow.change_id == change_id, OutboxRow.status.in_(CLAIMABLE))
             .limit(limit).with_for_update(of=OutboxRow, skip_locked=True))
    if skip:
        query = query.where(OutboxRow.id.not_in(list(skip)))
    ids = list(session.execute(query).scalars())
    if not ids:
        return []
    session.execute(update(OUTBOX).where(OUTBOX.c.id.in_(ids))
                    .values(status="claimed", claimed_by=sender))
    return [Claimed(
        id=row.id, target_id=row.target_id, purpose=row.purpose, notified_at=row.notified_at,
        addressee=addressee(message_id=row.message_id, key=row.key, name=row.name,
                            kind=row.kind, language=row.language, recipients=row.recipients,
                            reasons=row.reasons, agreement=row,
                            contact_name=row.contact_name, country=row.country),
        services=frozenset(row.services), stated_deadline=row.stated_deadline,
        fallback_contact=row.fallback_contact, in_doubt=row.phase == "data",
        attempts=row.attempts + 1, rendered_for=row.rendered_for, subject=row.subject,
        mime=None if row.mime is None else bytes(row.mime),
        stored_digests=None if row.mime is None else artefact_digests(
            body_text=row.body_text, body_html=row.body_html, letter=row.letter_source))
        for row in session.execute(_DETAILS.where(OutboxRow.id.in_(ids)))]


def release(session: Session, sender: str) -> None:
    """Give back the messages this sender claimed and did not start."""
    session.execute(update(OUTBOX).where(OUTBOX.c.claimed_by == sender,
                                         OUTBOX.c.status == "claimed")
                    .values(status="pending", claimed_by=None))


def _held(session: Session, sender: str, message: int, held_as: str, **values: Any) -> None:
    """Update a message this sender holds in status `held_as`; refuse if it was taken over."""
    result = cast(CursorResult[Any], session.execute(
        update(OUTBOX).where(OUTBOX.c.id == message, OUTBOX.c.claimed_by == sender,
                             OUTBOX.c.status == held_as).values(**values)))
    if result.rowcount != 1:
        raise _taken_over()


def _taken_over() -> NoticeError:
    return NoticeError("another sender took over a message of this sender (its lease had "
                       "expired)", fix="rerun dpa change send; the message is resent in doubt "
                       "if need be")


_STARTED = {"status": "sending", "phase": "data", "attempts": OUTBOX.c.attempts + 1,
            "in_doubt_resends": OUTBOX.c.in_doubt_resends + bindparam("b_doubt", type_=Integer)}
_HOLDING = (update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"),
                                 OUTBOX.c.claimed_by == bindparam("b_sender"),
                                 OUTBOX.c.status == "claimed"))
_START = _HOLDING.values(**_STARTED)
_START_RENDERED = _HOLDING.values(**_STARTED, subject=bindparam("b_subject"),
                                  rendered_for=bindparam("b_day"))
_STATED = (update(TARGETS).where(TARGETS.c.id == bindparam("b_id"))
           .values(stated_deadline=bindparam("b_deadline")))
_PAYLOAD = insert(PAYLOADS)


def start(session: Session, sender: str, message: Claimed, rendered: Rendered | None, *,
          moment: datetime.datetime, actor: str, change_id: int) -> bytes:
    """From now on the server may have the message: phase 'data', with its exact bytes
    (`rendered`: new bytes to store, with the audit log's head at this commit as their witness
    header; None: send those stored). Returns the bytes to send."""
    held = {"b_id": message.id, "b_sender": sender, "b_doubt": int(message.in_doubt)}
    if rendered is None:
        result = session.execute(_START, held)
    else:
        result = session.execute(_START_RENDERED, {**held, "b_subject": rendered.subject,
                                                   "b_day": rendered.rendered_for})
    if cast(CursorResult[Any], result).rowcount != 1:
        raise _taken_over()
    if rendered is None:
        mime = message.mime
        assert mime is not None
    else:
        mime = with_witness(rendered.mime, head_of(session))
        if message.mime is not None:  # rendered on an earlier day: replaced
            session.execute(delete(PAYLOADS).where(PAYLOADS.c.outbox_id == message.id))
        session.execute(_PAYLOAD, {
            "outbox_id": message.id, "body_text": rendered.body_text,
            "body_html": rendered.body_html, "letter_source": rendered.letter_json,
            "mime": mime})
        if message.purpose == "notice":  # (a withdrawal keeps what the notice stated)
            session.execute(_STATED, {"b_id": message.target_id,
                                      "b_deadline": rendered.stated_deadline})
    if message.in_doubt:
        append_events(session, [Event(
            event="in-doubt-resend", actor=actor, at=moment, change_id=change_id,
            customer_key=message.addressee.key,
            data={"message_id": message.addressee.message_id,
                  "note": "resent with the same Message-ID and text"})])
    return mime


def unstart(session: Session, sender: str, message: Claimed) -> None:
    """A started message that never reached the server (our SMTP settings are wrong): as it
    was before, unclaimed, the attempt not counted."""
    _held(session, sender, message.id, "sending", status="pending", claimed_by=None,
          phase="data" if message.in_doubt else None, attempts=OUTBOX.c.attempts - 1,
          in_doubt_resends=OUTBOX.c.in_doubt_resends - int(message.in_doubt))


# the statements of every sent notice, built once (bind parameters named b_*)
_SENT = (update(OUTBOX).where(OUTBOX.c.id == bindparam("b_id"),
                              OUTBOX.c.claimed_by == bindparam("b_sender"),
                              OUTBOX.c.status == "sending")
         .values(status="sent", phase=None, claimed_by=None, sent_at=bindparam("b_at"),
                 refused_recipients=bindparam("b_refused"), last_error=bindparam("b_error")))
_NOTIFIED = (update(TARGETS).where(TARGETS.c.id == bindparam("b_id"))
             .values(status="notified", notified_at=bindparam("b_at"),
                     deadline=bindparam("b_deadline"),
                     follow_up=func.coalesce(bindparam("b_follow_up", type_=Text),
                                             TARGETS.c.follow_up)))
_CURRENT_LIST = (select(ListVersionRow.number, ListVersionRow.entries)
                 .order_by(ListVersionRow.number.desc()).limit(1))


def record_sent(session: Session, sender: str, message: Claimed, *, digests: dict[str, str],
                subject: str,
                deadline: datetime.datetime | None, refused: dict[str, str],
                at: datetime.datetime, actor: str, change_id: int) -> None:
    """The server took the message: the customer is notified, its window runs from `at`."""
    result = cast(CursorResult[Any], session.execute(_SENT, {
        "b_id": message.id, "b_sender": sender, "b_at": at, "b_refused": sorted(refused),
        "b_error": "; ".join(f"{r}: {e}" for r, e in refused.items()) or None}))
    if result.rowcount != 1:
        raise _taken_over()
    number, entries = session.execute(_CURRENT_LIST).one()
    if message.purpose == "withdrawal":
        append_events(session, [Event(
            event="sent", actor=actor, at=at, change_id=change_id,
            customer_key=message.addressee.key, data={
                "purpose": "withdrawal", "message_id": message.addressee.message_id,
                "recipients": list(message.addressee.recipients), "refused": refused,
                "attempt": message.attempts, "subject": subject, **digests})])
        return
    follow_up = (f"refused address(es) {', '.join(sorted(refused))}: update the customer's "
                 "notice_emails") if refused else None
    session.execute(_NOTIFIED, {"b_id": message.target_id, "b_at": at,
                                "b_deadline": deadline, "b_follow_up": follow_up})
    append_events(session, [Event(
        event="sent", actor=actor, at=at, change_id=change_id,
        customer_key=message.addressee.key, data={
            "message_id": message.addressee.message_id,
            "recipients": list(message.addressee.recipients), "refused": refused,
            "attempt": message.attempts,
            "deadline": deadline.isoformat() if deadline else None, "subject": subject,
            # the exact bytes sent, the text, HTML and letter source are in outbox_payloads;
            # their digests in the hash chain make them tamper-evident (`dpa audit verify`)
            **digests, "list_version": number,
            "list_snapshot": [e for e in entries if message.services & set(e["services"])]})])


def record_deferred(session: Session, sender: str, message: Claimed, *, error: str,
                    maybe_accepted: bool, started: bool, at: datetime.datetime,
                    retry_in: float, actor: str, change_id: int) -> None:
    """Not sent this time; `maybe_accepted`: the server may have it (in doubt from now on)."""
    in_doubt = maybe_accepted or message.in_doubt
    values: dict[str, Any] = {
        "status": "deferred", "claimed_by": None, "last_error": error,
        "phase": "data" if in_doubt else None,
        "next_attempt_at": at + datetime.timedelta(seconds=retry_in)}
    if not started:  # it failed before it could start (e.g. no connection): still an attempt
        values["attempts"] = OUTBOX.c.attempts + 1
    _held(session, sender, message.id, "sending" if started else "claimed", **values)
    append_events(session, [Event(
        event="send-failed", actor=actor, at=at, change_id=change_id,
        customer_key=message.addressee.key, data={
            "message_id": message.addressee.message_id, "error": error,
            "attempt": message.attempts, "retry_in_seconds": retry_in,
            "in_doubt": maybe_accepted})])


def record_failed(session: Session, sender: str, message: Claimed, *, error: str,
                  at: datetime.datetime, actor: str, change_id: int) -> None:
    """Refused for good: the customer was NOT notified and is listed for follow-up."""
    _held(session, sender, message.id, "sending", status="failed", phase=None, claimed_by=None,
          last_error=error)
    contact = message.fallback_contact or "no fallback contact on file: find one"
    if message.purpose == "withdrawal":  # notified of the change, not of its withdrawal
        follow_up = f"withdrawal notice NOT delivered ({error}): tell {contact}"
        session.execute(update(TARGETS).where(TARGETS.c.id == message.target_id)
                        .values(follow_up=follow_up))
    else:
        follow_up = (f"NOT notified ({error}): reach {contact} "
                     f"(letter: dpa change letters {change_id})")
        session.execute(update(TARGETS).where(TARGETS.c.id == message.target_id)
                        .values(status="not-notified", follow_up=follow_up))
    append_events(session, [Event(
        event="bounced", actor=actor, at=at, change_id=change_id,
        customer_key=message.addressee.key, data={
            "message_id": message.addressee.message_id, "error": error,
            "window_started": False, "follow_up": follow_up})])
