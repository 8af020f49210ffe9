"""`send_change`: every notice of a change sent exactly once, by worker threads that each
keep one SMTP connection, from one or several processes (PostgreSQL) at once.

Each notice goes out in three steps, in `Worker.deliver`:

1. commit its start, with its exact bytes (outbox.start): from here on the server may have it;
2. the SMTP transaction (SmtpConnection.send);
3. commit its outcome (outbox.record_sent / record_failed / record_deferred).

A crash between 2 and 3 leaves one started, unrecorded message per connection: the next run
(or another sender, once this sender's lease is gone) takes it over and resends it with the
same Message-ID and bytes, reported and audited as an in-doubt resend.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...audit.chain import Event, append_events
from ...audit.crosscheck import artefact_digests
from ...bulk import paused_gc
from ...mail import Configuration, Permanent, SmtpConnection, SmtpSettings, Temporary
from ...safetext import safe_fields
from ...storage import Database
from ...storage.schema import OutboxRow, SendLeaseRow, TargetRow
from ..changes import get_change
from ..deadlines import brussels_day, objection_deadline, on_brussels_day
from ..errors import NoticeError, unreachable
from ..links import portal_secret, public_url
from ..register import now_utc
from ..texts import NoticeTexts
from . import outbox
from .lease import SenderLease, expire_dead_leases
from .outbox import Claimed
from .render import ChangeFacts, Rendered, change_facts, render_notice, render_withdrawal
from .report import ProgressCallback, SendProgress, SendReport, Tally, finish
from .withdrawals import withdrawals_pending

CLAIM_BATCH = 8  # the most messages a worker claims per transaction
POLL_SECONDS = 0.5  # how often to look again while other senders finish their messages


@dataclass
class Run:
    """What the workers of one run share (read-only, but for the tally, retries and stop)."""

    db: Database
    change_id: int
    settings: SmtpSettings
    texts: NoticeTexts
    actor: str
    clock: Callable[[], datetime.datetime]
    lease: SenderLease
    facts: ChangeFacts
    tally: Tally
    retries: Retries
    stopped: BaseException | None = None

    def stop(self, error: BaseException) -> None:
        if self.stopped is None:
            self.stopped = error


class Retries:
    """Attempts per message in this run, and when each deferred one may be tried again."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.tries: dict[int, int] = {}
        self.not_before: dict[int, float] = {}

    def attempt(self, message: int) -> int:
        with self.lock:
            self.tries[message] = self.tries.get(message, 0) + 1
            return self.tries[message]

    def defer(self, message: int) -> float:
        """Seconds until the next try (exponential backoff)."""
        with self.lock:
            delay = min(self.settings.backoff_seconds * 2.0 ** (self.tries.get(message, 1) - 1),
                        self.settings.backoff_max_seconds)
            self.not_before[message] = time.monotonic() + delay
            return delay

    def skip(self) -> set[int]:
        """Messages not to claim now: out of tries, or not due yet."""
        now = time.monotonic()
        with self.lock:
            return ({m for m, n in self.tries.items() if n >= self.settings.max_attempts}
                    | {m for m, at in self.not_before.items() if at > now})

    def next_due(self, waiting: set[int]) -> float | None:
        """Seconds until the first of `waiting` may be tried again (None: none may)."""
        now = time.monotonic()
        with self.lock:
            waits = [self.not_before.get(m, now) - now for m in waiting
                     if self.tries.get(m, 0) < self.settings.max_attempts]
        return max(0.0, min(waits)) if waits else None


class Worker:
    """One SMTP connection: claims a few messages at a time and delivers them one by one."""

    def __init__(self, run: Run, connection: SmtpConnection) -> None:
        self.run, self.smtp = run, connection
        self.batch = 1  # doubled up to CLAIM_BATCH: a small change still uses every connection

    def work(self) -> None:
        run = self.run
        try:
            while run.stopped is None:
                batch = self._claim_batch()
                if not batch:
                    return
                for message in batch:  # (left claimed when stopped: released by the run)
                    if run.stopped is not None:
                        return
                    self.deliver(message)
        except BaseException as exc:
            run.stop(exc)

    def _claim_batch(self) -> list[Claimed]:
        # in a transaction of its own, holding no other lock (on PostgreSQL, FOR UPDATE SKIP
        # LOCKED may lock rows it then skips: it must never wait for the audit log)
        run = self.run
        with run.db.transaction() as session:
            claimed = outbox.claim(session, run.change_id, run.lease.id, limit=self.batch,
                                   skip=run.retries.skip())
        self.batch = min(2 * self.batch, CLAIM_BATCH)
        return claimed

    def deliver(self, message: Claimed) -> None:
        run = self.run
        run.retries.attempt(message.id)
        moment = run.clock()
        rendered = None if _stored_bytes_hold(message, moment) else _render(run, message, moment)
        try:
            self.smtp.open()
        except Temporary as exc:  # no connection: an attempt that never started
            self._deferred(message, exc, started=False)
            return
        run.lease.check()
        with run.db.transaction() as session:  # 1. its start, with its exact bytes
            mime = outbox.start(session, run.lease.id, message, rendered, moment=moment,
                                actor=run.actor, change_id=run.change_id)
        if message.in_doubt:
            run.tally.resent_in_doubt(message.addressee.key)
        try:  # 2. the SMTP transaction
            refused = self.smtp.send(run.facts.sender, list(message.addressee.recipients), mime)
        except Temporary as exc:
            self._deferred(message, exc, started=True)
        except Permanent as exc:
            with run.db.transaction() as session:
                outbox.record_failed(session, run.lease.id, message, error=str(exc),
                                     at=run.clock(), actor=run.actor, change_id=run.change_id)
            run.tally.outcome(message.id, message.addressee.key, "failed")
        except Configuration:
            with run.db.transaction() as session:
                outbox.unstart(session, run.lease.id, message)
            raise
        else:  # 3. its outcome
            self._sent(message, rendered, mime, refused)

    def _sent(self, message: Claimed, rendered: Rendered | None, mime: bytes,
              refused: dict[str, str]) -> None:
        run = self.run
        at = run.clock()
        stated = rendered.stated_deadline if rendered is not None else message.stated_deadline
        deadline = None
        if message.addressee.window is not None and message.purpose == "notice":
            # never earlier than the notice says
            computed = objection_deadline(at, message.addressee.window)
            deadline = max(stated or computed, computed)
        subject = rendered.subject if rendered is not None else message.subject
        stored = message.stored_digests if rendered is None else artefact_digests(
            body_text=rendered.body_text, body_html=rendered.body_html,
            letter=rendered.letter_json)
        digests = {**(stored or {}), "mime_sha256": hashlib.sha256(mime).hexdigest()}
        with run.db.transaction() as session:
            outbox.record_sent(session, run.lease.id, message, digests=digests,
                               subject=subject or "", deadline=deadline, refused=refused, at=at,
                               actor=run.actor, change_id=run.change_id)
        run.tally.outcome(message.id, message.addressee.key, "sent")

    def _deferred(self, message: Claimed, error: Temporary, *, started: bool) -> None:
        run = self.run
        retry_in = run.retries.defer(message.id)
        with run.db.transaction() as session:
            outbox.record_deferred(session, run.lease.id, message, error=str(error),
                                   maybe_accepted=error.maybe_accepted, started=started,
                                   at=run.clock(), retry_in=retry_in, actor=run.actor,
                                   change_id=run.change_id)
        run.tally.outcome(message.id, message.addressee.key, "deferred")


def _render(run: Run, message: Claimed, moment: datetime.datetime) -> Rendered:
    if message.purpose == "withdrawal":
        announced = brussels_day(message.notified_at or moment)
        return render_withdrawal(run.facts, run.texts, message.addressee, announced, moment)
    return render_notice(run.facts, run.texts, message.addressee, moment)


def _stored_bytes_hold(message: Claimed, moment: datetime.datetime) -> bool:
    """Send the stored bytes: an in-doubt resend always (byte for byte), else only bytes
    rendered on the same Brussels day (the stated deadline moves with the day)."""
    if message.mime is None or message.rendered_for is None:
        return False
    return message.in_doubt or on_brussels_day(moment, message.rendered_for)


def send_change(db: Database, change_id: int, *, settings: SmtpSettings, texts: NoticeTexts,
                actor: str, clock: Callable[[], datetime.datetime] = now_utc,
                sleep: Callable[[float], None] = time.sleep,
                progress: ProgressCallback | None = None,
                stop_if_unreachable: bool = False) -> SendReport:
    """Queue (first run) and send every notice of a planned change; safe to rerun at any time,
    and on PostgreSQL from several processes at once. `progress` is called now and then (from
    a worker thread) with where the run stands. `stop_if_unreachable`: when the run's first
    connection cannot be opened, raise SmtpUnreachable at once (nothing attempted) instead of
    deferring every notice with backoff; failures after a connection succeeded still back off."""
    safe_fields({"actor": actor}, error=NoticeError)
    lease = SenderLease(db, exclusive=db.dialect == "sqlite")
    lease.acquire()
    tally = Tally(progress)
    limit: int | None = None
    reached = False  # a connection to the server was opened in this run
    try:
        if public_url():  # the notices link to the notice page: its secret exists before
            portal_secret(db)
        facts = _prepare(db, change_id, settings, actor, clock(), progress)
        run = Run(db=db, change_id=change_id, settings=settings, texts=texts, actor=actor,
                  clock=clock, lease=lease, facts=facts, tally=tally, retries=Retries(settings))
        while True:
            with db.transaction() as session:
                expire_dead_leases(session)
                outbox.take_over(session, change_id, moment=clock(), actor=actor)
                if tally.total is None:
                    tally.total = _count(session, change_id, ("pending", "deferred"))
                    tally.report(force=True)
            connections, allowed, failure = _open(settings)
            if stop_if_unreachable and not reached:
                if failure is not None:
                    raise unreachable(settings, failure, change_id, tally.total)
                reached = True
            if allowed is not None:
                limit = min(limit or allowed, allowed)
            _work(run, connections)
            if run.stopped is not None:
                raise _stop_reason(run.stopped, change_id)
            wait = _next_wait(db, run)
            if wait is None:
                break
            sleep(wait)
    finally:
        try:
            with db.transaction() as session:  # what was claimed but not started goes back
                outbox.release(session, lease.id)
        finally:
            lease.release()
    tally.report(force=True)
    return finish(db, change_id, tally, actor=actor, at=clock(), connection_limit=limit)


def _prepare(db: Database, change_id: int, settings: SmtpSettings, actor: str,
             moment: datetime.datetime, progress: ProgressCallback | None) -> ChangeFacts:
    """Check the change can be sent; queue its notices on the first run."""
    with db.transaction() as session:
        change = get_change(session, change_id)
        session.refresh(change, with_for_update=True)  # one sender queues, the others wait
        if change.status in ("sent", "closed"):
            raise NoticeError(f"change {change_id} was already sent",
                              fix=f"see the outcome: dpa change status {change_id}")
        if change.status == "withdrawn" and not withdrawals_pending(session, change_id):
            raise NoticeError(f"change {change_id} was withdrawn",
                              fix=f"see why: dpa change status {change_id}")
        if change.status == "proposed":
            raise NoticeError(f"change {change_id} has not been planned",
                              fix=f"review who gets it first: dpa change plan {change_id}")
        facts = change_facts(session, settings, change)
        if change.status == "planned":
            if progress is not None:
                progress(SendProgress(stage="queueing"))
            with paused_gc():
                outbox.enqueue(session, change, facts, moment=moment, actor=actor)
            append_events(session, [Event(event="sending", actor=actor, at=moment,
                                          change_id=change.id, data={})])
        return facts


def _open(settings: SmtpSettings) -> tuple[list[SmtpConnection], int | None, str | None]:
    """The run's connections, opened one by one, and how many the server allowed if it
    refused some (many relays cap connections per client): the run goes on with those. If
    the first cannot be opened, it is left to the first message (a failed attempt), and why
    it failed is the third value."""
    connections: list[SmtpConnection] = []
    for _ in range(settings.connections):
        connection = SmtpConnection(settings)
        try:
            connection.open()
        except (Temporary, Configuration) as exc:
            if connections:
                return connections, len(connections), None
            return [connection], None, str(exc) if isinstance(exc, Temporary) else None
        connections.append(connection)
    return connections, None, None


def _work(run: Run, connections: list[SmtpConnection]) -> None:
    workers = [threading.Thread(target=Worker(run, c).work, name=f"dpa-send-{n}", daemon=True)
               for n, c in enumerate(connections)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        for connection in connections:
            connection.close()


def _count(session: Session, change_id: int, statuses: tuple[str, ...]) -> int:
    return int(session.execute(
        select(func.count()).select_from(OutboxRow).join(TargetRow)
        .where(TargetRow.change_id == change_id, OutboxRow.status.in_(statuses))).scalar_one())


def _next_wait(db: Database, run: Run) -> float | None:
    """Seconds until there may be work again; None when this run is done."""
    with db.transaction() as session:
        elsewhere = session.execute(
            select(func.count()).select_from(OutboxRow).join(TargetRow)
            .where(TargetRow.change_id == run.change_id,
                   OutboxRow.status.in_(("claimed", "sending")),
                   OutboxRow.claimed_by.in_(select(SendLeaseRow.sender)))).scalar_one()
        waiting = set(session.execute(
            select(OutboxRow.id).join(TargetRow)
            .where(TargetRow.change_id == run.change_id,
                   OutboxRow.status.in_(outbox.CLAIMABLE))).scalars())
    due = run.retries.next_due(waiting)
    if due is not None:
        return due
    return POLL_SECONDS if elsewhere else None


def _stop_reason(error: BaseException, change_id: int) -> BaseException:
    if isinstance(error, Configuration):
        return NoticeError(str(error), field="SMTP settings",
                           fix="check DPA_SMTP_FROM / DPA_SMTP_USER / DPA_SMTP_PASSWORD, then "
                           f"rerun dpa change send {change_id}")
    return error
