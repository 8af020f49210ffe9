"""Delivery: a transactional outbox and an SMTP sender that sends every notice exactly once.

How a notice travels, and why a crash (even kill -9) at any point does not lose or repeat it:

1. `send_change` first records every notice in the outbox (a stable Message-ID in `outbox`;
   rendered text, HTML, letter and the exact MIME bytes in `outbox_payloads`, written only
   when a notice is rendered) in ONE transaction, with the change marked 'sending'. A crash
   before that commit leaves nothing; after it, everything is recorded.
2. Messages are claimed (`status='sending', phase='claimed'`, committed; up to CLAIM_BATCH
   per commit) before their SMTP transactions start. For each one, MAIL FROM and RCPT TO run
   next; just before its DATA the phase becomes 'data' (committed). As soon as the server
   answers 250 to the DATA, `status='sent'` is committed together with the audit record and
   the start of the customer's window. These commits update the small `outbox` row only.
3. A rerun first takes over what a dead run left 'sending': a message still in phase
   'claimed' never reached DATA (claimed in a batch, not tried yet, or died before DATA), so
   it is simply sent. A message in phase 'data' is *in
   doubt*: the server may have accepted it in the instant between its 250 and our commit.
   It is resent with the SAME Message-ID and the same text (recipients' systems can drop the
   duplicate by Message-ID), and it is reported and audited as an in-doubt resend.

So the guarantee is: every notice is sent at least once, and exactly once unless the process
dies in the window between the server's 250 reply to DATA and the next database commit (a
few milliseconds); SMTP offers no way to ask the server afterwards. Only one sender runs per
database at a time (a PostgreSQL advisory lock or a lock file next to the SQLite database,
both released by the operating system if the process dies).

Failures: temporary ones (4xx replies, connection errors) are retried with exponential
backoff and, if still failing, left 'deferred' and reported — a rerun retries them. A
permanent failure (5xx on RCPT for every recipient, or on DATA) means the customer was NOT
notified: its window does not start and it is listed for follow-up via its fallback contact.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from sqlalchemy import case, select, text, update
from sqlalchemy.orm import Session, joinedload, selectinload

from ..models import SubProcessor
from ..render import DocxRenderer
from ..storage import Database
from ..storage.schema import (
    ChangeRow,
    CustomerRow,
    ListVersionRow,
    OutboxPayloadRow,
    OutboxRow,
    TargetRow,
)
from .audit import append_event
from .changes import agreement_window, compute_plan, get_change, summary
from .compose import (
    NoticeFacts,
    compose_notice,
    notice_document,
    notice_html,
    notice_mime,
    notice_text,
)
from .deadlines import Window, brussels_day, objection_deadline
from .errors import NoticeError
from .register import (
    ProviderSnapshot,
    current_list,
    installation_id,
    list_entries,
    now_utc,
    provider_snapshot,
)
from .texts import NoticeTexts

EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"


class SmtpSettings(BaseModel):
    """How to reach the SMTP server. Every field has a DPA_SMTP_* environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)

    @classmethod
    def from_env(cls, **overrides: object) -> SmtpSettings:
        """Environment variables, overridden by explicit (non-None) values, e.g. CLI options."""
        values: dict[str, object] = {field: os.environ[env] for field, env in SMTP_ENV.items()
                                     if os.environ.get(env)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0])
            source = f"--smtp-{field.replace('_', '-')} / {SMTP_ENV.get(field, '')}"
            raise NoticeError(f"invalid SMTP setting '{field}': {first['msg']}", field=source,
                              fix="correct the option or environment variable") from None


SMTP_ENV = {"host": "DPA_SMTP_HOST", "port": "DPA_SMTP_PORT", "security": "DPA_SMTP_SECURITY",
           "username": "DPA_SMTP_USER", "password": "DPA_SMTP_PASSWORD",
           "from_address": "DPA_SMTP_FROM", "timeout": "DPA_SMTP_TIMEOUT",
           "max_attempts": "DPA_SMTP_MAX_ATTEMPTS", "backoff_seconds": "DPA_SMTP_BACKOFF",
           "backoff_max_seconds": "DPA_SMTP_BACKOFF_MAX"}



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
    """What every notice of one run shares, read once per run instead of once per notice."""

    provider: ProviderSnapshot
    sender: str
    contact: str
    installation: str


def _facts(session: Session, settings: SmtpSettings) -> _Facts:
    provider = provider_snapshot(session)
    sender = _sender(settings, provider.privacy_email)
    return _Facts(provider=provider, sender=sender, contact=provider.privacy_email or sender,
                  installation=installation_id(session))


def _render_into(session: Session, message: OutboxRow | None, target: TargetRow, change: ChangeRow,
                 *, dispatch_at: datetime.datetime, texts: NoticeTexts, renderer: DocxRenderer,
                 settings: SmtpSettings, facts: _Facts | None = None) -> OutboxRow:
    """Render one customer's notice as if dispatched at `dispatch_at` into the outbox row and
    its payload row."""
    if facts is None:
        facts = _facts(session, settings)
    provider, sender, contact = facts.provider, facts.sender, facts.contact
    agreement = target.agreement
    customer = target.customer
    info = summary(change)
    language = target.language
    window = deadline = None
    if target.kind != "informational":
        window = agreement_window(agreement)
        deadline = objection_deadline(dispatch_at, window)
    services = sorted({r["service"] for r in target.reasons})
    notice = NoticeFacts(
        language=language, kind=target.kind,
        action=info.action, change_number=change.id, customer_name=customer.name,
        provider_name=provider.name, contact_email=contact,
        agreement_reference=agreement.reference or f"v{agreement.version}",
        subprocessor=info.subject, replaced=info.previous if info.action == "replace" else None,
        services=[_service_name(provider.services.get(s, s), language) for s in services],
        effective_on=change.effective_on, deadline=deadline, window=window,
        remedy=agreement.remedy)
    content = compose_notice(notice, texts)
    body_text, body_html = notice_text(content), notice_html(content)
    if message is None:
        domain = contact.rsplit("@", 1)[-1]
        message_id = (f"<dpa-notice.{change.id}.{customer.key}."
                      f"{facts.installation[:12]}@{domain}>")
        message = OutboxRow(target=target, message_id=message_id, status="pending",
                            attempts=0, in_doubt_resends=0, refused_recipients=[])
        message.payload = OutboxPayloadRow()
        session.add(message)
    letter = notice_document(content, customer_name=customer.name, provider_name=provider.name,
                             generated_at=dispatch_at.replace(microsecond=0),
                             custom={"dpa.change": str(change.id), "dpa.customer": customer.key,
                                     "dpa.message_id": message.message_id})
    payload = message.payload
    message.subject = content.subject
    payload.body_text, payload.body_html = body_text, body_html
    payload.letter = renderer.render_bytes(letter)
    payload.mime = notice_mime(
        content, text=body_text, html_body=body_html, message_id=message.message_id,
        sender=sender, recipients=list(target.recipients), reply_to=contact, date=dispatch_at,
        headers={"X-DPA-Change": str(change.id), "X-DPA-Customer": customer.key})
    message.rendered_for = brussels_day(dispatch_at)
    target.stated_deadline = deadline
    return message


def _service_name(name: object, language: str) -> str:
    if isinstance(name, dict):
        return str(name.get(language) or next(iter(name.values())))
    return str(name)


def _enqueue(session: Session, change: ChangeRow, *, moment: datetime.datetime, actor: str,
             texts: NoticeTexts, renderer: DocxRenderer, settings: SmtpSettings) -> None:
    plan = compute_plan(session, change, moment)
    if plan.plan_hash != change.plan_hash:
        raise NoticeError(f"the register changed since change {change.id} was planned",
                          fix=f"review the plan again: dpa change plan {change.id}")
    facts = _facts(session, settings)
    customers = {c.key: c for c in session.execute(
        select(CustomerRow).options(selectinload(CustomerRow.agreements))).scalars()}
    queued = []
    for entry in plan.affected:
        customer = customers[entry.customer]
        agreement = next(a for a in customer.agreements if a.version == entry.agreement_version)
        target = TargetRow(change_id=change.id, customer=customer, agreement=agreement,
                           kind=entry.kind, reasons=[r.model_dump() for r in entry.reasons],
                           language=entry.language, recipients=entry.recipients, status="queued")
        session.add(target)
        message = _render_into(session, None, target, change, dispatch_at=moment, texts=texts,
                               renderer=renderer, settings=settings, facts=facts)
        queued.append((entry, customer, agreement, message))
    session.flush()  # every target, outbox entry and payload, in a few batched statements
    for entry, customer, agreement, message in queued:
        append_event(session, "queued", actor=actor, at=moment, change_id=change.id,
                     customer_key=customer.key,
                     data={"message_id": message.message_id, "kind": entry.kind,
                           "recipients": entry.recipients, "agreement_version": agreement.version,
                           "window_days": entry.window_days, "window_unit": entry.window_unit,
                           "reasons": [r.model_dump() for r in entry.reasons]})
    change.status = "sending"


# --- SMTP ------------------------------------------------------------------------------------

class _Permanent(Exception):
    pass


class _Temporary(Exception):
    pass


class _Configuration(Exception):
    pass


class _Mailer:
    """One SMTP connection, reopened after an error."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def connection(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
        except smtplib.SMTPAuthenticationError as exc:
            raise _Configuration(f"SMTP login refused ({exc.smtp_code} "
                                 f"{_decode(exc.smtp_error)})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise _Temporary(f"cannot connect to {s.host}:{s.port} ({exc})") from None
        self.smtp = smtp
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _deliver(mailer: _Mailer, sender: str, recipients: list[str], mime: bytes,
             before_data: Callable[[], None]) -> dict[str, str]:
    """One SMTP transaction; returns refused recipients (others got it) or raises."""
    try:
        smtp = mailer.connection()
        code, reply = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            if code >= 500:
                raise _Configuration(f"the SMTP server refused the sender {sender} ({code} "
                                     f"{_decode(reply)})")
            raise _Temporary(f"MAIL FROM: {code} {_decode(reply)}")
        refused: dict[str, tuple[int, str]] = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, _decode(reply))
        if len(refused) == len(recipients):
            smtp.rset()
            detail = "; ".join(f"{r}: {c} {m}" for r, (c, m) in refused.items())
            if all(c >= 500 for c, _ in refused.values()):
                raise _Permanent(f"every recipient refused ({detail})")
            raise _Temporary(f"recipients not accepted now ({detail})")
        before_data()
        code, reply = smtp.data(mime)  # smtplib raises only if DATA itself is refused
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
        return {r: f"{c} {m}" for r, (c, m) in refused.items()}
    except smtplib.SMTPDataError as exc:
        mailer.drop()
        if exc.smtp_code >= 500:
            raise _Permanent(f"message refused ({exc.smtp_code} {_decode(exc.smtp_error)})"
                             ) from None
        raise _Temporary(f"DATA: {exc.smtp_code} {_decode(exc.smtp_error)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        mailer.drop()
        raise _Temporary(f"SMTP connection failed ({type(exc).__name__}: {exc})") from None


# --- the send loop -----------------------------------------------------------------------------

CLAIM_BATCH = 100  # messages claimed per commit; each still gets its own 'data' and 'sent' commit


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


@dataclass
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
    rendered_for: datetime.date
    in_doubt: bool
    attempts: int
    subject: str
    body_text: str
    body_html: str
    mime: bytes


class _Run:
    def __init__(self, db: Database, change_id: int, *, settings: SmtpSettings,
                 texts: NoticeTexts, renderer: DocxRenderer, actor: str,
                 clock: Callable[[], datetime.datetime],
                 sleep: Callable[[float], None]) -> None:
        self.db, self.change_id, self.settings = db, change_id, settings
        self.texts, self.renderer, self.actor = texts, renderer, actor
        self.clock, self.sleep = clock, sleep
        self.mailer = _Mailer(settings)
        self.sent: list[str] = []
        self.in_doubt: list[str] = []
        self.tries: dict[int, int] = {}
        self.not_before: dict[int, float] = {}
        self.sender: str | None = None
        # the published list, parsed once per list version; its snapshot per set of services
        self.list_number: int | None = None
        self.list_entries: list[SubProcessor] = []
        self.snapshots: dict[frozenset[str], list[dict[str, Any]]] = {}

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
            moment = self.clock()
            if change.status == "planned":
                _enqueue(session, change, moment=moment, actor=self.actor, texts=self.texts,
                         renderer=self.renderer, settings=self.settings)
                append_event(session, "sending", actor=self.actor, at=moment,
                             change_id=change.id, data={})
                return
            for message in _outbox_of(session, self.change_id, light=True):
                if message.status == "sending":  # left behind by a run that died
                    message.status = "pending"
                    append_event(session, "taken-over", actor=self.actor, at=moment,
                                 change_id=change.id, customer_key=message.target.customer.key,
                                 data={"message_id": message.message_id,
                                       "phase": message.phase})

    def due(self) -> tuple[list[int], float | None]:
        """Messages to try now, and how long to wait for the next retry (None: nothing left)."""
        with self.db.transaction() as session:
            rows = list(session.execute(
                select(OutboxRow.id).join(TargetRow, OutboxRow.target_id == TargetRow.id)
                .where(TargetRow.change_id == self.change_id,
                       OutboxRow.status.in_(("pending", "deferred")))
                .order_by(OutboxRow.id)).scalars())
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
        """Claim several messages in one commit (phase 'claimed': none of them has reached
        DATA, so a crash from here on is resolved by simply sending them)."""
        moment = self.clock()
        with self.db.transaction() as session:
            messages = list(session.execute(
                select(OutboxRow).where(OutboxRow.id.in_(message_ids),
                                        OutboxRow.status.in_(("pending", "deferred")))
                .order_by(OutboxRow.id)
                .options(joinedload(OutboxRow.target).joinedload(TargetRow.customer),
                         joinedload(OutboxRow.target).joinedload(TargetRow.agreement))
            ).unique().scalars())
            if not messages:
                return []
            ids = [m.id for m in messages]
            claimed = session.execute(
                update(OutboxRow).where(OutboxRow.id.in_(ids),
                                        OutboxRow.status.in_(("pending", "deferred")))
                .values(status="sending", phase="claimed", attempts=OutboxRow.attempts + 1,
                        in_doubt_resends=OutboxRow.in_doubt_resends + case(
                            (OutboxRow.phase == "data", 1), else_=0))
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if claimed != len(ids):  # only one sender runs: nobody else changes these rows
                raise NoticeError("the outbox changed while claiming notices",
                                  fix=f"rerun dpa change send {self.change_id}")
            payloads = {row.outbox_id: row for row in session.execute(
                select(OutboxPayloadRow.outbox_id, OutboxPayloadRow.body_text,
                       OutboxPayloadRow.body_html, OutboxPayloadRow.mime)
                .where(OutboxPayloadRow.outbox_id.in_(ids)))}
            if self.sender is None:
                self.sender = _sender(self.settings, provider_snapshot(session).privacy_email)
            result = []
            for message in messages:
                target, payload = message.target, payloads[message.id]
                key = target.customer.key
                in_doubt = message.phase == "data"  # the last attempt reached DATA
                if in_doubt:  # the server may have it
                    self.in_doubt.append(key)
                    append_event(session, "in-doubt-resend", actor=self.actor, at=moment,
                                 change_id=self.change_id, customer_key=key,
                                 data={"message_id": message.message_id,
                                       "note": "resent with the same Message-ID and text"})
                self.tries[message.id] = self.tries.get(message.id, 0) + 1
                result.append(_Claimed(
                    id=message.id, message_id=message.message_id, key=key, target_id=target.id,
                    kind=target.kind, recipients=list(target.recipients),
                    services=frozenset(target.agreement.services),
                    window=(None if target.kind == "informational"
                            else agreement_window(target.agreement)),
                    stated_deadline=target.stated_deadline, deadline=target.deadline,
                    rendered_for=message.rendered_for, in_doubt=in_doubt,
                    attempts=message.attempts + 1, subject=message.subject,
                    body_text=payload.body_text, body_html=payload.body_html,
                    mime=payload.mime))
        return result

    def _rerender(self, claimed: _Claimed, moment: datetime.datetime) -> _Claimed:
        """A later day than rendered: re-render so the stated deadline is still right."""
        with self.db.transaction() as session:
            message = session.get(OutboxRow, claimed.id, options=[
                joinedload(OutboxRow.payload),
                joinedload(OutboxRow.target).joinedload(TargetRow.customer),
                joinedload(OutboxRow.target).joinedload(TargetRow.agreement)])
            change = session.get(ChangeRow, self.change_id)
            assert message is not None and change is not None
            _render_into(session, message, message.target, change, dispatch_at=moment,
                         texts=self.texts, renderer=self.renderer, settings=self.settings)
            payload = message.payload
            return replace(claimed, rendered_for=message.rendered_for, subject=message.subject,
                           stated_deadline=message.target.stated_deadline,
                           body_text=payload.body_text, body_html=payload.body_html,
                           mime=payload.mime)

    def attempt(self, claimed: _Claimed) -> None:
        if not claimed.in_doubt:  # an in-doubt message is resent byte for byte
            moment = self.clock()
            if claimed.rendered_for != brussels_day(moment):
                claimed = self._rerender(claimed, moment)
        message_id = claimed.id

        def before_data() -> None:
            with self.db.transaction() as session:
                session.execute(update(OutboxRow).where(OutboxRow.id == message_id)
                                .values(phase="data")
                                .execution_options(synchronize_session=False))

        assert self.sender is not None
        try:
            refused = _deliver(self.mailer, self.sender, claimed.recipients, claimed.mime,
                               before_data)
        except _Temporary as exc:
            self._deferred(message_id, str(exc))
        except _Permanent as exc:
            self._failed(message_id, str(exc))
        except _Configuration as exc:
            self._release([message_id])
            raise NoticeError(str(exc), field="SMTP settings",
                              fix="check DPA_SMTP_FROM / DPA_SMTP_USER / DPA_SMTP_PASSWORD, then "
                              f"rerun dpa change send {self.change_id}") from None
        else:
            self._delivered(claimed, refused)

    def _list_snapshot(self, session: Session, services: frozenset[str]
                       ) -> tuple[int, list[dict[str, Any]]]:
        """The current list's number and its entries for these services (parsed once per list
        version; a list published during the run is picked up at the next message)."""
        number = session.execute(select(ListVersionRow.number)
                                 .order_by(ListVersionRow.number.desc()).limit(1)).scalar()
        if number is None or number != self.list_number:
            listed = current_list(session)
            self.list_number, self.list_entries = listed.number, list_entries(listed)
            self.snapshots = {}
        assert self.list_number is not None
        snapshot = self.snapshots.get(services)
        if snapshot is None:
            snapshot = [s.model_dump(mode="json", exclude_none=True) for s in self.list_entries
                        if services & set(s.services)]
            self.snapshots[services] = snapshot
        return self.list_number, snapshot

    def _delivered(self, claimed: _Claimed, refused: dict[str, str]) -> None:
        moment = self.clock()
        deadline = claimed.deadline
        values: dict[str, Any] = {"status": "notified", "notified_at": moment}
        if claimed.window is not None:
            computed = objection_deadline(moment, claimed.window)
            stated = claimed.stated_deadline or computed
            deadline = values["deadline"] = max(stated, computed)
        if refused:
            values["follow_up"] = f"refused address(es) {', '.join(sorted(refused))}: update " \
                                  "the customer's notice_emails"
        with self.db.transaction() as session:
            session.execute(
                update(OutboxRow).where(OutboxRow.id == claimed.id)
                .values(status="sent", phase=None, sent_at=moment,
                        refused_recipients=sorted(refused),
                        last_error="; ".join(f"{r}: {e}" for r, e in refused.items()) or None)
                .execution_options(synchronize_session=False))
            session.execute(update(TargetRow).where(TargetRow.id == claimed.target_id)
                            .values(**values).execution_options(synchronize_session=False))
            list_number, snapshot = self._list_snapshot(session, claimed.services)
            append_event(session, "sent", actor=self.actor, at=moment, change_id=self.change_id,
                         customer_key=claimed.key, data={
                             "message_id": claimed.message_id,
                             "recipients": list(claimed.recipients), "refused": refused,
                             "attempt": claimed.attempts,
                             "deadline": deadline.isoformat() if deadline else None,
                             "subject": claimed.subject, "text": claimed.body_text,
                             "html": claimed.body_html,
                             "list_version": list_number,
                             "list_snapshot": snapshot})
        self.sent.append(claimed.key)

    def _deferred(self, message_id: int, error: str) -> None:
        moment = self.clock()
        tries = self.tries.get(message_id, 1)
        delay = min(self.settings.backoff_seconds * 2 ** (tries - 1),
                    self.settings.backoff_max_seconds)
        self.not_before[message_id] = time.monotonic() + delay
        with self.db.transaction() as session:
            message = session.get(OutboxRow, message_id)
            assert message is not None
            message.status, message.last_error = "deferred", error
            message.next_attempt_at = moment + datetime.timedelta(seconds=delay)
            append_event(session, "send-failed", actor=self.actor, at=moment,
                         change_id=self.change_id, customer_key=message.target.customer.key,
                         data={"message_id": message.message_id, "error": error,
                               "attempt": message.attempts, "retry_in_seconds": delay,
                               "in_doubt": message.phase == "data"})

    def _failed(self, message_id: int, error: str) -> None:
        moment = self.clock()
        with self.db.transaction() as session:
            message = session.get(OutboxRow, message_id)
            assert message is not None
            target = message.target
            message.status, message.phase, message.last_error = "failed", None, error
            contact = target.customer.fallback_contact or "no fallback contact on file: find one"
            target.status = "not-notified"
            target.follow_up = f"NOT notified ({error}): reach {contact} " \
                               f"(letter: dpa change letters {self.change_id})"
            append_event(session, "bounced", actor=self.actor, at=moment,
                         change_id=self.change_id, customer_key=target.customer.key,
                         data={"message_id": message.message_id, "error": error,
                               "window_started": False, "follow_up": target.follow_up})

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
        """Claim and send `ready` in batches of CLAIM_BATCH."""
        for start in range(0, len(ready), CLAIM_BATCH):
            claimed = self.claim(ready[start:start + CLAIM_BATCH])
            for index, message in enumerate(claimed):
                try:
                    self.attempt(message)
                except Exception:  # e.g. a configuration error: give back the untried rest
                    self._release([m.id for m in claimed[index + 1:]])
                    raise

    def finish(self) -> SendReport:
        moment = self.clock()
        with self.db.transaction() as session:
            change = get_change(session, self.change_id)
            messages = _outbox_of(session, self.change_id, light=True)
            complete = all(m.status in ("sent", "failed", "bounced") for m in messages)
            if complete and change.status == "sending":
                change.status = "sent"
                append_event(session, "send-complete", actor=self.actor, at=moment,
                             change_id=change.id,
                             data={m.target.customer.key: m.status for m in messages})
            fresh = set(self.sent)
            return SendReport(
                change=change.id, sent=sorted(fresh),
                already_sent=sorted(m.target.customer.key for m in messages
                                    if m.status == "sent" and m.target.customer.key not in fresh),
                in_doubt_resent=sorted(set(self.in_doubt)),
                failed=[FailedNotice(customer=m.target.customer.key, error=m.last_error or "",
                                     follow_up=m.target.follow_up or "")
                        for m in messages if m.status in ("failed", "bounced")],
                deferred=[DeferredNotice(customer=m.target.customer.key, attempts=m.attempts,
                                         error=m.last_error or "")
                          for m in messages if m.status in ("pending", "deferred")],
                complete=complete)


def send_change(db: Database, change_id: int, *, settings: SmtpSettings, texts: NoticeTexts,
                renderer: DocxRenderer, actor: str,
                clock: Callable[[], datetime.datetime] = now_utc,
                sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Queue (first run) and send every notice of a planned change; safe to rerun at any time."""
    with sender_lock(db):
        run = _Run(db, change_id, settings=settings, texts=texts, renderer=renderer, actor=actor,
                   clock=clock, sleep=sleep)
        run.prepare()
        try:
            while True:
                ready, wait = run.due()
                if ready:
                    run.send(ready)
                elif wait is not None:
                    run.sleep(wait)
                else:
                    break
        finally:
            run.mailer.close()
        return run.finish()


def letters(db: Database, change_id: int, folder: Path, *, only_unnotified: bool = False
            ) -> list[Path]:
    """Write each customer's notice letter (.docx), e.g. for the fallback contacts."""
    from ..render import write_atomically

    written = []
    with db.transaction() as session:
        get_change(session, change_id)
        for message in _outbox_of(session, change_id):
            target = message.target
            if only_unnotified and target.status == "notified":
                continue
            path = folder / f"change-{change_id}-{target.customer.key}.docx"
            write_atomically(path, message.payload.letter)
            written.append(path)
    if not written:
        raise NoticeError(f"change {change_id} has no letters" + (
            " for customers that were not notified" if only_unnotified else ""),
            fix=f"send it first: dpa change send {change_id}")
    return written


__all__ = ["SendReport", "SmtpSettings", "letters", "send_change", "sender_lock"]
