"""The current sub-processor list, for one customer (in its language) or for the provider.

A customer's list shows the sub-processors that serve the services of the agreement it
signed; one brought in by a change the customer objected to (or did not consent to) is
shown as not processing its data.
"""

from __future__ import annotations

import csv
import datetime
import io
import json

from ..files import spreadsheet_safe
from ..models import Language, text_in
from ..render import DocxRenderer
from ..storage import Database
from .compose import LIST_COLUMNS, SubprocessorListView, list_cells, list_document, list_view
from .deadlines import brussels_day
from .provider import current_list, list_entries, provider_snapshot
from .register import blocked_subprocessors, current_agreement, find_customer, now_utc
from .texts import NoticeTexts


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
