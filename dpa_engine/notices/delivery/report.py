"""What a send run reports: progress while it runs, and the outcome of every notice."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ...audit.chain import Event, append_events
from ...storage import Database
from ...storage.schema import CustomerRow, OutboxRow, TargetRow
from ..changes import get_change


class DeferredNotice(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    attempts: int
    error: str


class FailedNotice(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    error: str
    follow_up: str


class SendProgress(BaseModel):
    """Where a send run stands, for a progress display. `stage` 'queueing': recording every
    notice of the plan in the outbox (first run; `total` not known yet); 'sending': `sent` +
    `failed` of `total` are done, `deferred` wait for a retry."""

    model_config = ConfigDict(frozen=True)
    stage: Literal["queueing", "sending"]
    total: int | None = None
    sent: int = 0
    failed: int = 0
    deferred: int = 0


ProgressCallback = Callable[[SendProgress], None]


class SendReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    sent: list[str]
    already_sent: list[str]
    in_doubt_resent: list[str]
    failed: list[FailedNotice]
    deferred: list[DeferredNotice]
    complete: bool
    # the server refused connections beyond this many, and the run made do with them
    connection_limit: int | None = None


class Tally:
    """What this run did so far (its worker threads report here), passed on to a progress
    callback at most about ten times a second."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.total: int | None = None
        self.sent: list[str] = []
        self.in_doubt: list[str] = []
        self.failed = 0
        self.deferred: set[int] = set()
        self.reported = 0.0

    def outcome(self, message: int, key: str, kind: Literal["sent", "failed", "deferred"]
                ) -> None:
        with self.lock:
            if kind == "deferred":
                self.deferred.add(message)
            else:
                self.deferred.discard(message)
                if kind == "sent":
                    self.sent.append(key)
                else:
                    self.failed += 1
        self.report()

    def resent_in_doubt(self, key: str) -> None:
        with self.lock:
            self.in_doubt.append(key)

    def report(self, *, force: bool = False) -> None:
        if self.progress is None or self.total is None:
            return
        with self.lock:
            now = time.monotonic()
            if not force and now - self.reported < 0.1:
                return
            self.reported = now
            state = SendProgress(stage="sending", total=self.total, sent=len(self.sent),
                                 failed=self.failed, deferred=len(self.deferred))
        self.progress(state)


def finish(db: Database, change_id: int, tally: Tally, *, actor: str, at: datetime.datetime,
           connection_limit: int | None) -> SendReport:
    """The outcome of every notice; the change is 'sent' once none is left to send."""
    with db.transaction() as session:
        change = get_change(session, change_id)
        session.refresh(change, with_for_update=True)  # one 'send-complete', however many senders
        messages = session.execute(
            select(CustomerRow.key, OutboxRow.status, OutboxRow.attempts,
                   OutboxRow.last_error, TargetRow.follow_up)
            .join(TargetRow, OutboxRow.target_id == TargetRow.id)
            .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
            .where(TargetRow.change_id == change_id,
                   OutboxRow.purpose == ("withdrawal" if change.status == "withdrawn"
                                         else "notice"))
            .order_by(OutboxRow.id)).all()
        complete = all(m.status in ("sent", "failed", "bounced") for m in messages)
        if complete and change.status == "sending":
            change.status = "sent"
            append_events(session, [Event(
                event="send-complete", actor=actor, at=at, change_id=change.id,
                data={m.key: m.status for m in messages})])
        fresh = set(tally.sent)
        return SendReport(
            change=change_id, sent=sorted(fresh),
            already_sent=sorted(m.key for m in messages
                                if m.status == "sent" and m.key not in fresh),
            in_doubt_resent=sorted(set(tally.in_doubt)),
            failed=[FailedNotice(customer=m.key, error=m.last_error or "",
                                 follow_up=m.follow_up or "")
                    for m in messages if m.status in ("failed", "bounced")],
            deferred=[DeferredNotice(customer=m.key, attempts=m.attempts,
                                     error=m.last_error or "")
                      for m in messages if m.status not in ("sent", "failed", "bounced")],
            complete=complete, connection_limit=connection_limit)


__all__ = ["DeferredNotice", "FailedNotice", "SendProgress", "SendReport"]
