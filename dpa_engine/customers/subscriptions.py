"""E-mail subscriptions to the public sub-processor list: double opt-in, one-click unsubscribe
(RFC 8058), one informational e-mail per subscriber and upcoming change, and one more to those
told of a change that is then withdrawn.

These e-mails are information for anyone who asks, never a notice under an agreement: they
are not audited as notices and start no objection window.
"""

from __future__ import annotations

import datetime
import re
import secrets
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import locale
from ..mail import MailError, SmtpSettings, send_message
from ..models import LANGUAGES, Language
from ..notices.changes import ChangeSummary, get_change, summary
from ..notices.errors import NoticeError
from ..notices.provider import ProviderSnapshot, provider_snapshot
from ..notices.register import now_utc
from ..storage import Database
from ..storage.schema import ChangeRow, SubscriptionDeliveryRow, SubscriptionRow
from .pagetexts import PageTexts

_EMAIL = re.compile(r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
# a pending address gets at most one confirmation e-mail in this time (no mail bombing)
CONFIRMATION_INTERVAL = datetime.timedelta(minutes=10)


class NotifyReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    sent: list[str]
    already: int  # subscribers who had had this change's e-mail
    failed: dict[str, str]
    in_doubt: list[str] = []  # resent: an earlier run died while sending (same Message-ID)
    # why the subscribers after `sent` were not e-mailed: the change stopped being upcoming
    # (withdrawn or closed) while they were being told
    stopped: str | None = None


def normalised_email(address: str) -> str:
    """The address as stored (domain in lower case); NoticeError when it is not one."""
    value = address.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise NoticeError(f"'{value[:80]}' is not an e-mail address", field="email",
                          fix="give an address like name@example.com")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def _language(language: str) -> Language:
    return language if language in LANGUAGES else "en"


def subscribe(db: Database, address: str, language: str, *, texts: PageTexts,
              settings: SmtpSettings, base_url: str, now: datetime.datetime | None = None) -> None:
    """Ask for a subscription: e-mail a confirmation link (unless the address is confirmed
    already, or was sent one a moment ago). The caller says the same in every case."""
    moment = now or now_utc()
    email = normalised_email(address)
    lang = _language(language)
    try:
        with db.transaction() as session:
            row = session.execute(select(SubscriptionRow).where(SubscriptionRow.email == email)
                                  ).scalar_one_or_none()
            if row is None:
                row = SubscriptionRow(email=email, language=lang, token=secrets.token_urlsafe(32),
                                      status="pending", created_at=moment)
                session.add(row)
            elif row.status == "confirmed" or (
                    row.confirmation_sent_at is not None
                    and moment - row.confirmation_sent_at < CONFIRMATION_INTERVAL):
                return
            else:
                row.status, row.language, row.token = "pending", lang, secrets.token_urlsafe(32)
            row.confirmation_sent_at = moment
            token = row.token
            provider = provider_snapshot(session)
    except IntegrityError:  # the same address at the same moment: the other request mails it
        return
    link = f"{base_url.rstrip('/')}/subprocessors/confirm/{token}"
    values = {"provider_name": provider.name, "link": link}
    message = _message(settings, provider.privacy_email, email, lang,
                       texts.render("mail_sub_confirm_subject", lang, **values),
                       [texts.render("mail_sub_confirm_body", lang, **values),
                        texts.render("mail_closing", lang, **values)])
    send_message(settings, message)


def _message(settings: SmtpSettings, privacy_email: str | None, to: str, language: str,
             subject: str, paragraphs: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.from_address or privacy_email or "noreply@localhost"
    message["To"] = to
    if privacy_email:
        message["Reply-To"] = privacy_email
    message["Date"] = format_datetime(now_utc())
    message["Message-ID"] = make_msgid(domain="dpa-engine.invalid")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content("\n\n".join(paragraphs) + "\n")
    message["Content-Language"] = language  # after set_content, which drops Content-* headers
    return message


def subscription_status(db: Database, token: str) -> str | None:
    """pending, confirmed or unsubscribed; None for a token that names no subscription."""
    with db.transaction() as session:
        row = session.execute(select(SubscriptionRow).where(SubscriptionRow.token == token)
                              ).scalar_one_or_none()
        return None if row is None else row.status


def confirm_subscription(db: Database, token: str, *, now: datetime.datetime | None = None
                         ) -> bool:
    """Confirm a pending subscription (True also when it was confirmed already)."""
    with db.transaction() as session:
        row = session.execute(select(SubscriptionRow).where(SubscriptionRow.token == token)
                              ).scalar_one_or_none()
        if row is None or row.status == "unsubscribed":
            return False
        if row.status == "pending":
            row.status, row.confirmed_at = "confirmed", now or now_utc()
        return True


def unsubscribe(db: Database, token: str, *, now: datetime.datetime | None = None) -> bool:
    """End a subscription (True also when it had ended already)."""
    with db.transaction() as session:
        row = session.execute(select(SubscriptionRow).where(SubscriptionRow.token == token)
                              ).scalar_one_or_none()
        if row is None:
            return False
        if row.status != "unsubscribed":
            row.status, row.unsubscribed_at = "unsubscribed", now or now_utc()
        return True


# A claim still 'sending' after this long belongs to a run that died between claiming and
# recording the outcome (an SMTP transaction is bounded by the settings' timeout, at most an
# hour): the e-mail is in doubt and is sent again with the same Message-ID, so the reader's
# mail system can recognise a duplicate. That is the notice outbox's guarantee: at least
# once, and exactly once unless a run died inside the SMTP transaction.
STALE_CLAIM = datetime.timedelta(hours=1, minutes=5)

Claim = Literal["new", "in-doubt", "taken", "no-longer-upcoming"]
# what a subscriber is told about a change: that it is upcoming, or that it was withdrawn
Kind = Literal["upcoming", "withdrawn"]
UNANNOUNCEABLE = ("closed", "withdrawn")  # a change in these is no longer upcoming


class Subscriber(NamedTuple):
    id: int
    email: str
    language: str
    token: str


def _claim(db: Database, subscription_id: int, change_id: int, kind: Kind,
           moment: datetime.datetime) -> Claim:
    """Record the e-mail as being sent, once per subscriber, change and kind (unique
    constraint); a failed earlier attempt, or one whose run died while sending, may be claimed
    again. An upcoming-change e-mail is never claimed once the change is withdrawn or closed."""
    try:
        with db.transaction() as session:
            if not _still_upcoming(session, change_id, kind):
                return "no-longer-upcoming"
            session.add(SubscriptionDeliveryRow(subscription_id=subscription_id,
                                                change_id=change_id, kind=kind,
                                                status="sending", claimed_at=moment))
        return "new"
    except IntegrityError:
        pass
    mine = _delivery(subscription_id, change_id, kind)
    with db.transaction() as session:
        if not _still_upcoming(session, change_id, kind):
            return "no-longer-upcoming"
        retried = session.execute(
            update(SubscriptionDeliveryRow)
            .where(*mine, SubscriptionDeliveryRow.status == "failed")
            .values(status="sending", claimed_at=moment, error=None))
        if retried.rowcount:  # type: ignore[attr-defined]
            return "new"
        stale = session.execute(
            update(SubscriptionDeliveryRow)
            .where(*mine, SubscriptionDeliveryRow.status == "sending",
                   SubscriptionDeliveryRow.claimed_at < moment - STALE_CLAIM)
            .values(claimed_at=moment))
        return "in-doubt" if stale.rowcount else "taken"  # type: ignore[attr-defined]


def _still_upcoming(session: Session, change_id: int, kind: Kind) -> bool:
    """For an upcoming-change e-mail: the change is neither withdrawn nor closed. The change's
    row is share-locked until the claim commits, so a withdrawal waits for the claim (and its
    withdrawal e-mail then includes this subscriber) or the claim sees the withdrawal."""
    if kind != "upcoming":
        return True
    status = session.execute(select(ChangeRow.status).where(ChangeRow.id == change_id)
                             .with_for_update(read=True)).scalar_one()
    return status not in UNANNOUNCEABLE


def _delivery(subscription_id: int, change_id: int, kind: Kind) -> tuple[ColumnElement[bool], ...]:
    return (SubscriptionDeliveryRow.subscription_id == subscription_id,
            SubscriptionDeliveryRow.change_id == change_id,
            SubscriptionDeliveryRow.kind == kind)


def subscription_message_id(change_id: int, subscription_id: int, privacy_email: str | None,
                            kind: Kind = "upcoming") -> str:
    """The same Message-ID whenever this subscriber's e-mail of this kind about this change is
    sent (and another one for each kind)."""
    domain = (privacy_email or "dpa-engine.invalid").rsplit("@", 1)[-1]
    name = "dpa-subscription" if kind == "upcoming" else f"dpa-subscription-{kind}"
    return f"<{name}.{change_id}.{subscription_id}@{domain}>"


def notify_subscribers(db: Database, change_id: int, *, texts: PageTexts, settings: SmtpSettings,
                       base_url: str, now: datetime.datetime | None = None) -> NotifyReport:
    """E-mail every confirmed subscriber about an upcoming change, exactly once each (call it
    when a change is proposed or planned; calling it again sends only what failed before)."""
    with db.transaction() as session:
        row = get_change(session, change_id)
        if row.status in UNANNOUNCEABLE:
            raise NoticeError(f"change {change_id} is {row.status}: it is no longer upcoming",
                              fix="subscribers are told about changes before they take effect")
        change, provider = summary(row), provider_snapshot(session)
        subscribers = [Subscriber(s.id, s.email, s.language, s.token) for s in session.execute(
            select(SubscriptionRow).where(SubscriptionRow.status == "confirmed")
            .order_by(SubscriptionRow.id)).scalars()]
    return _deliver(db, change, "upcoming", subscribers, texts=texts, settings=settings,
                    provider=provider, base=base_url.rstrip("/"), moment=now or now_utc())


def notify_withdrawn(db: Database, change_id: int, *, texts: PageTexts, settings: SmtpSettings,
                     base_url: str, now: datetime.datetime | None = None) -> NotifyReport:
    """E-mail every confirmed subscriber who was told of a change that it was withdrawn, exactly
    once each (told: the upcoming e-mail went out, or may have: a run died while sending it).
    Nobody else: not those who subscribed later, have unsubscribed, or were not reached."""
    with db.transaction() as session:
        row = get_change(session, change_id)
        if row.status != "withdrawn":
            raise NoticeError(f"change {change_id} is {row.status}, not withdrawn",
                              fix=f"withdraw it first: dpa change withdraw {change_id} "
                                  "--reason TEXT")
        change, provider = summary(row), provider_snapshot(session)
        told = select(SubscriptionDeliveryRow.subscription_id).where(
            SubscriptionDeliveryRow.change_id == change_id,
            SubscriptionDeliveryRow.kind == "upcoming",
            SubscriptionDeliveryRow.status.in_(("sent", "sending")))
        subscribers = [Subscriber(s.id, s.email, s.language, s.token) for s in session.execute(
            select(SubscriptionRow).where(SubscriptionRow.status == "confirmed",
                                          SubscriptionRow.id.in_(told))
            .order_by(SubscriptionRow.id)).scalars()]
    return _deliver(db, change, "withdrawn", subscribers, texts=texts, settings=settings,
                    provider=provider, base=base_url.rstrip("/"), moment=now or now_utc())


def _deliver(db: Database, change: ChangeSummary, kind: Kind, subscribers: list[Subscriber], *,
             texts: PageTexts, settings: SmtpSettings, provider: ProviderSnapshot, base: str,
             moment: datetime.datetime) -> NotifyReport:
    """Claim, send and record one e-mail of this kind to each subscriber."""
    sent: list[str] = []
    failed: dict[str, str] = {}
    in_doubt: list[str] = []
    already = 0
    stopped = None
    for subscriber in subscribers:
        claim = _claim(db, subscriber.id, change.id, kind, moment)
        if claim == "no-longer-upcoming":
            stopped = (f"change {change.id} was withdrawn or closed meanwhile: the other "
                       f"{len(subscribers) - subscribers.index(subscriber)} were not told")
            break
        if claim == "taken":
            already += 1
            continue
        if claim == "in-doubt":
            in_doubt.append(subscriber.email)
        message = _list_message(settings, provider, change, texts, kind, base=base,
                                subscriber=subscriber)
        status, error = "sent", None
        try:
            send_message(settings, message)
        except MailError as exc:
            status, error = "failed", exc.what
        with db.transaction() as session:
            session.execute(update(SubscriptionDeliveryRow).where(
                *_delivery(subscriber.id, change.id, kind)).values(
                status=status, error=error, sent_at=now_utc() if status == "sent" else None))
        if error is None:
            sent.append(subscriber.email)
        else:
            failed[subscriber.email] = error
    return NotifyReport(change=change.id, sent=sent, already=already, failed=failed,
                        in_doubt=in_doubt, stopped=stopped)


def _list_message(settings: SmtpSettings, provider: ProviderSnapshot, change: ChangeSummary,
                  texts: PageTexts, kind: Kind, *, base: str, subscriber: Subscriber
                  ) -> EmailMessage:
    """The informational e-mail about an upcoming change (or its withdrawal), with one-click
    unsubscribe."""
    lang = _language(subscriber.language)
    new, old = change.subprocessor, change.previous
    shown = new or old
    assert shown is not None
    values = {"provider_name": provider.name, "subprocessor": shown.name,
              "legal_entity": shown.legal_entity, "replaced": old.name if old else "",
              "effective_date": locale.long_date(change.effective_on, lang),
              "link": f"{base}/subprocessors?lang={lang}",
              "unsubscribe": f"{base}/subprocessors/unsubscribe/{subscriber.token}"}
    message = _message(settings, provider.privacy_email, subscriber.email, lang,
                       texts.render(f"mail_{kind}_subject", lang, **values),
                       [texts.render(f"pub_change_{change.action}", lang, **values),
                        texts.render(f"mail_{kind}_body", lang, **values),
                        texts.render("mail_unsubscribe", lang,
                                     link=values["unsubscribe"]),
                        texts.render("mail_closing", lang, **values)])
    message.replace_header("Message-ID", subscription_message_id(
        change.id, subscriber.id, provider.privacy_email, kind))
    if kind != "upcoming":  # mail clients show it with the e-mail it follows up
        message["References"] = subscription_message_id(change.id, subscriber.id,
                                                        provider.privacy_email)
    message["List-Unsubscribe"] = f"<{values['unsubscribe']}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["List-Id"] = f"Sub-processors <subprocessors.{provider_list_id(base)}>"
    return message


def provider_list_id(base_url: str) -> str:
    """A List-Id domain part from the public URL's host (RFC 2919)."""
    host = re.sub(r"^[a-z]+://", "", base_url).split("/")[0].split(":")[0]
    return host or "localhost"


__all__ = [
    "NotifyReport", "confirm_subscription", "normalised_email", "notify_subscribers",
    "notify_withdrawn", "subscribe", "subscription_status", "unsubscribe",
]
