"""One notice rendered: its text, HTML, exact MIME bytes and what its letter is made from,
for one customer as if dispatched at a given moment. The same inputs give the same bytes."""

from __future__ import annotations

import datetime
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.orm import Session

from ...mail import SmtpSettings
from ...models import Language
from ...storage.schema import ChangeRow, OutboxRow
from ..changes import ChangeSummary, summary
from ..compose import (
    LetterSource,
    NoticeContent,
    NoticeFacts,
    compose_notice,
    notice_html,
    notice_text,
)
from ..deadlines import BRUSSELS, Window, brussels_day, objection_deadline
from ..errors import NoticeError
from ..links import notice_url, public_url, stored_secret
from ..planning import agreement_window
from ..provider import ProviderSnapshot, installation_id, provider_snapshot
from ..texts import NoticeTexts
from ..withdrawal_notice import compose_withdrawal
from .mime import notice_mime


@dataclass(frozen=True)
class ChangeFacts:
    """What every notice of one change shares."""

    change_id: int
    change: ChangeSummary
    provider: ProviderSnapshot
    sender: str
    contact: str
    installation: str
    public_url: str | None = None  # $DPA_PUBLIC_URL: notices link to the notice page
    link_secret: str | None = None  # what signs those links


def change_facts(session: Session, settings: SmtpSettings, change: ChangeRow) -> ChangeFacts:
    provider = provider_snapshot(session)
    sender = settings.from_address or provider.privacy_email
    if not sender:
        raise NoticeError("no sender address for notices", field="--smtp-from / DPA_SMTP_FROM",
                          fix="set DPA_SMTP_FROM, or give the provider profile a privacy_contact "
                          "e-mail")
    base = public_url()
    return ChangeFacts(change_id=change.id, change=summary(change), provider=provider,
                       sender=sender, contact=provider.privacy_email or sender,
                       installation=installation_id(session), public_url=base,
                       link_secret=stored_secret(session) if base else None)


def message_id(facts: ChangeFacts, customer_key: str, purpose: str = "notice") -> str:
    """The Message-ID of the customer's notice, or (`purpose` 'withdrawal') of its
    withdrawal notice."""
    domain = facts.contact.rsplit("@", 1)[-1]
    return (f"<dpa-{purpose}.{facts.change_id}.{customer_key}.{facts.installation[:12]}"
            f"@{domain}>")


@dataclass(frozen=True)
class Addressee:
    """One customer's side of a notice."""

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
    contact_name: str | None  # greeted by name when the deal names a person
    country: str  # of its registered office: the time zone its deadline is shown in


def addressee(*, message_id: str, key: str, name: str, kind: str, language: str,
              recipients: Collection[str], reasons: Collection[dict[str, Any]],
              agreement: Any, contact_name: str | None, country: str) -> Addressee:
    """`agreement`: an AgreementRow, or a query row with the same attribute names."""
    return Addressee(
        message_id=message_id, key=key, name=name, kind=kind, language=language,
        contact_name=contact_name, country=country,
        recipients=tuple(recipients), services=frozenset(r["service"] for r in reasons),
        reference=agreement.reference or f"v{agreement.version}",
        window=None if kind == "informational" else agreement_window(agreement),
        remedy=agreement.remedy)


def queued_addressee(message: OutboxRow) -> Addressee:
    """The addressee of an outbox entry (loaded with its target, customer and agreement)."""
    target, customer = message.target, message.target.customer
    return addressee(message_id=message.message_id, key=customer.key, name=customer.name,
                     kind=target.kind, language=target.language, recipients=target.recipients,
                     reasons=target.reasons, agreement=target.agreement,
                     contact_name=customer.contact_name, country=customer.country)


@dataclass(frozen=True)
class Rendered:
    subject: str
    body_text: str
    body_html: str
    mime: bytes
    letter_source: LetterSource
    letter_json: dict[str, Any]  # letter_source as stored (JSON)
    stated_deadline: datetime.datetime | None
    rendered_for: datetime.date


def render_notice(facts: ChangeFacts, texts: NoticeTexts, who: Addressee,
                  dispatch_at: datetime.datetime) -> Rendered:
    """The customer's notice as if dispatched at `dispatch_at`."""
    provider, info = facts.provider, facts.change
    window = who.window
    deadline = objection_deadline(dispatch_at, window) if window is not None else None
    link = None
    if facts.public_url and facts.link_secret:
        # a function of the stated deadline (or, with none, of the Brussels day): every
        # rendering of this message on one day carries the same link
        day = brussels_day(dispatch_at)
        link = notice_url(facts.public_url, facts.change_id, who.key, deadline,
                          secret=facts.link_secret,
                          issued_at=datetime.datetime(day.year, day.month, day.day,
                                                      tzinfo=BRUSSELS))
    notice = NoticeFacts.model_validate({
        "language": who.language, "kind": who.kind, "action": info.action,
        "change_number": facts.change_id, "customer_name": who.name,
        "contact_name": who.contact_name, "country": who.country, "notice_url": link,
        "provider_name": provider.name, "contact_email": facts.contact,
        "agreement_reference": who.reference, "subprocessor": info.subject,
        "replaced": info.previous if info.action == "replace" else None,
        "services": [_service_name(provider.services.get(s, s), who.language)
                     for s in sorted(who.services)],
        "effective_on": info.effective_on, "deadline": deadline, "window": window,
        "remedy": who.remedy})
    return _rendered(facts, who, compose_notice(notice, texts), dispatch_at, deadline=deadline)


def _rendered(facts: ChangeFacts, who: Addressee, content: NoticeContent,
              dispatch_at: datetime.datetime, *, deadline: datetime.datetime | None
              ) -> Rendered:
    """The content as e-mail (exact bytes) and as what its letter is made from."""
    body_text, body_html = notice_text(content), notice_html(content)
    mime = notice_mime(
        content, text=body_text, html_body=body_html, message_id=who.message_id,
        sender=facts.sender, recipients=list(who.recipients), reply_to=facts.contact,
        date=dispatch_at,
        headers={"X-DPA-Change": str(facts.change_id), "X-DPA-Customer": who.key})
    letter = LetterSource(content=content, customer_name=who.name,
                          provider_name=facts.provider.name,
                          generated_at=dispatch_at.replace(microsecond=0),
                          custom={"dpa.change": str(facts.change_id),
                                  "dpa.customer": who.key, "dpa.message_id": who.message_id})
    return Rendered(subject=content.subject, body_text=body_text, body_html=body_html,
                    mime=mime, letter_source=letter,
                    letter_json=letter.model_dump(mode="json"), stated_deadline=deadline,
                    rendered_for=brussels_day(dispatch_at))


def render_withdrawal(facts: ChangeFacts, texts: NoticeTexts, who: Addressee,
                      announced: datetime.date, dispatch_at: datetime.datetime) -> Rendered:
    """The customer's notice that the change announced on `announced` is withdrawn."""
    content = compose_withdrawal(texts, language=cast(Language, who.language),
                                 change=facts.change,
                                 change_number=facts.change_id, customer_name=who.name,
                                 provider_name=facts.provider.name,
                                 agreement_reference=who.reference, announced=announced,
                                 contact_name=who.contact_name)
    return _rendered(facts, who, content, dispatch_at, deadline=None)


def _service_name(name: object, language: str) -> str:
    if isinstance(name, dict):
        return str(name.get(language) or next(iter(name.values())))
    return str(name)
