"""Delivery: a transactional outbox and an SMTP sender that sends every notice exactly once.

How a notice travels, and why a crash (even kill -9) at any point does not lose or repeat it:

1. `send_change` first records every notice of the plan (its target and an outbox entry with
   a stable Message-ID) in ONE transaction, with the change marked 'sending'. A crash before
   that commit leaves nothing; after it, everything is recorded. Rendering is left to the
   send loop, so the first notice goes out at once instead of after all of them were
   rendered: the rendering then overlaps the waits for the server.
2. Messages are read CLAIM_BATCH at a time and shared out over `connections` parallel SMTP
   connections, all driven by one thread without blocking. When a message's SMTP transaction
   starts it is rendered (text, HTML, the exact MIME bytes and what its letter is made from)
   unless an earlier attempt on the same day was; before the server can accept it, it is
   marked `status='sending', phase='data'` in a commit that also stores those bytes in
   `outbox_payloads`: from then on the server may have it, and we have what it may have.
   As soon as the server answers 250 to the DATA, the message is recorded 'sent' (with the
   audit record and the start of the customer's window) in the very commit that marks the
   connection's next message (or on its own if there is none). That commit is
   made while the next message's envelope and text are already travelling: only the
   end-of-data mark (CRLF . CRLF), without which no server accepts a message, waits for it.
   Commits of all connections are made together by one writer thread (group commit), so
   sending does not wait for one disk sync per message, and each connection has at most ONE
   accepted-but-unrecorded message at a time.
3. A rerun first takes over what a dead run left 'sending' (a message not yet marked is
   still 'pending' and simply sent). A message in phase 'data' is *in doubt*: the server
   may have accepted it just before the crash. It is resent with the SAME Message-ID and the
   same bytes (recipients' systems can drop the duplicate by Message-ID), and it is reported
   and audited as an in-doubt resend.

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
import selectors
import socket
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Column,
    Connection,
    Table,
    bindparam,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, selectinload

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
from .audit import Event, append_events, canonical_json, canonical_json_with
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
from .smtp import (
    SMTP_ENV,
    Accepted,
    Configuration,
    Permanent,
    SmtpSettings,
    Temporary,
    Wire,
)
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
    notice of the plan in the outbox (first run; `total` not known yet); 'sending': `sent` + `failed`
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
    # the server refused connections beyond this many, and the run made do with them
    connection_limit: int | None = None


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
class _Addressee:
    """What one customer's notice is rendered from, besides what a change's notices share."""

    message_id: str
    key: str
    name: str
    kind: str
    language: str
    recipients: tuple[str, ...]
    services: frozenset[str]  # the customer's services the change touches
    reference: str  # the agreement's reference, or its version as 'vN'
    window: Window | None  # the agreement's objection window (None: informational notice)
    remedy: str


def _addressee(*, message_id: str, key: str, name: str, kind: str, language: str,
               recipients: Collection[str], reasons: Collection[dict[str, Any]],
               agreement: Any) -> _Addressee:
    """`agreement`: an AgreementRow, or a query row with the same attribute names."""
    return _Addressee(
        message_id=message_id, key=key, name=name, kind=kind, language=language,
        recipients=tuple(recipients), services=frozenset(r["service"] for r in reasons),
        reference=agreement.reference or f"v{agreement.version}",
        window=None if kind == "informational" else agreement_window(agreement),
        remedy=agreement.remedy)


@dataclass(frozen=True)
class _Rendered:
    subject: str
    body_text: str
    body_html: str
    mime: bytes
    letter_source: str  # JSON (encoded by pydantic here, on the send loop's side)
    stated_deadline: datetime.datetime | None
    rendered_for: datetime.date


def _render(facts: _Facts, texts: NoticeTexts, who: _Addressee,
            dispatch_at: datetime.datetime) -> _Rendered:
    """One customer's notice as if dispatched at `dispatch_at`: the same inputs always give
    the same bytes (an in-doubt resend and the evidence pack rely on it)."""
    provider, info = facts.provider, facts.change
    window = who.window
    deadline = objection_deadline(dispatch_at, window) if window is not None else None
    notice = NoticeFacts.model_validate({
        "language": who.language, "kind": who.kind, "action": info.action,
        "change_number": facts.change_id, "customer_name": who.name,
        "provider_name": provider.name, "contact_email": facts.contact,
        "agreement_reference": who.reference, "subprocessor": info.subject,
        "replaced": info.previous if info.action == "replace" else None,
        "services": [_service_name(provider.services.get(s, s), who.language)
                     for s in sorted(who.services)],
        "effective_on": info.effective_on, "deadline": deadline, "window": window,
        "remedy": who.remedy})
    content, body_text, body_html = compose_email(notice, texts)
    mime = notice_mime(
        content, text=body_text, html_body=body_html, message_id=who.message_id,
        sender=facts.sender, recipients=list(who.recipients), reply_to=facts.contact,
        date=dispatch_at,
        headers={"X-DPA-Change": str(facts.change_id), "X-DPA-Customer": who.key})
    letter = LetterSource(content=content, customer_name=who.name,
                          provider_name=provider.name,
                          generated_at=dispatch_at.replace(microsecond=0),
                          custom={"dpa.change": str(facts.change_id),
                                  "dpa.customer": who.key, "dpa.message_id": who.message_id})
    return _Rendered(subject=content.subject, body_text=body_text, body_html=body_html,
                     mime=mime, letter_source=letter.model_dump_json(),
                     stated_deadline=deadline, rendered_for=brussels_day(dispatch_at))


def _addressee_of(message: OutboxRow) -> _Addressee:
    target = message.target
    return _addressee(message_id=message.message_id, key=target.customer.key,
                      name=target.customer.name, kind=target.kind, language=target.language,
                      recipients=target.recipients, reasons=target.reasons,
                      agreement=target.agreement)


def _service_name(name: object, language: str) -> str:
    if isinstance(name, dict):
        return str(name.get(language) or next(iter(name.values())))
    return str(name)


def _table(entity: type[Any]) -> Table:
    return cast(Table, entity.__table__)


def _enqueue(session: Session, change: ChangeRow, facts: _Facts, *, moment: datetime.datetime,
             actor: str) -> None:
    """Every notice of the change into the outbox, as multi-row inserts in the caller's
    transaction (thousands of customers cost a handful of statements). Each is rendered when
    it is first sent (see `_Run._begin`)."""
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
        message_id = _message_id(facts, customer.key)
        targets.append({"change_id": change.id, "customer_id": customer.id,
                        "agreement_id": agreement.id, "kind": entry.kind, "reasons": reasons,
                        "language": entry.language, "recipients": list(entry.recipients),
                        "status": "queued", "stated_deadline": None})
        messages.append({"message_id": message_id, "subject": None, "rendered_for": None,
                         "status": "pending", "attempts": 0, "in_doubt_resends": 0,
                         "refused_recipients": []})
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
        connection.execute(insert(outbox_table), messages)
    append_events(session, events)
    change.status = "sending"


# --- the send loop -----------------------------------------------------------------------------

CLAIM_BATCH = 200  # messages read per query
# A message text up to this size waits for its commit and then goes out in one write with
# its end-of-data mark: the server takes it in one read (a notice is ~5 KB), and sending it
# earlier would save nothing, as the mark would follow it a round trip later anyway.
HOLD_TEXT = 64 * 1024
# Seconds a group commit may wait for more connections' records; a connection that needs
# its commit (its message's text is out) hurries it, so this only bounds the gathering.
COMMIT_DELAY = 0.0005


def _outbox_of(session: Session, change_id: int, *, light: bool = False) -> list[OutboxRow]:
    """The change's outbox in order. `light`: without the payloads (text, HTML, MIME, letter;
    loaded only if touched), with each target and customer loaded in one query for all
    messages; otherwise with the payloads too."""
    query = (select(OutboxRow).join(TargetRow, OutboxRow.target_id == TargetRow.id)
             .where(TargetRow.change_id == change_id).order_by(OutboxRow.id)
             .options(selectinload(OutboxRow.target).selectinload(TargetRow.customer),
                      selectinload(OutboxRow.target).selectinload(TargetRow.agreement)))
    if not light:
        query = query.options(selectinload(OutboxRow.payload))
    return list(session.execute(query).scalars())


@dataclass(frozen=True)
class _Claimed:
    """A message claimed for one SMTP transaction, with everything sending and recording it
    needs (read in the claim transaction, so the per-message commits write only)."""

    id: int
    target_id: int
    addressee: _Addressee
    services: frozenset[str]  # all the agreement's services (for the list snapshot)
    stated_deadline: datetime.datetime | None
    deadline: datetime.datetime | None
    fallback_contact: str | None
    in_doubt: bool
    attempts: int
    # what the last rendering made (all None until the message is first rendered)
    rendered_for: datetime.date | None
    subject: str | None
    mime: bytes | None

    @property
    def message_id(self) -> str:
        return self.addressee.message_id

    @property
    def key(self) -> str:
        return self.addressee.key

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.addressee.recipients

    @property
    def window(self) -> Window | None:
        return self.addressee.window


# What the send loop records; a connection's records go into the next group commit.

@dataclass(frozen=True)
class _Starting:
    """The message's SMTP transaction starts now: from here on the server may get it."""

    claimed: _Claimed


@dataclass(frozen=True)
class _Prepared:
    """A message rendered in this run (ahead, while the loop waited, or as it starts): its
    bytes go with the next records submitted, so they are stored with the record of its
    start or before it; `replaces`: over an earlier day's rendering."""

    claimed: _Claimed
    rendered: _Rendered
    replaces: bool


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


_Record = _Starting | _Prepared | _Sent | _Deferred | _Failed


def _columns(entity: type[Any], *names: str) -> dict[str, Column[Any]]:
    mapper = inspect(entity)
    return {name: mapper.columns[name] for name in names}


# The send loop's statements for every message, run on the driver (see storage.driversql).
_STARTING = ("UPDATE outbox SET status = 'sending', phase = 'data', attempts = attempts + 1, "
             "in_doubt_resends = in_doubt_resends + CASE WHEN phase = 'data' THEN 1 ELSE 0 END")
_START = DriverStatement(_STARTING + " WHERE id = :id", {})
_SENT = DriverStatement(
    "UPDATE outbox SET status = 'sent', phase = NULL, sent_at = :sent_at, "
    "refused_recipients = :refused_recipients, last_error = :last_error WHERE id = :id",
    _columns(OutboxRow, "sent_at", "refused_recipients"))
_NOTIFIED = DriverStatement(
    "UPDATE change_targets SET status = 'notified', notified_at = :notified_at, "
    "deadline = :deadline, follow_up = COALESCE(:follow_up, follow_up) WHERE id = :id",
    _columns(TargetRow, "notified_at", "deadline"))
_LIST_NUMBER = DriverStatement("SELECT MAX(number) FROM list_versions", {})
# ... and for a message rendered when its transaction starts, in the commit of that start
_DROP_PAYLOAD = DriverStatement("DELETE FROM outbox_payloads WHERE outbox_id = :id", {})
_PAYLOAD = DriverStatement(
    "INSERT INTO outbox_payloads (outbox_id, body_text, body_html, letter, letter_source, mime) "
    "VALUES (:outbox_id, :body_text, :body_html, NULL, :letter_source, :mime)",
    _columns(OutboxPayloadRow, "mime"), json_text=("letter_source",))
_RENDERED = DriverStatement(
    "UPDATE outbox SET subject = :subject, rendered_for = :rendered_for WHERE id = :id",
    _columns(OutboxRow, "rendered_for"))
# (the usual case: a message rendered and started in the same commit, one row update)
_START_RENDERED = DriverStatement(
    _STARTING + ", subject = :subject, rendered_for = :rendered_for WHERE id = :id",
    _columns(OutboxRow, "rendered_for"))
_STATED = DriverStatement(
    "UPDATE change_targets SET stated_deadline = :stated_deadline WHERE id = :id",
    _columns(TargetRow, "stated_deadline"))


# What a claim reads for each message: one Core query, no ORM objects.
_CLAIMABLE = (
    select(OutboxRow.id, OutboxRow.message_id, OutboxRow.phase, OutboxRow.attempts,
           OutboxRow.rendered_for, OutboxRow.subject, TargetRow.id.label("target_id"),
           TargetRow.kind, TargetRow.language, TargetRow.reasons, TargetRow.recipients,
           TargetRow.stated_deadline, TargetRow.deadline, CustomerRow.key, CustomerRow.name,
           CustomerRow.fallback_contact, AgreementRow.services, AgreementRow.reference,
           AgreementRow.version, AgreementRow.remedy, AgreementRow.window_days,
           AgreementRow.window_unit, AgreementRow.holiday_country, OutboxPayloadRow.mime)
    .join(TargetRow, OutboxRow.target_id == TargetRow.id)
    .join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
    .join(AgreementRow, TargetRow.agreement_id == AgreementRow.id)
    .outerjoin(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)),
           OutboxRow.status.in_(("pending", "deferred")))
    .order_by(OutboxRow.id))


class _Feed:
    """Hands out the messages to send, reading them CLAIM_BATCH at a time."""

    def __init__(self, run: _Run, ready: list[int]) -> None:
        self.run = run
        self.waiting = deque(ready)
        self.loaded: deque[_Claimed] = deque()

    @property
    def more(self) -> bool:
        return bool(self.loaded or self.waiting)

    def put_back(self, claimed: _Claimed) -> None:
        self.loaded.appendleft(claimed)

    def next(self) -> _Claimed | None:
        while not self.loaded:
            if not self.waiting:
                return None
            batch = [self.waiting.popleft() for _ in range(min(CLAIM_BATCH, len(self.waiting)))]
            self.loaded.extend(self.run.load(batch))
        return self.loaded.popleft()


@dataclass
class _Slot:
    """One connection of the send loop and the message it carries."""

    wire: Wire
    retired: bool = False  # the server would not take this many connections
    claimed: _Claimed | None = None
    started: Ticket | None = None  # the commit that records the message's start
    text: bool = False  # the server has the message's text, all but the end-of-data mark
    delivered: _Sent | None = None  # accepted; recorded with the connection's next start


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
        # the send loop's connections, and a socket pair through which a commit wakes it
        self.selector = selectors.DefaultSelector()
        self.wires = [Wire(settings, self.selector) for _ in range(settings.connections)]
        self.waker = socket.socketpair()
        for end in self.waker:
            end.setblocking(False)
        self.selector.register(self.waker[0], selectors.EVENT_READ, None)
        # up to COMMIT_DELAY for the other connections' records (see GroupCommit): the wait
        # overlaps the message's envelope and text going out, and saves a sync per message
        self.ledger: GroupCommit[_Record] = GroupCommit(
            self._write, name="dpa-outbox-commit", delay=COMMIT_DELAY,
            siblings=max(1, settings.connections - 1), on_commit=self._wake)
        self.unwaited: list[Ticket] = []  # commits of this round whose errors come at the end
        self.stopping: NoticeError | None = None  # why no new message starts
        self.write_failed: BaseException | None = None  # (see _write)
        # rendered while the loop waited, not submitted yet (dropped if never started)
        self.rendered_ahead: list[_Prepared] = []
        self.released: list[int] = []  # messages given back untried
        self.slots: list[_Slot] = []
        self.connection_limit: int | None = None
        self.sent: list[str] = []
        self.in_doubt: list[str] = []
        self.tries: dict[int, int] = {}
        self.not_before: dict[int, float] = {}
        self.facts: _Facts | None = None
        # the published list, parsed once per list version; its snapshot per set of services
        self.list_number: int | None = None
        self.list_entries: list[SubProcessor] = []
        self.snapshots: dict[frozenset[str], tuple[list[dict[str, Any]], str]] = {}

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
            moment = self.clock()
            if change.status == "planned":
                if self.progress is not None:
                    self.progress(SendProgress(stage="queueing"))
                with paused_gc():
                    _enqueue(session, change, self.facts, moment=moment, actor=self.actor)
                append_events(session, [Event(event="sending", actor=self.actor, at=moment,
                                              change_id=change.id, data={})])
                return
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

    def load(self, message_ids: list[int]) -> list[_Claimed]:
        """Read what sending and recording these messages needs, in one query (nothing is
        written: a message is marked only when its SMTP transaction starts)."""
        with self.db.committed(self.claimer) as connection:
            rows = connection.execute(_CLAIMABLE, {"ids": message_ids}).all()
        return [_Claimed(
            id=row.id, target_id=row.target_id,
            addressee=_addressee(message_id=row.message_id, key=row.key, name=row.name,
                                 kind=row.kind, language=row.language,
                                 recipients=row.recipients, reasons=row.reasons, agreement=row),
            services=frozenset(row.services), stated_deadline=row.stated_deadline,
            deadline=row.deadline, fallback_contact=row.fallback_contact,
            # the last attempt reached DATA: the server may have it
            in_doubt=row.phase == "data", attempts=row.attempts + 1,
            rendered_for=row.rendered_for, subject=row.subject,
            mime=None if row.mime is None else bytes(row.mime))
            for row in rows]

    def _stale(self, claimed: _Claimed, moment: datetime.datetime) -> bool:
        """Not rendered yet, or on an earlier day (its stated deadline would be wrong); an
        in-doubt message is resent byte for byte instead."""
        if claimed.mime is None or claimed.rendered_for is None:
            return True
        return not claimed.in_doubt and not on_brussels_day(moment, claimed.rendered_for)

    def _render_now(self, claimed: _Claimed, moment: datetime.datetime) -> _Prepared:
        assert self.facts is not None
        rendered = _render(self.facts, self.texts, claimed.addressee, moment)
        return _Prepared(replace(claimed, rendered_for=rendered.rendered_for,
                                 subject=rendered.subject,
                                 stated_deadline=rendered.stated_deadline, mime=rendered.mime),
                         rendered, replaces=claimed.mime is not None)

    def _render_ahead(self, feed: _Feed) -> bool:
        """Render the next message due to start, if one needs it, while every connection
        waits for a server, so that a connection freed by a reply starts its next message at
        once; its bytes ride in the next commit (no commit of their own). True if it did."""
        if self.stopping is not None:
            return False
        moment = None
        for index in range(min(len(feed.loaded), len(self.slots))):
            claimed = feed.loaded[index]
            moment = moment or self.clock()
            if self._stale(claimed, moment):
                prepared = self._render_now(claimed, moment)
                feed.loaded[index] = prepared.claimed
                self.rendered_ahead.append(prepared)
                return True
        return False

    # -- the send loop: every connection driven by this one thread

    def send(self, ready: list[int]) -> None:
        """Send `ready` over up to `connections` SMTP connections at once.

        One thread drives every connection without blocking (no thread switch per reply);
        the group commit's writer thread records the outcomes. Each message's start is
        submitted for commit as its envelope and text go out; only the end-of-data mark, which
        lets the server accept it, waits for that commit, which also records the connection's
        previous message 'sent'. So a connection does not idle for the disk, and never has
        more than one accepted-but-unrecorded message."""
        feed = _Feed(self, ready)
        slots = [_Slot(wire) for wire in self.wires[:min(len(self.wires), len(ready))]]
        self.slots = slots
        self.slot_of = {id(slot.wire): slot for slot in slots}
        self.unwaited = []
        self.stopping = None
        self.released = []
        self.rendered_ahead = []
        try:
            while self._advance(feed, slots):
                self._poll(slots, at_once=self._render_ahead(feed))
                self.report_progress()
        except Exception:
            self._abort(slots)
            raise
        finally:
            working = sum(not slot.retired for slot in slots)
            if working < len(slots):
                self.connection_limit = min(self.connection_limit or working, working)
        for ticket in self.unwaited:
            self.ledger.wait(ticket)
        self._release(self.released)
        if self.stopping is not None:
            raise self.stopping

    def _advance(self, feed: _Feed, slots: list[_Slot]) -> bool:
        """Let every connection take its next step; False once all of them are done."""
        busy = False
        for slot in slots:
            if slot.retired:
                continue
            if slot.claimed is None and slot.wire.idle and self.stopping is None:
                self._begin(feed, slot)
            started = slot.started
            if slot.text and started is not None and started.done:
                if started.error is not None:
                    raise started.error
                slot.text = False
                self._step(slot, slot.wire.end)
            # (a connection still ending an abandoned transaction takes the next message)
            busy = busy or slot.claimed is not None or (
                not slot.wire.idle and self.stopping is None and feed.more)
        return busy

    def _begin(self, feed: _Feed, slot: _Slot) -> None:
        """The connection's next message: submit the record of its start, then start its SMTP
        transaction (the commit is made while the envelope and text travel)."""
        claimed = feed.next()
        if claimed is None:
            if slot.delivered is not None:
                self.unwaited.append(self.ledger.submit([slot.delivered]))
                slot.delivered = None
            return
        if not slot.wire.connected and self._connection_refused(slot):
            feed.put_back(claimed)  # untouched: another connection takes it
            return
        moment = self.clock()
        if self._stale(claimed, moment):  # (not rendered ahead: render it now)
            prepared = self._render_now(claimed, moment)
            claimed = prepared.claimed
            self.rendered_ahead.append(prepared)
        if claimed.in_doubt:
            self.in_doubt.append(claimed.key)
        self.tries[claimed.id] = self.tries.get(claimed.id, 0) + 1
        # what was rendered since the last submission (this message too) is stored with it
        records: list[_Record] = [*self.rendered_ahead, _Starting(claimed)]
        self.rendered_ahead = []
        if slot.delivered is not None:
            records.insert(0, slot.delivered)
        slot.started, slot.claimed, slot.delivered = self.ledger.submit(records), claimed, None
        sender, mime = self.sender, claimed.mime
        assert mime is not None
        self._step(slot, lambda: slot.wire.begin(sender, list(claimed.recipients), mime))

    def _connection_refused(self, slot: _Slot) -> bool:
        """Open the slot's connection while other connections work: if the server refuses
        it (many relays cap connections per client), the run goes on with fewer connections
        instead of deferring notices. (With none working, the message's own attempt below
        connects, and a refusal there is a failed attempt like any other.)"""
        if not any(other.wire.connected for other in self.slots if other is not slot):
            return False
        try:
            slot.wire.open()
        except (Temporary, Configuration):
            slot.retired = True
            return True
        return False

    def _poll(self, slots: list[_Slot], *, at_once: bool = False) -> None:
        """Wait for the servers (or a commit, or a timeout) and act on what happened;
        `at_once`: only look (there is other work to do)."""
        deadlines = [s.wire.deadline for s in slots if s.wire.awaited]
        timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
        if at_once:
            timeout = 0.0
        for key, events in self.selector.select(timeout):
            wire = key.data
            if wire is None:  # a commit was made
                self._woken()
                continue
            slot = self.slot_of[id(wire)]
            if events & selectors.EVENT_WRITE:
                self._step(slot, wire.flush)
            if events & selectors.EVENT_READ:
                self._step(slot, wire.receive)
        if deadlines:
            now = time.monotonic()
            for slot in slots:
                if slot.wire.awaited and now > slot.wire.deadline:
                    self._step(slot, partial(slot.wire.overdue, now))

    def _step(self, slot: _Slot, action: Callable[[], Accepted | str | None]) -> None:
        """Run one step of the slot's SMTP transaction and take in its outcome."""
        try:
            outcome = action()
        except (Temporary, Permanent, Configuration) as exc:
            claimed, slot.claimed, slot.text = slot.claimed, None, False
            if slot.started is not None:  # its errors, and its order before a release
                self.unwaited.append(slot.started)
                slot.started = None
            if claimed is not None:
                self._not_sent(claimed, exc)
            return
        if outcome == "text":
            slot.text = True
            started = slot.started
            if started is not None and started.done and started.error is None:
                slot.text = False
                self._step(slot, slot.wire.end)  # the text and its end mark in one write
                return
            if len(slot.wire.outgoing) > HOLD_TEXT:  # a long text travels while we wait
                self._step(slot, slot.wire.flush)
            self.ledger.hurry()  # the connection now waits for this commit
        elif isinstance(outcome, Accepted) and slot.claimed is not None:
            slot.delivered = self._delivered(slot.claimed, outcome.refused)
            slot.claimed = slot.started = None

    def _not_sent(self, claimed: _Claimed, error: Temporary | Permanent | Configuration) -> None:
        """Record why a message did not go out (or stop the run if our settings are wrong:
        messages under way are finished, no new one starts)."""
        if isinstance(error, Temporary):
            record: _Record = self._deferred(claimed, str(error), error.maybe_accepted)
        elif isinstance(error, Permanent):
            record = _Failed(claimed, str(error), self.clock())
        else:
            self.released.append(claimed.id)
            if self.stopping is None:
                self.stopping = NoticeError(
                    str(error), field="SMTP settings",
                    fix="check DPA_SMTP_FROM / DPA_SMTP_USER / DPA_SMTP_PASSWORD, then rerun "
                    f"dpa change send {self.change_id}")
            return
        self.unwaited.append(self.ledger.submit([record]))

    def _abort(self, slots: list[_Slot]) -> None:
        """The run fails: no server may accept a message whose start is not on record, and
        what was accepted is still recorded if the database lets us."""
        for slot in slots:
            if slot.claimed is not None:
                slot.wire.drop()
        delivered = [slot.delivered for slot in slots if slot.delivered is not None]
        if delivered:
            with suppress(Exception):  # the error being raised says more
                self.ledger.commit(delivered)

    def _woken(self) -> None:
        with suppress(BlockingIOError):
            while self.waker[0].recv(4096):
                pass

    def _wake(self) -> None:
        """Called by the group commit's writer after each commit: wakes the send loop."""
        with suppress(BlockingIOError):  # a wake-up is already pending
            self.waker[1].send(b"\0")

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
        on the writer connection; runs on the group commit's writer thread, one at a time.
        Once one fails, every later one fails too: a message's start must never be recorded
        when the bytes stored for it by an earlier, failed commit are not."""
        if self.write_failed is not None:
            raise NoticeError("an earlier commit of this send run failed: "
                              f"{self.write_failed}", fix="fix the database problem, then "
                              f"rerun dpa change send {self.change_id}")
        try:
            self._write_records(records)
        except BaseException as exc:
            self.write_failed = exc
            raise

    def _write_records(self, records: list[_Record]) -> None:
        sent: list[str] = []
        with self.db.committed(self.writer) as connection:
            list_number = self._list_number(connection, records)
            starting = [r.claimed for r in records if isinstance(r, _Starting)]
            self._store_renderings(connection, records, starting)
            events = [Event(event="in-doubt-resend", actor=self.actor, at=self.clock(),
                            change_id=self.change_id, customer_key=claimed.key,
                            data={"message_id": claimed.message_id,
                                  "note": "resent with the same Message-ID and text"})
                      for claimed in starting if claimed.in_doubt]
            outbox_rows: list[dict[str, Any]] = []
            target_rows: list[dict[str, Any]] = []
            sent_rows: list[dict[str, Any]] = []
            notified_rows: list[dict[str, Any]] = []
            failed, deferred, settled = 0, set[int](), set[int]()
            for record in records:
                if isinstance(record, _Starting | _Prepared):
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

    @staticmethod
    def _store_renderings(connection: Connection, records: list[_Record],
                          starting: list[_Claimed]) -> None:
        """What messages rendered in this run will send, before any server can take them,
        and the start of the `starting` ones (marked 'data')."""
        latest: dict[int, _Prepared] = {}
        for record in records:  # (rendered ahead, then again past midnight: the last counts)
            if isinstance(record, _Prepared):
                latest[record.claimed.id] = record
        started = {claimed.id for claimed in starting}
        rendered = {message_id: {"id": message_id, "subject": prepared.rendered.subject,
                                 "rendered_for": prepared.rendered.rendered_for}
                    for message_id, prepared in latest.items()}
        _START.run(connection, [{"id": claimed.id} for claimed in starting
                                if claimed.id not in latest])
        _START_RENDERED.run(connection, [row for message_id, row in rendered.items()
                                         if message_id in started])
        _RENDERED.run(connection, [row for message_id, row in rendered.items()
                                   if message_id not in started])
        _DROP_PAYLOAD.run(connection, [{"id": message_id} for message_id, prepared
                                       in latest.items() if prepared.replaces])
        _PAYLOAD.run(connection, [
            {"outbox_id": message_id, "body_text": prepared.rendered.body_text,
             "body_html": prepared.rendered.body_html,
             "letter_source": prepared.rendered.letter_source, "mime": prepared.rendered.mime}
            for message_id, prepared in latest.items()])
        _STATED.run(connection, [
            {"id": prepared.claimed.target_id,
             "stated_deadline": prepared.rendered.stated_deadline}
            for prepared in latest.values()])

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

    def _record(self, connection: Connection, record: _Record, list_number: int | None
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
            data = {"message_id": claimed.message_id, "recipients": list(claimed.recipients),
                    "refused": refused, "attempt": claimed.attempts,
                    "deadline": deadline.isoformat() if deadline else None,
                    "subject": claimed.subject,
                    # the exact bytes sent are in outbox_payloads; this digest in the hash
                    # chain makes them tamper-evident (`dpa audit verify`)
                    "mime_sha256": hashlib.sha256(claimed.mime or b"").hexdigest(),
                    "list_version": self.list_number}
            return ({**base, "sent_at": at, "refused_recipients": sorted(refused),
                     "last_error": "; ".join(f"{r}: {e}" for r, e in refused.items()) or None},
                    {"id": claimed.target_id, "notified_at": at, "deadline": deadline,
                     "follow_up": follow_up},
                    Event(event="sent", actor=self.actor, at=at, change_id=self.change_id,
                          customer_key=claimed.key, data={**data, "list_snapshot": snapshot[0]},
                          text=canonical_json_with(data, {"list_snapshot": snapshot[1]})))
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
    def _list_number(connection: Connection, records: list[_Record]) -> int | None:
        """The current list's number, read once per transaction that records a sent notice."""
        if not any(isinstance(r, _Sent) for r in records):
            return None
        [(number,)] = _LIST_NUMBER.run(connection, [{}])
        return int(number) if number is not None else None

    def _list_snapshot(self, connection: Connection, number: int | None,
                       services: frozenset[str]) -> tuple[list[dict[str, Any]], str]:
        """The list's entries for these services, and as canonical JSON (made once per list
        version; a list published during the run is picked up at the next commit)."""
        if number is None or number != self.list_number:
            with Session(bind=connection) as session:
                listed = current_list(session)
            self.list_number, self.list_entries = listed.number, list_entries(listed)
            self.snapshots = {}
        snapshot = self.snapshots.get(services)
        if snapshot is None:
            entries = [s.model_dump(mode="json", exclude_none=True) for s in self.list_entries
                       if services & set(s.services)]
            snapshot = self.snapshots[services] = (entries, canonical_json(entries))
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

    def close(self) -> None:
        for wire in self.wires:
            wire.close()
        self.ledger.close()
        self.selector.close()
        for end in self.waker:
            end.close()

    @property
    def sender(self) -> str:
        assert self.facts is not None, "prepare() first"
        return self.facts.sender

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
                complete=complete, connection_limit=self.connection_limit)


def send_change(db: Database, change_id: int, *, settings: SmtpSettings, texts: NoticeTexts,
                actor: str, clock: Callable[[], datetime.datetime] = now_utc,
                sleep: Callable[[float], None] = time.sleep,
                progress: ProgressCallback | None = None) -> SendReport:
    """Queue (first run) and send every notice of a planned change; safe to rerun at any time.
    `progress` is called now and then (from a sender thread) with where the run stands."""
    with sender_lock(db), db.dedicated() as writer, db.dedicated() as claimer:
        run = _Run(db, change_id, writer=writer, claimer=claimer, settings=settings,
                   texts=texts, actor=actor, clock=clock, sleep=sleep, progress=progress)
        try:
            run.prepare()
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
            texts: NoticeTexts, settings: SmtpSettings | None = None,
            only_unnotified: bool = False,
            clock: Callable[[], datetime.datetime] = now_utc) -> list[Path]:
    """Write each customer's notice letter (.docx), e.g. for the fallback contacts: the
    notice as sent or, for one never sent (not rendered yet), as it would be sent now."""
    from ..files import write_atomically

    written = []
    with db.transaction() as session:
        change = get_change(session, change_id)
        facts: _Facts | None = None
        for message in _outbox_of(session, change_id):
            target = message.target
            if only_unnotified and target.status == "notified":
                continue
            if message.payload is not None:
                letter = letter_bytes(message.payload, renderer)
            else:
                facts = facts or _facts(session, settings or SmtpSettings(), change)
                rendered = _render(facts, texts, _addressee_of(message), clock())
                letter = renderer.render_bytes(letter_document(
                    LetterSource.model_validate_json(rendered.letter_source)))
            path = folder / f"change-{change_id}-{target.customer.key}.docx"
            write_atomically(path, letter)
            written.append(path)
    if not written:
        raise NoticeError(f"change {change_id} has no letters" + (
            " for customers that were not notified" if only_unnotified else ""),
            fix=f"send it first: dpa change send {change_id}")
    return written


__all__ = ["SMTP_ENV", "SendProgress", "SendReport", "SmtpSettings", "letter_bytes", "letters", "send_change",
           "sender_lock"]
