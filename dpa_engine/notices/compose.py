"""Composing what a customer reads in a change notice (e-mail text + HTML, .docx letter), in
the customer's language, from the texts legal maintains.

Every value a customer or provider supplied (names, purposes) is data: the texts are plain
text, values are never parsed as template code, and the HTML version escapes all of it.
"""

from __future__ import annotations

import datetime
import html
import re
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from .. import locale
from ..document import DocumentModel, DocumentProperties, Paragraph, Style, Table, TextRun
from ..models import Language, SubProcessor, TransferMechanism, text_in
from .deadlines import Window
from .errors import NoticeError
from .texts import NoticeTexts
from .zones import customer_zone

NoticeKind = Literal["objection", "consent", "informational"]
Action = Literal["add", "replace", "remove"]


class NoticeFacts(BaseModel):
    """Everything one customer's notice says, before it is put into words."""

    model_config = ConfigDict(frozen=True)
    language: Language
    kind: NoticeKind
    action: Action
    change_number: int
    customer_name: str
    contact_name: str | None = None  # the person the deal names, for the greeting
    country: str = "BE"  # of the customer's registered office: its deadline's time zone
    notice_url: str | None = None  # the customer's notice page (none without a public URL)
    provider_name: str
    contact_email: str
    agreement_reference: str
    subprocessor: SubProcessor
    replaced: SubProcessor | None = None
    services: list[str]
    effective_on: datetime.date
    deadline: datetime.datetime | None = None
    window: Window | None = None
    remedy: str = "terminate-service"


class NoticeContent(BaseModel):
    """A notice in words: the same content becomes the e-mail and the letter."""

    model_config = ConfigDict(frozen=True)
    language: Language
    subject: str
    title: str
    reference: str
    before: list[str]
    details_heading: str
    details: list[tuple[str, str]]
    after: list[str]
    page_label: str
    page_of_label: str
    # text -> where the HTML part links it (the notice page, a mailto: for the privacy address)
    links: dict[str, str] = {}


def transfer_text(texts: NoticeTexts, mechanism: TransferMechanism | None, language: Language
                  ) -> str:
    if mechanism is None:
        return texts.render("transfer_none", language)
    text = texts.render(f"transfer_{mechanism.kind}", language,
                        scc_module=str(mechanism.scc_module or ""))
    detail = mechanism.detail_in(language)
    return f"{text} ({detail})" if detail else text


def purpose_text(sub: SubProcessor, language: Language) -> str:
    purpose = text_in(sub.purpose, language)
    if purpose is None:
        raise NoticeError(f"sub-processor '{sub.id}' has no '{language}' purpose",
                          field="purpose", fix=f"give the purpose in {language} too")
    return purpose


def _values(facts: NoticeFacts, texts: NoticeTexts) -> dict[str, object]:
    """What the notice texts' placeholders stand for, for this customer."""
    lang = facts.language
    sub = facts.subprocessor
    values: dict[str, object] = {
        "customer_name": facts.customer_name,
        "provider_name": facts.provider_name,
        "change_number": str(facts.change_number),
        "subprocessor": sub.name,
        "legal_entity": sub.legal_entity,
        "replaced": facts.replaced.name if facts.replaced else "",
        "services": ", ".join(facts.services),
        "effective_date": locale.long_date(facts.effective_on, lang),
        "contact_email": facts.contact_email,
        "agreement_reference": facts.agreement_reference,
        "contact_name": (facts.contact_name or "").strip(),
        "notice_url": facts.notice_url or "",
    }
    zone, zone_label = customer_zone(facts.country)
    values["time_zone"] = texts.render(f"time_zone_{zone_label}", lang)
    if facts.kind != "informational":
        if facts.deadline is None or facts.window is None:
            raise NoticeError("a notice with a window needs its deadline",
                              fix="report this as a bug")  # pragma: no cover
        # the last minute on time, in the customer's own zone (the deadline is the end of a
        # Brussels day; Belgium and the Netherlands share its offset)
        last = (facts.deadline - datetime.timedelta(minutes=1)).astimezone(zone)
        values.update(
            deadline_date=locale.long_date(last.date(), lang),
            deadline_time=f"{last:%H:%M}",
            window_days=str(facts.window.days),
        )
        values["window"] = texts.render(f"window_{facts.window.unit}", lang, **values)
    return values


def compose_notice(facts: NoticeFacts, texts: NoticeTexts) -> NoticeContent:
    """The notice in words, composed for this one customer."""
    lang = facts.language
    sub = facts.subprocessor
    values = _values(facts, texts)

    def say(key: str) -> str:
        return texts.render(key, lang, **values)

    greeting = say("greeting_named") if facts.contact_name else say("greeting")
    before = [greeting, say(f"intro_{facts.action}")]
    if sub.engagement == "incidental" and facts.action != "remove":
        before.append(say("incidental_note"))
    details = [
        (say("label_subprocessor"), sub.name),
        (say("label_legal_entity"), sub.legal_entity),
        (say("label_country"), locale.country_name(sub.country, lang)),
        (say("label_locations"), ", ".join(locale.country_name(c, lang) for c in sub.locations)),
        (say("label_purpose"), purpose_text(sub, lang)),
        (say("label_services"), ", ".join(facts.services)),
        (say("label_transfer"), transfer_text(texts, sub.transfer, lang)),
        (say("label_effective_date"), values["effective_date"]),
    ]
    if facts.replaced is not None:
        details.insert(1, (say("label_replaces"),
                           f"{facts.replaced.name} ({facts.replaced.legal_entity})"))
    after = [say(f"action_{facts.kind}")]
    if facts.kind != "informational":
        after += [say(f"silence_{facts.kind}"), say(f"remedy_{facts.remedy}")]
    links = {facts.contact_email: "mailto:" + quote(facts.contact_email, safe="@")
             + "?subject=" + quote(say("reference_line"))}
    if facts.notice_url:
        after.append(say(f"notice_link_{facts.kind}"))
        links[facts.notice_url] = facts.notice_url
    after += [say("list_offer"), say("closing")]
    return NoticeContent(
        language=lang, subject=say(f"subject_{facts.kind}"), title=say("letter_title"),
        reference=say("reference_line"), before=before, details_heading=say("details_heading"),
        details=[(label, str(value)) for label, value in details], after=after,
        page_label=say("letter_page"), page_of_label=say("letter_page_of"), links=links)


def notice_text(content: NoticeContent) -> str:
    """Paragraphs separated by a blank line; the details as a list under their heading."""
    details = "\n".join([content.details_heading,
                         *(f"- {label}: {value}" for label, value in content.details)])
    return "\n\n".join([content.reference, *content.before, details, *content.after]
                       ).rstrip() + "\n"


# a link shown as its own long address may break anywhere rather than widen the message
_WRAP = ' style="word-break:break-all"'


def _html_paragraph(text: str, links: dict[str, str] | None = None) -> str:
    lines = "<br>\n".join(html.escape(line) for line in text.split("\n"))
    if links:  # escaped text -> an anchor, in one pass (no link is made inside another)
        anchors = {html.escape(shown): f'<a href="{html.escape(href)}"{_WRAP * (href == shown)}>'
                   f'{html.escape(shown)}</a>' for shown, href in links.items() if shown}
        pattern = "|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True))
        if pattern:
            lines = re.sub(pattern, lambda m: anchors[m.group(0)], lines)
    return "<p>" + lines + "</p>"


def notice_html(content: NoticeContent) -> str:
    rows = "\n".join(
        f"<tr><th style=\"text-align:left;padding-right:1em\">{html.escape(label)}</th>"
        f"<td>{html.escape(value)}</td></tr>" for label, value in content.details)
    parts = [
        "<!DOCTYPE html>",
        f"<html lang=\"{content.language}\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(content.subject)}</title></head><body>",
        f"<p><small>{html.escape(content.reference)}</small></p>",
        *(_html_paragraph(p) for p in content.before),
        f"<h2>{html.escape(content.details_heading)}</h2>",
        f"<table>\n{rows}\n</table>",
        *(_html_paragraph(p, content.links) for p in content.after),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


class LetterSource(BaseModel):
    """What a notice letter is made from. The outbox keeps this instead of the .docx: letters
    are rendered only when asked for (`dpa change letters`, the evidence pack), each time the
    same document, and a fan-out does not render thousands of letters nobody reads."""

    model_config = ConfigDict(frozen=True)
    content: NoticeContent
    customer_name: str
    provider_name: str
    generated_at: datetime.datetime
    custom: dict[str, str]


def letter_document(source: LetterSource) -> DocumentModel:
    """The notice as a letter: the same blocks the agreement renderer turns into .docx."""
    content = source.content

    def body(text: str) -> Paragraph:
        return Paragraph(style=Style.BODY, runs=[TextRun(text=text.replace("\n", " "))])

    blocks: list[Paragraph | Table] = [
        Paragraph(style=Style.TITLE, runs=[TextRun(text=content.title)]),
        Paragraph(style=Style.SUBTITLE, runs=[TextRun(text=content.reference)]),
        *(body(p) for p in content.before),
        Paragraph(style=Style.HEADING_2, runs=[TextRun(text=content.details_heading)],
                  keep_with_next=True),
        Table(rows=[[[label], [value]] for label, value in content.details], widths=[30, 70]),
        *(body(p) for p in content.after[:-1]),
        *(Paragraph(style=Style.BODY, runs=[TextRun(text=line)])
          for line in content.after[-1].split("\n")),
    ]
    return plain_document(content.language, f"{content.title} – {source.customer_name}",
                     content.subject, source.provider_name, source.generated_at, source.custom,
                     blocks, content.page_label, content.page_of_label)


def plain_document(language: Language, header: str, subject: str, provider_name: str,
              generated_at: datetime.datetime, custom: dict[str, str],
              blocks: list[Paragraph | Table], page_label: str, page_of_label: str
              ) -> DocumentModel:
    return DocumentModel(
        language=language, header_title=header, draft=False, draft_marker="",
        page_label=page_label, page_of_label=page_of_label,
        properties=DocumentProperties(
            title=header, subject=subject, creator=provider_name, keywords="GDPR art. 28(2)",
            version="1", generated_at=generated_at, language=language, custom=custom),
        clauses=[], blocks=list(blocks))
