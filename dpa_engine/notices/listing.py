"""The sub-processor list, for one customer (in its language) or for the provider: its
rows in words, and as a table, CSV, JSON or .docx.

A customer's list shows the sub-processors that serve the services of the agreement it
signed; one brought in by a change the customer objected to (or did not consent to) is
shown as not processing its data.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .. import locale
from ..document import DocumentModel, Paragraph, Style, Table, TextRun
from ..files import spreadsheet_safe
from ..models import Language, SubProcessor, text_in
from ..render import DocxRenderer
from ..storage import Database
from .compose import plain_document, purpose_text, transfer_text
from .deadlines import brussels_day
from .provider import current_list, list_entries, provider_snapshot
from .register import blocked_subprocessors, current_agreement, find_customer, now_utc
from .texts import NoticeTexts

LIST_COLUMNS = ("name", "legal_entity", "country", "locations", "purpose", "services",
                "engagement", "transfer", "status")


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
    headings = {column: say("label_subprocessor" if column == "name" else f"label_{column}")
                for column in LIST_COLUMNS}
    headings.update(engaged=say("status_active"), blocked=say("status_blocked"))
    subtitle = say("list_subtitle_customer" if customer_name else "list_subtitle_general")
    return SubprocessorListView(
        language=language, title=say("list_title"), subtitle=subtitle, provider=provider_name,
        customer=customer_name, list_version=list_version, published_at=published_at,
        headings=headings, rows=rows, empty_note=say("list_empty"))


def list_cells(view: SubprocessorListView, row: ListRow) -> list[str]:
    values = row.model_dump() | {"status": view.headings[row.status]}
    return [", ".join(value) if isinstance(value, list) else str(value)
            for value in (values[column] for column in LIST_COLUMNS)]


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
    return plain_document(view.language, header, view.subtitle, view.provider, generated_at,
                     {"dpa.list_version": str(view.list_version)}, blocks, page_label,
                     page_of_label)


def subprocessor_list(db: Database, texts: NoticeTexts, *, customer_ref: str | None = None,
                      language: Language | None = None,
                      now: datetime.datetime | None = None) -> SubprocessorListView:
    moment = now or now_utc()
    with db.transaction() as session:
        provider = provider_snapshot(session)
        listed = current_list(session)
        entries = list_entries(listed)
        customer_name: str | None = None
        services: list[str] | None = None
        blocked: set[str] = set()
        lang: Language = language or "en"
        if customer_ref is not None:
            customer = find_customer(session, customer_ref)
            agreement = current_agreement(customer)
            customer_name, services = customer.name, list(agreement.services)
            blocked = blocked_subprocessors(session, customer)
            lang = language or agreement.language  # type: ignore[assignment]
        names = {service_id: text_in(name, lang) or service_id
                 for service_id, name in provider.services.items()}
        return list_view(entries, texts=texts, language=lang, provider_name=provider.name,
                         service_names=names, customer_name=customer_name, services=services,
                         blocked=blocked, list_version=listed.number,
                         published_at=listed.published_at, today=brussels_day(moment))


def list_csv(view: SubprocessorListView) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([spreadsheet_safe(view.headings[c]) for c in LIST_COLUMNS])
    for row in view.rows:
        writer.writerow([spreadsheet_safe(cell) for cell in list_cells(view, row)])
    return buffer.getvalue()


def list_json(view: SubprocessorListView) -> str:
    return json.dumps(view.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def list_docx(view: SubprocessorListView, texts: NoticeTexts, renderer: DocxRenderer,
              *, now: datetime.datetime | None = None) -> bytes:
    moment = (now or now_utc()).replace(microsecond=0)
    model = list_document(view, generated_at=moment,
                          page_label=texts.render("letter_page", view.language),
                          page_of_label=texts.render("letter_page_of", view.language))
    return renderer.render_bytes(model)
