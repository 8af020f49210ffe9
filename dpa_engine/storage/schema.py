"""The tables of the notice workflow, as typed SQLAlchemy 2 ORM models.

Times are stored as naive UTC and always come back timezone-aware (UTC), on SQLite and
PostgreSQL alike. JSON columns hold pydantic dumps (lists of addresses, sub-processor entries).
Changing a table here needs a new Alembic revision in `migrations/versions/`.
"""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UtcDateTime(TypeDecorator[datetime.datetime]):
    """An aware datetime stored as naive UTC; naive input is refused (it would be ambiguous)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Dialect
                           ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime.datetime | None, dialect: Dialect
                             ) -> datetime.datetime | None:
        return None if value is None else value.replace(tzinfo=datetime.UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime.datetime: UtcDateTime, dict[str, Any]: JSON,
                           list[Any]: JSON}


class Meta(Base):
    """Key/value facts about this register: installation id, provider snapshot."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(Text)
    enterprise_number: Mapped[str] = mapped_column(String(40), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    fallback_contact: Mapped[str | None] = mapped_column(Text)
    contact_name: Mapped[str | None] = mapped_column(Text)  # for greetings
    created_at: Mapped[datetime.datetime]
    agreements: Mapped[list[AgreementRow]] = relationship(
        back_populates="customer", order_by="AgreementRow.version")


class AgreementRow(Base):
    """One signed agreement version, with the terms it fixed at signature."""

    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("customer_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    version: Mapped[int]
    reference: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    window_days: Mapped[int]
    window_unit: Mapped[str] = mapped_column(String(16))
    authorisation: Mapped[str] = mapped_column(String(16))
    governing_law: Mapped[str] = mapped_column(String(2))
    holiday_country: Mapped[str] = mapped_column(String(2))
    remedy: Mapped[str] = mapped_column(String(40))
    services: Mapped[list[Any]] = mapped_column(JSON)
    notice_emails: Mapped[list[Any]] = mapped_column(JSON)
    clause_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    signed_on: Mapped[datetime.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text)
    source_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime.datetime]
    customer: Mapped[CustomerRow] = relationship(back_populates="agreements")


class ListVersionRow(Base):
    """One published version of the provider's sub-processor list."""

    __tablename__ = "list_versions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    published_at: Mapped[datetime.datetime]
    effective_on: Mapped[datetime.date | None] = mapped_column(Date)
    change_id: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text)
    entries: Mapped[list[Any]] = mapped_column(JSON)


class ChangeRow(Base):
    __tablename__ = "changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    subprocessor: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the new entry
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the replaced/removed entry
    target_id: Mapped[str | None] = mapped_column(String(80))
    effective_on: Mapped[datetime.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    base_list_number: Mapped[int]
    proposed_at: Mapped[datetime.datetime]
    proposed_by: Mapped[str] = mapped_column(Text)
    plan_hash: Mapped[str | None] = mapped_column(String(64))
    planned_at: Mapped[datetime.datetime | None]
    closed_at: Mapped[datetime.datetime | None]
    list_number_after: Mapped[int | None]


class TargetRow(Base):
    """One customer affected by one change: what it is told, by when, and the outcome."""

    __tablename__ = "change_targets"
    __table_args__ = (UniqueConstraint("change_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    kind: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(2))
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(24))
    notified_at: Mapped[datetime.datetime | None]
    deadline: Mapped[datetime.datetime | None]
    stated_deadline: Mapped[datetime.datetime | None]
    follow_up: Mapped[str | None] = mapped_column(Text)
    customer: Mapped[CustomerRow] = relationship()
    agreement: Mapped[AgreementRow] = relationship()
    # its change notice, and (once the change is withdrawn after it went out) the withdrawal
    message: Mapped[OutboxRow | None] = relationship(
        primaryjoin="and_(TargetRow.id == OutboxRow.target_id, OutboxRow.purpose == 'notice')",
        viewonly=True)
    withdrawal: Mapped[OutboxRow | None] = relationship(
        primaryjoin="and_(TargetRow.id == OutboxRow.target_id, "
                    "OutboxRow.purpose == 'withdrawal')", viewonly=True)


class OutboxRow(Base):
    """A notice recorded before it is sent (transactional outbox): a change's notice to one
    customer, or the notice that the change was withdrawn."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("target_id", "purpose", name="uq_outbox_target_purpose"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("change_targets.id"))
    purpose: Mapped[str] = mapped_column(String(16), default="notice", server_default="notice")
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    # both None until the notice is rendered, when its SMTP transaction first starts
    subject: Mapped[str | None] = mapped_column(Text)
    rendered_for: Mapped[datetime.date | None] = mapped_column(Date)
    # pending, deferred -> claimed (by a sender) -> sending (started) -> sent / failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    phase: Mapped[str | None] = mapped_column(String(16))  # 'data': the server may have it
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # a SendLeaseRow.sender
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime.datetime | None]
    in_doubt_resends: Mapped[int] = mapped_column(Integer, default=0)
    refused_recipients: Mapped[list[Any]] = mapped_column(JSON, default=list)
    target: Mapped[TargetRow] = relationship()
    payload: Mapped[OutboxPayloadRow | None] = relationship(back_populates="message")


class OutboxPayloadRow(Base):
    """What an outbox entry sends, written in the commit that starts its SMTP transaction
    (again for a resend on a later day, re-rendered): the exact text, HTML and MIME bytes, and
    what the .docx letter is rendered from when it is asked for (`letter_source`)."""

    __tablename__ = "outbox_payloads"
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True,
                                           autoincrement=False)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    letter_source: Mapped[dict[str, Any]] = mapped_column(JSON)
    mime: Mapped[bytes] = mapped_column(LargeBinary)
    message: Mapped[OutboxRow] = relationship(back_populates="payload")


class SendLeaseRow(Base):
    """A running `dpa change send`: renewed while it lives; a message it claimed is taken over
    only once its lease has expired (or, on the same host, its process is gone)."""

    __tablename__ = "send_leases"
    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int]
    started_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime]


class ObjectionRow(Base):
    __tablename__ = "objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("change_targets.id"))
    kind: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime.datetime]
    text: Mapped[str] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime.datetime]
    recorded_by: Mapped[str] = mapped_column(Text)


class AuditEventRow(Base):
    """Append-only, hash-chained: `hash` covers this record and the previous record's hash."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime.datetime]
    actor: Mapped[str] = mapped_column(Text)
    event: Mapped[str] = mapped_column(String(40))
    change_id: Mapped[int | None] = mapped_column(Integer)
    customer_key: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """One row: the last sequence number and hash (locked while appending; detects truncation)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))


# --- web app (issue 19): users, sessions, agreements made in the browser -------------------

class WebUserRow(Base):
    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime.datetime]


class WebSessionRow(Base):
    """A logged-in browser: the cookie holds a random token, the table only its sha256."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime.datetime]
    expires_at: Mapped[datetime.datetime]
    user: Mapped[WebUserRow] = relationship()


class WebAgreementRow(Base):
    """An agreement made in the browser: the form, the deal file, the generated files."""

    __tablename__ = "web_agreements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(24))
    customer_name: Mapped[str] = mapped_column(Text)
    enterprise_number: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(2))
    version: Mapped[int]
    reference: Mapped[str | None] = mapped_column(Text)
    form: Mapped[dict[str, Any]] = mapped_column(JSON)
    deal_yaml: Mapped[str | None] = mapped_column(Text)
    approvals_yaml: Mapped[str | None] = mapped_column(Text)
    legal_note: Mapped[str | None] = mapped_column(Text)
    docx: Mapped[bytes | None] = mapped_column(LargeBinary)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    manifest: Mapped[str | None] = mapped_column(Text)
    draft_marking: Mapped[bool] = mapped_column(Boolean, default=False)
    signed_pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    previous_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime.datetime]
    updated_at: Mapped[datetime.datetime]


# --- the customer's side (web): notice-page answers, refusals, subscriptions ------------------

class PortalAnswerRow(Base):
    """A customer's answer on its notice page: one per notice (the unique target makes a
    repeated post record nothing new). `recorded` once the objection/consent is on record."""

    __tablename__ = "portal_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("change_targets.id"), unique=True)
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime.datetime]
    late: Mapped[bool] = mapped_column(Boolean)
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    recorded: Mapped[bool] = mapped_column(Boolean)
    # who puts it on record holds this lease (a crash leaves it to expire, then a retry takes it)
    completing_until: Mapped[datetime.datetime | None]
    confirmation_sent_at: Mapped[datetime.datetime | None]


class PortalRefusalRow(Base):
    """Refused notice-page requests (bad, expired or foreign links) per client address."""

    __tablename__ = "portal_refusals"
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_started_at: Mapped[datetime.datetime]
    in_window: Mapped[int]
    total: Mapped[int]


class SubscriptionRow(Base):
    """An e-mail subscription to the public sub-processor list (double opt-in)."""

    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    language: Mapped[str] = mapped_column(String(2))
    token: Mapped[str] = mapped_column(String(64), unique=True)  # in its confirm/unsubscribe links
    status: Mapped[str] = mapped_column(String(16))  # pending | confirmed | unsubscribed
    created_at: Mapped[datetime.datetime]
    confirmation_sent_at: Mapped[datetime.datetime | None]
    confirmed_at: Mapped[datetime.datetime | None]
    unsubscribed_at: Mapped[datetime.datetime | None]


class SubscriptionDeliveryRow(Base):
    """One informational e-mail to one subscriber about one change, of one kind: the change is
    upcoming, or it was withdrawn (claimed once; resent with the same Message-ID only when the
    run that claimed it died while sending)."""

    __tablename__ = "subscription_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "change_id", "kind",
                                       name="uq_subscription_delivery_kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id"))
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"))
    kind: Mapped[str] = mapped_column(String(16), server_default="upcoming")  # | withdrawn
    status: Mapped[str] = mapped_column(String(16))  # sending | sent | failed
    claimed_at: Mapped[datetime.datetime]
    sent_at: Mapped[datetime.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
