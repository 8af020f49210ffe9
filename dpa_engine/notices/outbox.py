"""Delivery: a transactional outbox and an SMTP sender that sends every notice exactly once.

How a notice travels, and why a crash (even kill -9) at any point does not lose or repeat it:

1. `send_change` first records every notice in the outbox (target, deadline, stable
   Message-ID, audit record) in ONE transaction, with the change marked 'sending'. A crash
   before that commit leaves nothing; after it, everything is recorded. The notices are then
   rendered in outbox order on a thread of their own while the first ones are already being
   sent (text, HTML, the exact MIME bytes and what the letter is made from, in
   `outbox_payloads`); a message is claimed only once its rendered bytes are committed. A run
   that stops before rendering everything leaves the rest for the rerun, which renders them
   first. (One notice of each shape is rendered before the queue commits, so a text missing
   in a language stops the run with nothing queued.)
2. Messages are claimed (`status='sending', phase='claimed'`, committed; up to CLAIM_BATCH
   per commit) and shared out over `connections` parallel SMTP connections. Before the
   server can accept a message, its phase becomes 'data' (committed): from then on the server
   may have it. As soon as the server answers 250 to the DATA, the message is recorded 'sent'
   (with the audit record and the start of the customer's window) in the very commit that
   moves the connection's next message to 'data' (or on its own if there is none). That
   commit is made while the next message's envelope and text are already travelling: only
   the end-of-data mark (CRLF . CRLF), without which no server accepts a message, waits for
   it. Commits of all connections are made together by one writer (group commit), so sending
   does not wait for one disk sync per message, and each connection has at most ONE
   accepted-but-unrecorded message at a time.
3. A rerun first takes over what a dead run left 'sending': a message still in phase
   'claimed' never started its SMTP transaction, so it is simply sent. A message in phase
   'data' is *in doubt*: the server may have accepted it just before the crash. It is resent
   with the SAME Message-ID and the same bytes (recipients' systems can drop the duplicate by
   Message-ID), and it is reported and audited as an in-doubt resend.

So the guarantee is: every notice is sent at least once, and exactly once unless the process
dies between a server's 250 and the next commit (milliseconds; at most `connections`
messages); SMTP offers no way to ask the server afterwards. `--connections 1` makes that at
most one message. Only one sender runs per database at a time (a PostgreSQL advisory lock or
a lock file next to the SQLite database, both released by the operating system if the process
dies).

Failures: temporary ones (4xx replies, connection errors) are retried with exponential
backoff and, if still failing, left 'deferred' and reported — a rerun retries them. A
permanent failure (5xx on RCPT for every recipient, or on DATA) means the customer was NOT
notified: its window does not start and it is listed for follow-up via its fallback contact.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    Connection,
    Table,
    bindparam,
    case,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from ..bulk import paused_gc
from ..models import SubProcessor
from ..render import DocxRenderer
from ..storage import Database
from ..storage.driversql import DriverStatement
from ..storage.groupcommit import GroupCommit, Ticket
from ..storage.schema import (
    AgreementRow,
    ChangeRow,
    CustomerRow,
    OutboxPayloadRow,
    OutboxRow,
    TargetRow,
)
from .audit import Event, append_events
from .changes import ChangeSummary, agreement_window, get_change, plan_with_rows, summary
from .compose import (
    LetterSource,
    NoticeFacts,
    compose_email,
    letter_document,
    notice_mime,
)
from .deadlines import (
    Window,
    brussels_day,
    make_window,
    objection_deadline,
    on_brussels_day,
)
from .errors import NoticeError
from .register import (
    ProviderSnapshot,
    current_list,
    installation_id,
    list_entries,
    now_utc,
    provider_snapshot,
)
from .smtp import SMTP_ENV, Configuration, Mailer, Permanent, SmtpSettings, Temporary
from .smtp import complete as _complete
from .smtp import start as _start
from .texts import NoticeTexts


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
    notice in the outbox (first run; `total` not known yet); 'sending': `sent` + `failed`
    of `total` are done, `deferred` wait for a retry."""

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


# --- one sender per database -----------------------------------------------------------------

@contextmanager
def sender_lock(db: Database) -> Iterator[None]:
    """Held for a whole send run; the OS releases it if the process dies."""
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            got = connection.execute(text("SELECT pg_try_advisory_lock(28032029)")).scalar()
            connection.commit()
            if not got:
                raise _busy()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(28032029)"))
                connection.commit()
        return
    database = db.engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_name(Path(database).name + ".send-lock"), "a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy() from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _busy() -> NoticeError:
    return NoticeError("another 'dpa change send' is running on this database",
                       fix="wait for it to finish, then rerun if it reports deferred notices")


# --- rendering into the outbox ---------------------------------------------------------------

def _sender(settings: SmtpSettings, contact: str | None) -> str:
    sender = settings.from_address or contact
    if not sender:
        raise NoticeError("no sender address for notices", field="--smtp-from / DPA_SMTP_FROM",
                          fix="set DPA_SMTP_FROM, or give the provider profile a privacy_contact "
                          "e-mail")
    return sender


@dataclass(frozen=True)
class _Facts:
    """What every notice of one change shares, read once per run instead of once per notice."""

    change_id: int
    change: ChangeSummary
    provider: ProviderSnapshot
    sender: str
    contact: str
    installation: str


def _facts(session: Session, settings: SmtpSettings, change: ChangeRow) -> _Facts:
    provider = provider_snapshot(session)
    sender = _sender(settings, provider.privacy_email)
    return _Facts(change_id=change.id, change=summary(change), provider=provider, sender=sender,
                  contact=provider.privacy_email or sender,
                  installation=installation_id(session))


def _message_id(facts: _Facts, customer_key: str) -> str:
    domain = facts.contact.rsplit("@", 1)[-1]
    return f"<dpa-notice.{facts.change_id}.{customer_key}.{facts.installation[:12]}@{domain}>"


@dataclass(frozen=True)
class _Job:
    """What rendering one queued notice needs, as plain values: notices are rendered outside
    the transaction that queued them (see _Renderer)."""

    outbox_id: int
    target_id: int
    kind: str
    language: str
    customer_name: str
    customer_key: str
    reference: str
    remedy: str
    window: Window | None
    services: frozenset[str]
    recipients: list[str]
    message_id: str

    @property
    def shape(self) -> tuple[object, ...]:
        """What decides the notice's sentences, apart from the customer's name and reference."""
        return (self.kind, self.language, self.remedy, self.window, self.services)


def _job(message_id: str, kind: str, language: str, customer: CustomerRow,
         agreement: AgreementRow, services: Collection[str], recipients: list[str], *,
         outbox_id: int = 0, target_id: int = 0) -> _Job:
    return _Job(outbox_id=outbox_id, target_id=target_id, kind=kind, language=language,
                customer_name=customer.name, customer_key=customer.key,
                reference=agreement.reference or f"v{agreement.version}",
                remedy=agreement.remedy,
                window=None if kind == "informational" else agreement_window(agreement),
                services=frozenset(services), recipients=list(recipients),
                message_id=message_id)


@dataclass(frozen=True)
class _Rendered:
    subject: str
    body_text: str
    body_html: str
    mime: bytes
    letter_source: dict[str, Any]
    stated_deadline: datetime.datetime | None
    rendered_for: datetime.date


def _render(facts: _Facts, texts: NoticeTexts, job: _Job, dispatch_at: datetime.datetime
            ) -> _Rendered:
    """One customer's notice as if dispatched at `dispatch_at`: the same inputs always give
    the same bytes (an in-doubt resend and the evidence pack rely on it)."""
    provider, info = facts.provider, facts.change
    window = job.window
    deadline = None if window is None else objection_deadline(dispatch_at, window)
    notice = NoticeFacts.model_validate({
        "language": job.language, "kind": job.kind, "action": info.action,
        "change_number": facts.change_id, "customer_name": job.customer_name,
        "provider_name": provider.name, "contact_email": facts.contact,
        "agreement_reference": job.reference,
        "subprocessor": info.subject,
        "replaced": info.previous if info.action == "replace" else None,
        "services": [_service_name(provider.services.get(s, s), job.language)
                     for s in sorted(job.services)],
        "effective_on": info.effective_on, "deadline": deadline, "window": window,
        "remedy": job.remedy})
    content, body_text, body_html = compose_email(notice, texts)
    mime = notice_mime(
        content, text=body_text, html_body=body_html, message_id=job.message_id,
        sender=facts.sender, recipients=job.recipients, reply_to=facts.contact,
        date=dispatch_at,
        headers={"X-DPA-Change": str(facts.change_id), "X-DPA-Customer": job.customer_key})
    letter = LetterSource(content=content, customer_name=job.customer_name,
                          provider_name=provider.name,
                          generated_at=dispatch_at.replace(microsecond=0),
                          custom={"dpa.change": str(facts.change_id),
                                  "dpa.customer": job.customer_key,
                                  "dpa.message_id": job.message_id})
    return _Rendered(subject=content.subject, body_text=body_text, body_html=body_html,
                     mime=mime, letter_source=letter.model_dump(mode="json"),
                     stated_deadline=deadline, rendered_for=brussels_day(dispatch_at))


def _service_name(name: object, language: str) -> str:
    if isinstance(name, dict):
        return str(name.get(language) or next(iter(name.values())))
    return str(name)


def _table(entity: type[Any]) -> Table:
    return cast(Table, entity.__table__)


def _enqueue(session: Session, change: ChangeRow, *, moment: datetime.datetime, actor: str,
             texts: NoticeTexts, settings: SmtpSettings) -> list[_Job]:
    """Every notice of the change into the outbox, as multi-row inserts in the caller's
    transaction (thousands of customers cost a handful of statements): targets, Message-IDs
    and audit records, but not the rendered notices, which `_Renderer` writes while the first
    ones are already being sent. One notice of each shape is rendered here, so a text or a
    sub-processor fact missing in a language stops the run with nothing queued. Returns what
    rendering the rest needs."""
    plan, rows = plan_with_rows(session, change, moment)
    if plan.plan_hash != change.plan_hash:
        raise NoticeError(f"the register changed since change {change.id} was planned",
                          fix=f"review the plan again: dpa change plan {change.id}")
    facts = _facts(session, settings, change)
    targets: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    jobs: list[_Job] = []
    events: list[Event] = []
    shapes: set[tuple[object, ...]] = set()
    rendered_for = brussels_day(moment)
    for entry in plan.affected:
        customer, agreement = rows[entry.customer]
        reasons = [r.model_dump() for r in entry.reasons]
        message_id = _message_id(facts, customer.key)
        job = _job(message_id, entry.kind, entry.language, customer, agreement,
                   {r.service for r in entry.reasons}, list(entry.recipients))
        if job.shape not in shapes:
            shapes.add(job.shape)
            _render(facts, texts, job, moment)
        jobs.append(job)
        targets.append({"change_id": change.id, "customer_id": customer.id,
                        "agreement_id": agreement.id, "kind": entry.kind, "reasons": reasons,
                        "language": entry.language, "recipients": list(entry.recipients),
                        "status": "queued",
                        "stated_deadline": None if job.window is None
                        else objection_deadline(moment, job.window)})
        # the subject is written with the rendered notice
        messages.append({"message_id": message_id, "subject": "",
                         "rendered_for": rendered_for, "status": "pending",
                         "attempts": 0, "in_doubt_resends": 0, "refused_recipients": []})
        events.append(Event(event="queued", actor=actor, at=moment, change_id=change.id,
                            customer_key=customer.key, data={
                                "message_id": message_id, "kind": entry.kind,
                                "recipients": entry.recipients,
                                "agreement_version": agreement.version,
                                "window_days": entry.window_days,
                                "window_unit": entry.window_unit, "reasons": reasons}))
    if targets:  # Core multi-row inserts on the tables (no ORM state per row)
        connection = session.connection()
        target_table, outbox_table = _table(TargetRow), _table(OutboxRow)
        target_ids = connection.execute(
            insert(target_table).returning(target_table.c.id, sort_by_parameter_order=True),
            targets).scalars().all()
        for message, target_id in zip(messages, target_ids, strict=True):
            message["target_id"] = target_id
        outbox_ids = connection.execute(
            insert(outbox_table).returning(outbox_table.c.id, sort_by_parameter_order=True),
            messages).scalars().all()
        jobs = [replace(job, outbox_id=outbox_id, target_id=target_id)
                for job, outbox_id, target_id in zip(jobs, outbox_ids, target_ids, strict=True)]
    append_events(session, events)
    change.status = "sending"
    return jobs


def _unrendered(session: Session, change_id: int) -> list[_Job]:
    """The change's queued notices that were never rendered (their run stopped first)."""
    query = (select(OutboxRow, TargetRow, CustomerRow, AgreementRow)
             .join(TargetRow, OutboxRow.target_id == TargetRow.id)
             .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
             .join(AgreementRow, TargetRow.agreement_id == AgreementRow.id)
             .outerjoin(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
             .where(TargetRow.change_id == change_id, OutboxPayloadRow.outbox_id.is_(None))
             .order_by(OutboxRow.id))
    return [_job(message.message_id, target.kind, target.language, customer, agreement,
                 {r["service"] for r in target.reasons}, list(target.recipients),
                 outbox_id=message.id, target_id=target.id)
            for message, target, customer, agreement in session.execute(query)]


# --- the send loop -----------------------------------------------------------------------------

CLAIM_BATCH = 200  # messages claimed per commit
COMMIT_DELAY = 0.0005  # seconds a group commit may wait for more connections' records


def _outbox_of(session: Session, change_id: int, *, light: bool = False) -> list[OutboxRow]:
    """The change's outbox in order. `light`: without the payloads (text, HTML, MIME, letter;
    loaded only if touched), with each target and customer loaded in one query for all
    messages; otherwise with the payloads too."""
    query = (select(OutboxRow).join(TargetRow, OutboxRow.target_id == TargetRow.id)
             .where(TargetRow.change_id == change_id).order_by(OutboxRow.id)
             .options(selectinload(OutboxRow.target).selectinload(TargetRow.customer)))
    if not light:
        query = query.options(selectinload(OutboxRow.payload))
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class _Claimed:
    """A message claimed for one SMTP transaction, with everything sending and recording it
    needs (read in the claim transaction, so the per-message commits write only)."""

    id: int
    message_id: str
    key: str
    target_id: int
    kind: str
    recipients: list[str]
    services: frozenset[str]
    window: Window | None
    stated_deadline: datetime.datetime | None
    deadline: datetime.datetime | None
    fallback_contact: str | None
    rendered_for: datetime.date
    in_doubt: bool
    attempts: int
    subject: str
    mime: bytes


# What the send loop records; a connection's records go into the next group commit.

@dataclass(frozen=True)
class _Starting:
    """The message's SMTP transaction starts now: from here on the server may get it."""

    claimed: _Claimed


@dataclass(frozen=True)
class _Sent:
    claimed: _Claimed
    refused: dict[str, str]
    at: datetime.datetime


@dataclass(frozen=True)
class _Deferred:
    claimed: _Claimed
    error: str
    maybe_accepted: bool
    at: datetime.datetime
    retry_in: float


@dataclass(frozen=True)
class _Failed:
    claimed: _Claimed
    error: str
    at: datetime.datetime


@dataclass(frozen=True)
class _Payloads:
    """Rendered notices to store (before any of them may be claimed)."""

    rendered: list[tuple[_Job, _Rendered]]


_Outcome = _Starting | _Sent | _Deferred | _Failed
_Record = _Outcome | _Payloads


def _columns(entity: type[Any], *names: str) -> dict[str, Column[Any]]:
    mapper = inspect(entity)
    return {name: mapper.columns[name] for name in names}


# The send loop's statements for every message, run on the driver (see storage.driversql).
_START = DriverStatement("UPDATE outbox SET phase = 'data' WHERE id = :id", {})
_SENT = DriverStatement(
    "UPDATE outbox SET status = 'sent', phase = NULL, sent_at = :sent_at, "
    "refused_recipients = :refused_recipients, last_error = :last_error WHERE id = :id",
    _columns(OutboxRow, "sent_at", "refused_recipients"))
_NOTIFIED = DriverStatement(
    "UPDATE change_targets SET status = 'notified', notified_at = :notified_at, "
    "deadline = :deadline, follow_up = COALESCE(:follow_up, follow_up) WHERE id = :id",
    _columns(TargetRow, "notified_at", "deadline"))
_LIST_NUMBER = DriverStatement("SELECT MAX(number) FROM list_versions", {})
_PAYLOAD = DriverStatement(
    "INSERT INTO outbox_payloads (outbox_id, body_text, body_html, mime, letter, letter_source) "
    "VALUES (:outbox_id, :body_text, :body_html, :mime, NULL, :letter_source)",
    _columns(OutboxPayloadRow, "mime", "letter_source"))
_RENDERED = DriverStatement(
    "UPDATE outbox SET subject = :subject, rendered_for = :rendered_for WHERE id = :id",
    _columns(OutboxRow, "rendered_for"))
_STATED = DriverStatement(
    "UPDATE change_targets SET stated_deadline = :stated_deadline WHERE id = :id",
    _columns(TargetRow, "stated_deadline"))


# What a claim reads for each message: one Core query, no ORM objects.
_CLAIMABLE = (
    select(OutboxRow.id, OutboxRow.message_id, OutboxRow.phase, OutboxRow.attempts,
           OutboxRow.rendered_for, OutboxRow.subject, TargetRow.id.label("target_id"),
           TargetRow.kind, TargetRow.recipients, TargetRow.stated_deadline, TargetRow.deadline,
           CustomerRow.key, CustomerRow.fallback_contact, AgreementRow.services,
           AgreementRow.window_days, AgreementRow.window_unit, AgreementRow.holiday_country,
           OutboxPayloadRow.mime)
    .join(TargetRow, OutboxRow.target_id == TargetRow.id)
    .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
    .join(AgreementRow, TargetRow.agreement_id == AgreementRow.id)
    .join(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)),
           OutboxRow.status.in_(("pending", "deferred")))
    .order_by(OutboxRow.id))


RENDER_CHUNK = 50  # rendered notices per group-commit record


def _store(connection: Connection, rendered: list[tuple[_Job, _Rendered]]) -> None:
    """Write rendered notices: payloads, subjects and the deadlines they state."""
    _PAYLOAD.run(connection, [
        {"outbox_id": job.outbox_id, "body_text": r.body_text, "body_html": r.body_html,
         "mime": r.mime, "letter_source": r.letter_source} for job, r in rendered])
    _RENDERED.run(connection, [{"id": job.outbox_id, "subject": r.subject,
                                "rendered_for": r.rendered_for} for job, r in rendered])
    _STATED.run(connection, [{"id": job.target_id, "stated_deadline": r.stated_deadline}
                             for job, r in rendered])


class _Renderer:
    """Renders queued notices that have no payload yet, in outbox order, on its own thread
    while the connections send the ones already rendered: the server does not idle while
    thousands of notices are rendered. Each chunk is stored through the run's group commit;
    the feed claims a message only once its payload is committed (`wait_for`)."""

    def __init__(self, run: _Run, jobs: list[_Job], moment: datetime.datetime) -> None:
        self.run, self.jobs, self.moment = run, jobs, moment
        self.condition = threading.Condition()
        self.stored_upto = 0  # every outbox entry up to this id has its payload committed
        self.finished = not jobs
        self.stopping = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="dpa-outbox-render",
                                       daemon=True)
        if jobs:
            self.thread.start()

    def _loop(self) -> None:
        run = self.run
        assert run.facts is not None
        waiting: tuple[Ticket, int] | None = None  # the previous chunk's commit
        try:
            for start in range(0, len(self.jobs), RENDER_CHUNK):
                if self.stopping:
                    break
                rendered = []
                for job in self.jobs[start:start + RENDER_CHUNK]:
                    rendered.append((job, _render(run.facts, run.texts, job, self.moment)))
                    time.sleep(0)  # hand the interpreter to a connection that has a reply
                ticket = run.ledger.submit([_Payloads(rendered)])
                if waiting is not None:
                    self._stored(*waiting)
                waiting = (ticket, rendered[-1][0].outbox_id)
            if waiting is not None:
                self._stored(*waiting)
        except BaseException as exc:  # the feed raises it in a connection's thread
            with self.condition:
                self.error = exc
        finally:
            with self.condition:
                self.finished = True
                self.condition.notify_all()

    def _stored(self, ticket: Ticket, upto: int) -> None:
        self.run.ledger.wait(ticket)
        with self.condition:
            self.stored_upto = upto
            self.condition.notify_all()

    def wait_for(self, outbox_id: int) -> None:
        """Return once the payloads of every entry up to `outbox_id` are committed (or there is
        nothing left to render); raise what stopped the rendering."""
        with self.condition:
            while not self.finished and self.stored_upto < outbox_id:
                self.condition.wait()
            if self.error is not None:
                raise self.error

    def close(self) -> None:
        """Let rendering finish (a few seconds at most), so every notice has its letter even
        when sending stopped early."""
        if self.thread.is_alive():
            self.thread.join()


class _Feed:
    """Hands claimed messages to the connections, claiming the next batch when one runs out."""

    def __init__(self, run: _Run, ready: list[int]) -> None:
        self.run = run
        self.waiting = deque(ready)
        self.claimed: deque[_Claimed] = deque()
        self.lock = threading.Lock()
        self.stopped = False

    def next(self) -> _Claimed | None:
        with self.lock:
            while not self.stopped:
                if self.claimed:
                    return self.claimed.popleft()
                if not self.waiting:
                    return None
                batch = [self.waiting.popleft()
                         for _ in range(min(CLAIM_BATCH, len(self.waiting)))]
                self.run.rendered(max(batch))
                self.claimed.extend(self.run.claim(batch))
            return None

    def stop(self) -> None:
        with self.lock:
            self.stopped = True

    def untried(self) -> list[int]:
        with self.lock:
            ids = [c.id for c in self.claimed]
            self.claimed.clear()
            return ids


class _Run:
    def __init__(self, db: Database, change_id: int, *, writer: Connection, claimer: Connection,
                 settings: SmtpSettings, texts: NoticeTexts, actor: str,
                 clock: Callable[[], datetime.datetime], sleep: Callable[[float], None],
                 progress: ProgressCallback | None = None) -> None:
        self.db, self.change_id, self.settings = db, change_id, settings
        self.progress = progress
        self.total: int | None = None
        self.failed = 0
        self.deferred: set[int] = set()
        self.reported = 0.0  # when progress was last reported (time.monotonic)
        # two connections held for the run: the group commits' and the claims'
        self.writer, self.claimer = writer, claimer
        self.texts, self.actor = texts, actor
        self.clock, self.sleep = clock, sleep
        self.mailers = [Mailer(settings) for _ in range(settings.connections)]
        # up to COMMIT_DELAY for the other connections' records (see GroupCommit): the wait
        # overlaps the message's envelope and text going out, and saves a sync per message
        self.ledger: GroupCommit[_Record] = GroupCommit(
            self._write, name="dpa-outbox-commit", delay=COMMIT_DELAY,
            siblings=max(1, settings.connections - 1))
        self.sent: list[str] = []
        self.in_doubt: list[str] = []
        self.tries: dict[int, int] = {}
        self.not_before: dict[int, float] = {}
        self.facts: _Facts | None = None
        # the published list, parsed once per list version; its snapshot per set of services
        self.list_number: int | None = None
        self.list_entries: list[SubProcessor] = []
        self.snapshots: dict[frozenset[str], list[dict[str, Any]]] = {}
        # the queued notices still to render, and the moment they are rendered for
        self.unrendered: list[_Job] = []
        self.moment: datetime.datetime | None = None
        self.renderer: _Renderer | None = None

    def prepare(self) -> None:
        """Queue the notices (first run) or take over what a dead run left 'sending'."""
        with self.db.transaction() as session:
            change = get_change(session, self.change_id)
            if change.status in ("sent", "closed"):
                raise NoticeError(f"change {self.change_id} was already sent",
                                  fix=f"see the outcome: dpa change status {self.change_id}")
            if change.status == "proposed":
                raise NoticeError(f"change {self.change_id} has not been planned",
                                  fix=f"review who gets it first: dpa change plan {self.change_id}")
            self.facts = _facts(session, self.settings, change)
            moment = self.moment = self.clock()
            if change.status == "planned":
                if self.progress is not None:
                    self.progress(SendProgress(stage="queueing"))
                with paused_gc():
                    self.unrendered = _enqueue(session, change, moment=moment, actor=self.actor,
                                               texts=self.texts, settings=self.settings)
                append_events(session, [Event(event="sending", actor=self.actor, at=moment,
                                              change_id=change.id, data={})])
                return
            self.unrendered = _unrendered(session, self.change_id)
            taken: list[Event] = []
            for message in _outbox_of(session, self.change_id, light=True):
                if message.status == "sending":  # left behind by a run that died
                    message.status = "pending"
                    taken.append(Event(event="taken-over", actor=self.actor, at=moment,
                                       change_id=change.id,
                                       customer_key=message.target.customer.key,
                                       data={"message_id": message.message_id,
                                             "phase": message.phase}))
            append_events(session, taken)

    def start_rendering(self) -> None:
        """Render what `prepare` left unrendered, alongside the sending."""
        assert self.moment is not None
        self.renderer = _Renderer(self, self.unrendered, self.moment)

    def rendered(self, outbox_id: int) -> None:
        """Wait until every entry up to `outbox_id` has its rendered notice committed."""
        if self.renderer is not None:
            self.renderer.wait_for(outbox_id)

    def due(self) -> tuple[list[int], float | None]:
        """Messages to try now, and how long to wait for the next retry (None: nothing left)."""
        with self.db.transaction() as session:
            rows = list(session.execute(
                select(OutboxRow.id).join(TargetRow, OutboxRow.target_id == TargetRow.id)
                .where(TargetRow.change_id == self.change_id,
                       OutboxRow.status.in_(("pending", "deferred")))
                .order_by(OutboxRow.id)).scalars())
        if self.total is None:
            self.total = len(rows)
            self.report_progress(force=True)
        now = time.monotonic()
        ready, waits = [], []
        for message_id in rows:
            if self.tries.get(message_id, 0) >= self.settings.max_attempts:
                continue
            start = self.not_before.get(message_id, 0.0)
            if start <= now:
                ready.append(message_id)
            else:
                waits.append(start - now)
        return ready, (min(waits) if waits else None)

    def claim(self, message_ids: list[int]) -> list[_Claimed]:
        """Claim several messages in one commit (phase 'claimed': none of them has started its
        SMTP transaction, so a crash from here on is resolved by simply sending them). Runs on
        the claim connection; the feed's lock keeps claims one at a time."""
        moment = self.clock()
        with self.db.committed(self.claimer) as connection:
            rows = connection.execute(_CLAIMABLE, {"ids": message_ids}).all()
            if len(rows) < len(message_ids):  # only one sender runs: the rest lack a payload
                raise NoticeError(f"{len(message_ids) - len(rows)} queued notice(s) of change "
                                  f"{self.change_id} have not been rendered",
                                  fix=f"rerun dpa change send {self.change_id}: it renders "
                                  "them first")
            ids = [row.id for row in rows]
            claimed = connection.execute(
                update(OutboxRow).where(OutboxRow.id.in_(ids),
                                        OutboxRow.status.in_(("pending", "deferred")))
                .values(status="sending", phase="claimed", attempts=OutboxRow.attempts + 1,
                        in_doubt_resends=OutboxRow.in_doubt_resends + case(
                            (OutboxRow.phase == "data", 1), else_=0))).rowcount
            if claimed != len(ids):  # only one sender runs: nobody else changes these rows
                raise NoticeError("the outbox changed while claiming notices",
                                  fix=f"rerun dpa change send {self.change_id}")
            result, events = [], []
            for row in rows:
                in_doubt = row.phase == "data"  # the last attempt may have reached DATA
                if in_doubt:  # the server may have it
                    self.in_doubt.append(row.key)
                    events.append(Event(event="in-doubt-resend", actor=self.actor, at=moment,
                                        change_id=self.change_id, customer_key=row.key,
                                        data={"message_id": row.message_id,
                                              "note": "resent with the same Message-ID and "
                                                      "text"}))
                self.tries[row.id] = self.tries.get(row.id, 0) + 1
                result.append(_Claimed(
                    id=row.id, message_id=row.message_id, key=row.key, target_id=row.target_id,
                    kind=row.kind, recipients=list(row.recipients),
                    services=frozenset(row.services),
                    window=(None if row.kind == "informational" else make_window(
                        row.window_days, row.window_unit, row.holiday_country)),
                    stated_deadline=row.stated_deadline, deadline=row.deadline,
                    fallback_contact=row.fallback_contact, rendered_for=row.rendered_for,
                    in_doubt=in_doubt, attempts=row.attempts + 1, subject=row.subject,
                    mime=row.mime))
            append_events(connection, events)
        return result

    def _rerender(self, claimed: _Claimed, moment: datetime.datetime) -> _Claimed:
        """A later day than rendered: re-render so the stated deadline is still right."""
        assert self.facts is not None
        with self.db.transaction() as session:
            message = session.get(OutboxRow, claimed.id, options=[
                joinedload(OutboxRow.payload),
                joinedload(OutboxRow.target).joinedload(TargetRow.customer),
                joinedload(OutboxRow.target).joinedload(TargetRow.agreement)])
            assert message is not None
            target = message.target
            job = _job(message.message_id, target.kind, target.language, target.customer,
                       target.agreement, {r["service"] for r in target.reasons},
                       list(target.recipients), outbox_id=message.id, target_id=target.id)
            rendered = _render(self.facts, self.texts, job, moment)
            message.subject, message.rendered_for = rendered.subject, rendered.rendered_for
            target.stated_deadline = rendered.stated_deadline
            payload = message.payload
            payload.body_text, payload.body_html = rendered.body_text, rendered.body_html
            payload.mime, payload.letter = rendered.mime, None
            payload.letter_source = rendered.letter_source
        return replace(claimed, rendered_for=rendered.rendered_for, subject=rendered.subject,
                       stated_deadline=rendered.stated_deadline, mime=rendered.mime)

    # -- one connection's loop

    def work(self, feed: _Feed, mailer: Mailer) -> None:
        """Send messages from `feed` over one connection until it runs dry.

        The commit that lets a message go out (phase 'data') also records the connection's
        previous message 'sent'. It is made while this message's envelope and text travel to
        the server; only the end-of-data mark, which lets the server accept the message, waits
        for it. So the connection does not idle for the disk, and still never has more than
        one accepted-but-unrecorded message."""
        assert self.facts is not None
        sender = self.facts.sender
        pending: _Sent | None = None
        try:
            while (claimed := feed.next()) is not None:
                if not claimed.in_doubt:  # an in-doubt message is resent byte for byte
                    moment = self.clock()
                    if not on_brussels_day(moment, claimed.rendered_for):
                        claimed = self._rerender(claimed, moment)
                starting: list[_Record] = [_Starting(claimed)]
                ticket = self.ledger.submit([pending, *starting] if pending else starting)
                pending = None
                try:
                    refused = _start(mailer, sender, claimed.recipients, claimed.mime)
                except (Temporary, Permanent, Configuration) as exc:
                    self.ledger.wait(ticket)
                    self._not_sent(feed, claimed, exc)
                    continue
                try:
                    self.ledger.wait(ticket)
                except BaseException:
                    mailer.drop()  # its start is not on record: the server must not accept it
                    raise
                self.report_progress()
                try:
                    _complete(mailer)
                except (Temporary, Permanent) as exc:
                    self._not_sent(feed, claimed, exc)
                else:
                    pending = self._delivered(claimed, refused)
        except Exception:
            if pending is not None:  # delivered: record it even when this run stops
                self.ledger.commit([pending])
            raise
        if pending is not None:
            self.ledger.commit([pending])

    def _not_sent(self, feed: _Feed, claimed: _Claimed,
                  error: Temporary | Permanent | Configuration) -> None:
        """Record why a message did not go out (or stop the run if our settings are wrong)."""
        if isinstance(error, Temporary):
            self.ledger.commit([self._deferred(claimed, str(error), error.maybe_accepted)])
        elif isinstance(error, Permanent):
            self.ledger.commit([_Failed(claimed, str(error), self.clock())])
        else:
            feed.stop()
            self._release([claimed.id])
            raise NoticeError(str(error), field="SMTP settings",
                              fix="check DPA_SMTP_FROM / DPA_SMTP_USER / DPA_SMTP_PASSWORD, "
                              f"then rerun dpa change send {self.change_id}") from None

    def _delivered(self, claimed: _Claimed, refused: dict[str, str]) -> _Sent:
        return _Sent(claimed, refused, self.clock())

    def _deferred(self, claimed: _Claimed, error: str, maybe_accepted: bool) -> _Deferred:
        tries = self.tries.get(claimed.id, 1)
        delay = min(self.settings.backoff_seconds * 2 ** (tries - 1),
                    self.settings.backoff_max_seconds)
        self.not_before[claimed.id] = time.monotonic() + delay
        return _Deferred(claimed, error, maybe_accepted, self.clock(), delay)

    # -- what the connections record, many messages per transaction

    def _write(self, records: list[_Record]) -> None:
        """Record the outcomes of several connections in one transaction (a group commit),
        on the writer connection; runs on the group commit's writer thread, one at a time."""
        sent: list[str] = []
        rendered = [pair for r in records if isinstance(r, _Payloads) for pair in r.rendered]
        outcomes = [r for r in records if not isinstance(r, _Payloads)]
        with self.db.committed(self.writer) as connection:
            if rendered:
                _store(connection, rendered)
            list_number = self._list_number(connection, outcomes)
            _START.run(connection, [{"id": r.claimed.id} for r in outcomes
                                    if isinstance(r, _Starting)])
            events: list[Event] = []
            outbox_rows: list[dict[str, Any]] = []
            target_rows: list[dict[str, Any]] = []
            sent_rows: list[dict[str, Any]] = []
            notified_rows: list[dict[str, Any]] = []
            failed, deferred, settled = 0, set[int](), set[int]()
            for record in outcomes:
                if isinstance(record, _Starting):
                    continue
                if isinstance(record, _Deferred):
                    deferred.add(record.claimed.id)
                else:
                    settled.add(record.claimed.id)
                    failed += isinstance(record, _Failed)
                row, target, event = self._record(connection, record, list_number)
                if isinstance(record, _Sent):  # the common case, straight on the driver
                    sent_rows.append(row)
                    notified_rows.append(target)
                    sent.append(record.claimed.key)
                else:
                    outbox_rows.append(row)
                    target_rows.append(target)
                events.append(event)
            _SENT.run(connection, sent_rows)
            _NOTIFIED.run(connection, notified_rows)
            if outbox_rows:  # failures (rare): ORM bulk UPDATE by primary key
                with Session(bind=connection) as session:
                    session.execute(update(OutboxRow), outbox_rows)
                    if any(target_rows):
                        session.execute(update(TargetRow), [t for t in target_rows if t])
            append_events(connection, events)
        self.sent.extend(sent)  # only once committed
        self.failed += failed
        self.deferred = (self.deferred | deferred) - settled

    def report_progress(self, *, force: bool = False) -> None:
        """Tell the progress callback, at most about ten times a second."""
        if self.progress is None or self.total is None:
            return
        now = time.monotonic()
        if not force and now - self.reported < 0.1:
            return
        self.reported = now
        self.progress(SendProgress(stage="sending", total=self.total, sent=len(self.sent),
                                   failed=self.failed, deferred=len(self.deferred)))

    def _record(self, connection: Connection, record: _Outcome, list_number: int | None
                ) -> tuple[dict[str, Any], dict[str, Any], Event]:
        """The outbox row values, target row values and audit record of one outcome."""
        claimed = record.claimed
        at = record.at  # type: ignore[union-attr]
        base = {"id": claimed.id}
        if isinstance(record, _Sent):
            refused = record.refused
            deadline = claimed.deadline
            if claimed.window is not None:
                computed = objection_deadline(at, claimed.window)
                deadline = max(claimed.stated_deadline or computed, computed)
            follow_up = (f"refused address(es) {', '.join(sorted(refused))}: update the "
                         "customer's notice_emails") if refused else None
            snapshot = self._list_snapshot(connection, list_number, claimed.services)
            return ({**base, "sent_at": at, "refused_recipients": sorted(refused),
                     "last_error": "; ".join(f"{r}: {e}" for r, e in refused.items()) or None},
                    {"id": claimed.target_id, "notified_at": at, "deadline": deadline,
                     "follow_up": follow_up},
                    Event(event="sent", actor=self.actor, at=at, change_id=self.change_id,
                          customer_key=claimed.key, data={
                              "message_id": claimed.message_id,
                              "recipients": list(claimed.recipients), "refused": refused,
                              "attempt": claimed.attempts,
                              "deadline": deadline.isoformat() if deadline else None,
                              "subject": claimed.subject,
                              # the exact bytes sent are in outbox_payloads; this digest in the
                              # hash chain makes them tamper-evident (`dpa audit verify`)
                              "mime_sha256": hashlib.sha256(claimed.mime).hexdigest(),
                              "list_version": self.list_number,
                              "list_snapshot": snapshot}))
        if isinstance(record, _Deferred):
            return ({**base, "status": "deferred", "last_error": record.error,
                     "phase": "data" if record.maybe_accepted else None,
                     "next_attempt_at": at + datetime.timedelta(seconds=record.retry_in)},
                    {},
                    Event(event="send-failed", actor=self.actor, at=at, change_id=self.change_id,
                          customer_key=claimed.key, data={
                              "message_id": claimed.message_id, "error": record.error,
                              "attempt": claimed.attempts, "retry_in_seconds": record.retry_in,
                              "in_doubt": record.maybe_accepted}))
        assert isinstance(record, _Failed)
        contact = claimed.fallback_contact or "no fallback contact on file: find one"
        follow_up = (f"NOT notified ({record.error}): reach {contact} "
                     f"(letter: dpa change letters {self.change_id})")
        return ({**base, "status": "failed", "phase": None, "last_error": record.error},
                {"id": claimed.target_id, "status": "not-notified", "follow_up": follow_up},
                Event(event="bounced", actor=self.actor, at=at, change_id=self.change_id,
                      customer_key=claimed.key, data={
                          "message_id": claimed.message_id, "error": record.error,
                          "window_started": False, "follow_up": follow_up}))

    @staticmethod
    def _list_number(connection: Connection, records: list[_Outcome]) -> int | None:
        """The current list's number, read once per transaction that records a sent notice."""
        if not any(isinstance(r, _Sent) for r in records):
            return None
        [(number,)] = _LIST_NUMBER.run(connection, [{}])
        return int(number) if number is not None else None

    def _list_snapshot(self, connection: Connection, number: int | None,
                       services: frozenset[str]) -> list[dict[str, Any]]:
        """The list's entries for these services (parsed once per list version; a list
        published during the run is picked up at the next commit)."""
        if number is None or number != self.list_number:
            with Session(bind=connection) as session:
                listed = current_list(session)
            self.list_number, self.list_entries = listed.number, list_entries(listed)
            self.snapshots = {}
        snapshot = self.snapshots.get(services)
        if snapshot is None:
            snapshot = [s.model_dump(mode="json", exclude_none=True) for s in self.list_entries
                        if services & set(s.services)]
            self.snapshots[services] = snapshot
        return snapshot

    def _release(self, message_ids: list[int]) -> None:
        """Give back claimed messages that were not tried (no attempt is counted)."""
        if not message_ids:
            return
        with self.db.transaction() as session:
            session.execute(update(OutboxRow).where(OutboxRow.id.in_(message_ids)).values(
                status="pending", phase=None, attempts=OutboxRow.attempts - 1)
                .execution_options(synchronize_session=False))
        for message_id in message_ids:
            self.tries[message_id] -= 1

    def send(self, ready: list[int]) -> None:
        """Send `ready` over up to `connections` SMTP connections at once."""
        feed = _Feed(self, ready)
        workers = min(len(self.mailers), len(ready))
        try:
            if workers <= 1:
                self.work(feed, self.mailers[0])
                return
            errors: list[BaseException] = []

            def guarded(mailer: Mailer) -> None:
                try:
                    self.work(feed, mailer)
                except BaseException as exc:  # handed to the caller's thread
                    feed.stop()
                    errors.append(exc)

            threads = [threading.Thread(target=guarded, args=(mailer,), daemon=True,
                                        name=f"dpa-smtp-{index}")
                       for index, mailer in enumerate(self.mailers[:workers])]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        except Exception:  # e.g. a configuration error: give back what was claimed, untried
            self._release(feed.untried())
            raise

    def close(self) -> None:
        for mailer in self.mailers:
            mailer.close()
        if self.renderer is not None:
            self.renderer.close()
        self.ledger.close()

    def finish(self) -> SendReport:
        moment = self.clock()
        with self.db.transaction() as session:
            change = get_change(session, self.change_id)
            messages = session.execute(
                select(CustomerRow.key, OutboxRow.status, OutboxRow.attempts,
                       OutboxRow.last_error, TargetRow.follow_up)
                .join(TargetRow, OutboxRow.target_id == TargetRow.id)
                .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
                .where(TargetRow.change_id == self.change_id).order_by(OutboxRow.id)).all()
            complete = all(m.status in ("sent", "failed", "bounced") for m in messages)
            if complete and change.status == "sending":
                change.status = "sent"
                append_events(session, [Event(
                    event="send-complete", actor=self.actor, at=moment, change_id=change.id,
                    data={m.key: m.status for m in messages})])
            fresh = set(self.sent)
            return SendReport(
                change=change.id, sent=sorted(fresh),
                already_sent=sorted(m.key for m in messages
                                    if m.status == "sent" and m.key not in fresh),
                in_doubt_resent=sorted(set(self.in_doubt)),
                failed=[FailedNotice(customer=m.key, error=m.last_error or "",
                                     follow_up=m.follow_up or "")
                        for m in messages if m.status in ("failed", "bounced")],
                deferred=[DeferredNotice(customer=m.key, attempts=m.attempts,
                                         error=m.last_error or "")
                          for m in messages if m.status in ("pending", "deferred")],
                complete=complete)


def send_change(db: Database, change_id: int, *, settings: SmtpSettings, texts: NoticeTexts,
                actor: str, clock: Callable[[], datetime.datetime] = now_utc,
                sleep: Callable[[float], None] = time.sleep,
                progress: ProgressCallback | None = None) -> SendReport:
    """Queue (first run) and send every notice of a planned change; safe to rerun at any time.
    `progress` is called now and then (from a sender thread) with where the run stands."""
    with sender_lock(db), db.dedicated() as writer, db.dedicated() as claimer:
        run = _Run(db, change_id, writer=writer, claimer=claimer, settings=settings,
                   texts=texts, actor=actor, clock=clock, sleep=sleep, progress=progress)
        run.prepare()
        try:
            run.start_rendering()
            while True:
                ready, wait = run.due()
                if ready:
                    run.send(ready)
                elif wait is not None:
                    run.sleep(wait)
                else:
                    break
        finally:
            run.close()
        run.report_progress(force=True)
        return run.finish()


def letter_bytes(payload: OutboxPayloadRow, renderer: DocxRenderer) -> bytes:
    """The notice's .docx letter: rendered from what the outbox kept (or, for entries from
    before letters were rendered on demand, the stored document)."""
    if payload.letter_source is not None:
        source = LetterSource.model_validate(payload.letter_source)
        return renderer.render_bytes(letter_document(source))
    if payload.letter is None:  # pragma: no cover - the schema always keeps one of the two
        raise NoticeError(f"outbox entry {payload.outbox_id} has no letter",
                          fix="report this as a bug")
    return payload.letter


def letters(db: Database, change_id: int, folder: Path, *, renderer: DocxRenderer,
            only_unnotified: bool = False) -> list[Path]:
    """Write each customer's notice letter (.docx), e.g. for the fallback contacts."""
    from ..render import write_atomically

    written = []
    with db.transaction() as session:
        get_change(session, change_id)
        for message in _outbox_of(session, change_id):
            target = message.target
            if only_unnotified and target.status == "notified":
                continue
            if message.payload is None:  # its run stopped before rendering it
                raise NoticeError(f"the notice to {target.customer.key} of change {change_id} "
                                  "has not been rendered yet",
                                  fix=f"finish sending the change: dpa change send {change_id}")
            path = folder / f"change-{change_id}-{target.customer.key}.docx"
            write_atomically(path, letter_bytes(message.payload, renderer))
            written.append(path)
    if not written:
        raise NoticeError(f"change {change_id} has no letters" + (
            " for customers that were not notified" if only_unnotified else ""),
            fix=f"send it first: dpa change send {change_id}")
    return written


__all__ = ["SMTP_ENV", "SendProgress", "SendReport", "SmtpSettings", "letter_bytes", "letters", "send_change",
           "sender_lock"]
