"""The e-mail confirming a customer's answer on its notice page: to the notice addresses of
its agreement, in its language, greeting its contact by name when the deal has one, the time
of receipt in its own time zone, and the provider's privacy address as a mailto link."""

from __future__ import annotations

import datetime
import html
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote

from sqlalchemy import select

from ..mail import SmtpSettings, send_message
from ..models import Language
from ..notices.provider import provider_snapshot
from ..notices.register import now_utc
from ..storage import Database
from ..storage.schema import PortalAnswerRow
from .pagetexts import PageTexts
from .portal import NoticeRef, answer_of, find_target, local_time_text


def confirmation_message(db: Database, ref: NoticeRef, texts: PageTexts, *, sender: str | None
                         ) -> EmailMessage | None:
    """The e-mail confirming the customer's answer, to its notice addresses (None: no answer)."""
    with db.transaction() as session:
        change, target = find_target(session, ref)
        answer = answer_of(session, target)
        if answer is None:
            return None
        customer = target.customer
        provider = provider_snapshot(session)
        lang: Language = target.language  # type: ignore[assignment]
        sub = change.subprocessor or change.previous or {}
        date, time, zone = local_time_text(answer.received_at, customer.country, lang, texts)
        values = {"change_number": str(change.id), "subprocessor": str(sub.get("name", "")),
                  "answer": texts.render(f"answer_{answer.action}", lang),
                  "received": f"{date} {time}", "time_zone": zone, "receipt": answer.receipt,
                  "contact_name": customer.contact_name or "", "customer_name": customer.name,
                  "provider_name": provider.name, "contact_email": provider.privacy_email or ""}
        recipients = list(target.recipients)
    greeting = texts.render("greeting_named" if values["contact_name"] else "greeting_anonymous",
                            lang, **values)
    body = texts.render("mail_answer_body", lang, **values)
    question = texts.render("change_by_email", lang, **values)
    closing = texts.render("mail_closing", lang, **values)
    message = EmailMessage()
    message["Subject"] = texts.render("mail_answer_subject", lang, **values)
    message["From"] = sender or provider.privacy_email or "noreply@localhost"
    message["To"] = ", ".join(recipients)
    if provider.privacy_email:
        message["Reply-To"] = provider.privacy_email
    message["Date"] = format_datetime(now_utc())
    message["Message-ID"] = make_msgid(domain="dpa-engine.invalid")
    message["Auto-Submitted"] = "auto-replied"
    message["Content-Language"] = lang
    message.set_content("\n\n".join([greeting, body, question, closing]) + "\n")
    message.add_alternative(_html_mail(lang, [greeting, body], question,
                                       provider.privacy_email, closing), subtype="html")
    return message


def _html_mail(lang: str, paragraphs: list[str], question: str, contact: str | None,
               closing: str) -> str:
    parts = [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if contact:  # the privacy address as a mailto link
        link = f'<a href="mailto:{quote(contact, safe="@")}">{html.escape(contact)}</a>'
        parts.append("<p>" + html.escape(question).replace(html.escape(contact), link) + "</p>")
    else:
        parts.append(f"<p>{html.escape(question)}</p>")
    parts.append("<p>" + "<br>".join(html.escape(line) for line in closing.split("\n")) + "</p>")
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"></head><body>'
            + "\n".join(parts) + "</body></html>\n")


def send_confirmation(db: Database, ref: NoticeRef, texts: PageTexts, settings: SmtpSettings,
                      *, now: datetime.datetime | None = None) -> bool:
    """Send the confirmation of the answer once (True when it has been sent, now or before)."""
    with db.transaction() as session:
        _, target = find_target(session, ref)
        answer = answer_of(session, target)
        if answer is None:
            return False
        if answer.confirmation_sent_at is not None:
            return True
    message = confirmation_message(db, ref, texts, sender=settings.from_address)
    if message is None:
        return False
    send_message(settings, message)
    with db.transaction() as session:
        _, target = find_target(session, ref)
        row = session.execute(select(PortalAnswerRow).where(
            PortalAnswerRow.target_id == target.id)).scalar_one()
        row.confirmation_sent_at = now or now_utc()
    return True


__all__ = ["confirmation_message", "send_confirmation"]
