"""Composing what a customer reads: change notices (e-mail text + HTML, .docx letter, MIME)
and the sub-processor list, in the customer's language, from the texts legal maintains.

Every value a customer or provider supplied (names, purposes) is data: the texts are plain
text, values are never parsed as template code, and the HTML version escapes all of it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import functools
import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .. import locale
from ..document import DocumentModel, DocumentProperties, Paragraph, Style, Table, TextRun
from ..library.textenv import flatten as _flatten
from ..models import Language, SubProcessor, TransferMechanism, text_in
from .deadlines import BRUSSELS, Window, last_day
from .errors import NoticeError
from .texts import NoticeTexts

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


# Stand-ins for the values that differ per customer while composing a notice's shape: control
# characters, which no input can contain (the models refuse them).
_PER_CUSTOMER = {"customer_name": "\x10", "agreement_reference": "\x11"}


@dataclass(frozen=True)
class _Shape:
    """A notice composed with stand-ins for the per-customer values, and its e-mail bodies."""

    content: NoticeContent
    text: str  # notice_text before its final strip
    html: str


def _shape(facts: NoticeFacts, texts: NoticeTexts) -> _Shape | None:
    """The notice's shape (composed once per shape), or None when a text does more with a
    per-customer value than print it bare."""
    if not texts.verbatim.issuperset(_PER_CUSTOMER):
        return None
    key = facts.model_dump_json(exclude=set(_PER_CUSTOMER))
    shape = texts.shapes.get(key)
    if not isinstance(shape, _Shape):
        if len(texts.shapes) > 10_000:
            texts.shapes.clear()
        content = _compose(facts.model_copy(update=_PER_CUSTOMER), texts)
        shape = texts.shapes[key] = _Shape(content, _text_lines(content), notice_html(content))
    return shape


def _filler(facts: NoticeFacts, escape: Callable[[str], str] = str) -> Callable[[str], str]:
    name = escape(_flatten(facts.customer_name))
    reference = escape(_flatten(facts.agreement_reference))

    def fill(text: str) -> str:
        if "\x10" in text or "\x11" in text:
            return text.replace("\x10", name).replace("\x11", reference)
        return text

    return fill


def compose_notice(facts: NoticeFacts, texts: NoticeTexts) -> NoticeContent:
    """The notice in words. A fan-out composes the same sentences for thousands of customers
    that differ only in name and agreement reference: when the texts print those bare, the
    notice is composed once per shape with stand-ins and the values are put in afterwards
    (exactly what rendering with them would give: the same finalize hook flattens them)."""
    shape = _shape(facts, texts)
    return _compose(facts, texts) if shape is None else _filled(shape.content, _filler(facts))


def compose_email(facts: NoticeFacts, texts: NoticeTexts) -> tuple[NoticeContent, str, str]:
    """The notice in words with its text and HTML bodies: `notice_text` and `notice_html` of
    `compose_notice`, taken from the shape's bodies when it has one (HTML-escaped values)."""
    shape = _shape(facts, texts)
    if shape is None:
        content = _compose(facts, texts)
        return content, notice_text(content), notice_html(content)
    fill = _filler(facts)
    return (_filled(shape.content, fill), fill(shape.text).rstrip() + "\n",
            _filler(facts, html.escape)(shape.html))


def _filled(blank: NoticeContent, fill: Callable[[str], str]) -> NoticeContent:
    return NoticeContent.model_construct(
        language=blank.language, subject=fill(blank.subject), title=fill(blank.title),
        reference=fill(blank.reference), before=[fill(p) for p in blank.before],
        details_heading=fill(blank.details_heading),
        details=[(fill(label), fill(value)) for label, value in blank.details],
        after=[fill(p) for p in blank.after], page_label=fill(blank.page_label),
        page_of_label=fill(blank.page_of_label))


def _compose(facts: NoticeFacts, texts: NoticeTexts) -> NoticeContent:
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
    }
    if facts.kind != "informational":
        if facts.deadline is None or facts.window is None:
            raise NoticeError("a notice with a window needs its deadline",
                              fix="report this as a bug")  # pragma: no cover
        values.update(
            deadline_date=locale.long_date(last_day(facts.deadline), lang),
            deadline_time="23:59",
            window_days=str(facts.window.days),
        )
        values["window"] = texts.render(f"window_{facts.window.unit}", lang, **values)

    def say(key: str) -> str:
        return texts.render(key, lang, **values)

    before = [say("greeting"), say(f"intro_{facts.action}")]
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
    if facts.kind == "objection":
        after = [say("action_objection"), say("silence_objection"), say(f"remedy_{facts.remedy}")]
    elif facts.kind == "consent":
        after = [say("action_consent"), say("silence_consent"), say(f"remedy_{facts.remedy}")]
    else:
        after = [say("action_informational")]
    after += [say("list_offer"), say("closing")]
    return NoticeContent(
        language=lang, subject=say(f"subject_{facts.kind}"), title=say("letter_title"),
        reference=say("reference_line"), before=before, details_heading=say("details_heading"),
        details=[(label, str(value)) for label, value in details], after=after,
        page_label=say("letter_page"), page_of_label=say("letter_page_of"))


def notice_text(content: NoticeContent) -> str:
    return _text_lines(content).rstrip() + "\n"


def _text_lines(content: NoticeContent) -> str:
    lines = [content.reference, "", *_paragraphs(content.before), content.details_heading]
    lines += [f"- {label}: {value}" for label, value in content.details]
    lines += ["", *_paragraphs(content.after)]
    return "\n".join(lines)


def _paragraphs(paragraphs: list[str]) -> list[str]:
    out: list[str] = []
    for paragraph in paragraphs:
        out += [paragraph, ""]
    return out


def _html_paragraph(text: str) -> str:
    return "<p>" + "<br>\n".join(html.escape(line) for line in text.split("\n")) + "</p>"


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
        *(_html_paragraph(p) for p in content.after),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def notice_document(content: NoticeContent, *, customer_name: str, provider_name: str,
                    generated_at: datetime.datetime, custom: dict[str, str]) -> DocumentModel:
    """The notice as a letter: the same blocks the agreement renderer turns into .docx."""
    def body(text: str) -> Paragraph:
        return Paragraph(style=Style.BODY, runs=[TextRun(text=" ".join(text.split("\n")))])

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
    return _document(content.language, f"{content.title} – {customer_name}", content.subject,
                     provider_name, generated_at, custom, blocks, content.page_label,
                     content.page_of_label)


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
    return notice_document(source.content, customer_name=source.customer_name,
                           provider_name=source.provider_name,
                           generated_at=source.generated_at, custom=source.custom)


def _document(language: Language, header: str, subject: str, provider_name: str,
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


def notice_mime(content: NoticeContent, *, text: str, html_body: str, message_id: str,
                sender: str, recipients: list[str], reply_to: str, date: datetime.datetime,
                headers: dict[str, str]) -> bytes:
    """The notice as an RFC 5322 message: text and HTML alternatives, quoted-printable UTF-8.

    Written directly (a few string joins, ~30x faster than building an `EmailMessage`, which
    matters for a fan-out to thousands of customers); the `email` package still builds it when
    an address or header value is not plain ASCII, which needs its encoders."""
    plain = [sender, reply_to, message_id, *recipients, *headers.keys(), *headers.values()]
    if not all(value.isascii() and "\r" not in value and "\n" not in value for value in plain):
        return _mime_with_email_package(
            content, text=text, html_body=html_body, message_id=message_id, sender=sender,
            recipients=recipients, reply_to=reply_to, date=date, headers=headers)
    # '=_' never occurs in quoted-printable output, so the boundary cannot clash with a body
    boundary = "=_dpa_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    lines = [
        _encoded_header("Subject", content.subject),
        f"From: {sender}",
        _address_header("To", recipients),
        f"Reply-To: {reply_to}",
        f"Date: {_date_header(date)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        *(f"{name}: {value}" for name, value in headers.items()),
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
        f"Content-Language: {content.language}",
        "",
    ]
    head = "\r\n".join(lines).encode("ascii")
    return b"".join([
        head, b"\r\n--", boundary.encode(), b"\r\n", _qp_part("plain", text),
        b"--", boundary.encode(), b"\r\n", _qp_part("html", html_body),
        b"--", boundary.encode(), b"--\r\n"])


@functools.lru_cache(maxsize=4096)
def _encoded_header(name: str, value: str) -> str:
    """An unstructured header, folded below 78 columns; RFC 2047 encoded words (UTF-8, base64)
    when it is not plain ASCII. (email.header does the same, 100x slower.) Cached: a fan-out
    repeats the same few subjects for thousands of customers."""
    value = " ".join(value.split())  # no line breaks can get into the header block
    if value.isascii():
        lines, line = [], f"{name}:"
        for word in value.split(" "):
            if len(line) + 1 + len(word) > 78 and line != f"{name}:":
                lines.append(line)
                line = ""
            line += " " + word
        return "\r\n".join([*lines, line])
    words, chunk = [], b""
    for char in value:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > 39:  # 39 bytes: 52 base64 characters a word
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return f"{name}: " + "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word).decode('ascii')}?=" for word in words)


@functools.lru_cache(maxsize=1024)
def _date_header(date: datetime.datetime) -> str:
    return format_datetime(date.astimezone(BRUSSELS))


def _address_header(name: str, addresses: list[str]) -> str:
    """Plain addresses, one per folded line when they do not fit on one."""
    line = f"{name}: {', '.join(addresses)}"
    return line if len(line) <= 78 else f"{name}: " + ",\r\n ".join(addresses)


def _qp_part(subtype: str, body: str) -> bytes:
    # Quoted-printable encodes each line on its own (a hard line break ends any soft-broken
    # run), so lines are encoded one by one and cached: a fan-out's notices share most lines.
    encoded = b"\r\n".join([_qp_line(line) for line in body.replace("\r\n", "\n").split("\n")])
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    encoded += b"\r\n"  # the line break before a boundary belongs to the boundary (RFC 2046)
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + encoded


@functools.lru_cache(maxsize=8192)
def _qp_line(line: str) -> bytes:
    # with its line break, so that soft breaks are CRLF too (b2a_qp copies the first one)
    encoded = binascii.b2a_qp(f"{line}\r\n".encode(), quotetabs=False, istext=True,
                              header=False)
    return encoded[:-2]


def _mime_with_email_package(content: NoticeContent, *, text: str, html_body: str,
                             message_id: str, sender: str, recipients: list[str], reply_to: str,
                             date: datetime.datetime, headers: dict[str, str]) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["Subject"] = content.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Reply-To"] = reply_to
    message["Date"] = format_datetime(date.astimezone(BRUSSELS))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in headers.items():
        message[name] = value
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html_body, subtype="html", cte="quoted-printable")
    message["Content-Language"] = content.language
    return message.as_bytes()


# --- the sub-processor list -----------------------------------------------------------------

class ListRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    legal_entity: str
    country: str
    locations: list[str]
    purpose: str
    services: list[str]
    engagement: str
    transfer: str
    status: Literal["engaged", "blocked"]


class SubprocessorListView(BaseModel):
    """The list a customer may ask for (or the provider's whole list), in one language."""

    model_config = ConfigDict(frozen=True)
    language: Language
    title: str
    subtitle: str
    provider: str
    customer: str | None
    list_version: int
    published_at: datetime.datetime
    headings: dict[str, str]
    rows: list[ListRow]
    empty_note: str


def list_view(entries: list[SubProcessor], *, texts: NoticeTexts, language: Language,
              provider_name: str, service_names: dict[str, str], customer_name: str | None,
              services: list[str] | None, blocked: set[str], list_version: int,
              published_at: datetime.datetime, today: datetime.date) -> SubprocessorListView:
    values: dict[str, object] = {"provider_name": provider_name,
                                 "customer_name": customer_name or "",
                                 "list_date": locale.long_date(today, language)}

    def say(key: str) -> str:
        return texts.render(key, language, **values)

    wanted = set(services) if services is not None else None
    rows = []
    ordered = sorted(entries, key=lambda s: (s.engagement != "systematic", s.name.lower()))
    for sub in ordered:
        used = [s for s in sub.services if wanted is None or s in wanted]
        if not used:
            continue
        rows.append(ListRow(
            id=sub.id, name=sub.name, legal_entity=sub.legal_entity,
            country=locale.country_name(sub.country, language),
            locations=[locale.country_name(c, language) for c in sub.locations],
            purpose=purpose_text(sub, language),
            services=[service_names.get(s, s) for s in used],
            engagement=say(f"engagement_{sub.engagement}"),
            transfer=transfer_text(texts, sub.transfer, language),
            status="blocked" if sub.id in blocked else "engaged"))
    headings = {
        "name": say("label_subprocessor"), "legal_entity": say("label_legal_entity"),
        "country": say("label_country"), "locations": say("label_locations"),
        "purpose": say("label_purpose"), "services": say("label_services"),
        "engagement": say("label_engagement"), "transfer": say("label_transfer"),
        "status": say("label_status"), "engaged": say("status_active"),
        "blocked": say("status_blocked"),
    }
    subtitle = say("list_subtitle_customer" if customer_name else "list_subtitle_general")
    return SubprocessorListView(
        language=language, title=say("list_title"), subtitle=subtitle, provider=provider_name,
        customer=customer_name, list_version=list_version, published_at=published_at,
        headings=headings, rows=rows, empty_note=say("list_empty"))


LIST_COLUMNS = ("name", "legal_entity", "country", "locations", "purpose", "services",
                "engagement", "transfer", "status")


def list_cells(view: SubprocessorListView, row: ListRow) -> list[str]:
    values = row.model_dump()
    cells = []
    for column in LIST_COLUMNS:
        value = values[column]
        if column == "status":
            value = view.headings[row.status]
        cells.append(", ".join(value) if isinstance(value, list) else str(value))
    return cells


def list_document(view: SubprocessorListView, *, generated_at: datetime.datetime,
                  page_label: str, page_of_label: str) -> DocumentModel:
    blocks: list[Paragraph | Table] = [
        Paragraph(style=Style.TITLE, runs=[TextRun(text=view.title)]),
        Paragraph(style=Style.SUBTITLE, runs=[TextRun(text=view.subtitle)]),
    ]
    if view.rows:
        blocks.append(Table(header=[view.headings[c] for c in LIST_COLUMNS],
                            rows=[[[cell] for cell in list_cells(view, r)] for r in view.rows],
                            widths=[11, 12, 10, 10, 15, 12, 10, 12, 8]))
    else:
        blocks.append(Paragraph(style=Style.BODY, runs=[TextRun(text=view.empty_note)]))
    header = view.title + (f" – {view.customer}" if view.customer else "")
    return _document(view.language, header, view.subtitle, view.provider, generated_at,
                     {"dpa.list_version": str(view.list_version)}, blocks, page_label,
                     page_of_label)
