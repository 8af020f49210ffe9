"""What the customer's notice page shows, in its language: the change, the services of its
agreement it concerns, its list before and after, the deadline in its own local time, the
answers its signed terms allow, and after the deadline the outcome."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from .. import locale
from ..models import Language, SubProcessor
from ..notices.changes import ChangeSummary, summary
from ..notices.closing import outcome_so_far
from ..notices.compose import purpose_text, transfer_text
from ..notices.deadlines import brussels_day
from ..notices.listing import ListRow, list_view
from ..notices.provider import ProviderSnapshot, provider_snapshot
from ..notices.register import blocked_subprocessors, now_utc
from ..notices.texts import NoticeTexts
from ..storage import Database
from ..storage.schema import AgreementRow, ListVersionRow, ObjectionRow
from .pagetexts import PageTexts
from .portal import (
    ACTIONS,
    ActionName,
    Answer,
    NoticeRef,
    NoticeState,
    answer_of,
    find_target,
    local_time_text,
)


class NoticePage(BaseModel):
    """The notice page of one customer for one change (every text already in its language)."""

    model_config = ConfigDict(frozen=True)
    language: Language
    provider_name: str
    contact_email: str | None
    customer_name: str
    change_number: int
    subprocessor: str
    kind: str
    title: str
    for_line: str
    intro: list[str]
    details_heading: str
    details: list[tuple[str, str]]
    services_label: str
    services: list[str]
    recipients: list[str]  # the notice addresses (the confirmation goes there)
    list_headings: dict[str, str]
    current_list: list[ListRow]
    resulting_list: list[ListRow]
    deadline: str | None  # e.g. "30 november 2026 om 23:59 (Nederlandse tijd)"
    terms: list[str]  # what silence means and what an objection leads to
    open: bool
    actions: list[ActionName]
    answer: Answer | None
    answer_text: str | None  # the receipt sentence, when answered
    outcome: str | None  # after the deadline
    version: str = ""  # names the notice and state this page shows (set when cached)


def _entries(row: ListVersionRow | None) -> list[SubProcessor]:
    return [] if row is None else [SubProcessor.model_validate(e) for e in row.entries]


# Pages by notice and state, per process: a page is composed again only when something it
# shows has changed (see portal.notice_access); bounded, cleared when full.
_PAGES: dict[tuple[object, ...], NoticePage] = {}
PAGE_CACHE_LIMIT = 10_000


def cached_notice_page(db: Database, ref: NoticeRef, state: NoticeState,
                       notice_texts: NoticeTexts, texts: PageTexts, *,
                       now: datetime.datetime | None = None) -> NoticePage:
    """`notice_page`, composed once per notice and state (the state from `notice_access`)."""
    key = (ref.change_id, ref.customer_key, id(notice_texts), id(texts), *state)
    page = _PAGES.get(key)
    if page is None:
        version = hashlib.sha256(repr(key).encode()).hexdigest()[:24]
        page = notice_page(db, ref, notice_texts, texts, now=now).model_copy(
            update={"version": version})
        if len(_PAGES) >= PAGE_CACHE_LIMIT:
            _PAGES.clear()
        _PAGES[key] = page
    return page


def notice_page(db: Database, ref: NoticeRef, notice_texts: NoticeTexts, texts: PageTexts, *,
                now: datetime.datetime | None = None) -> NoticePage:
    moment = now or now_utc()
    with db.transaction() as session:
        change_row, target = find_target(session, ref)
        change = summary(change_row)
        customer, agreement = target.customer, target.agreement
        provider = provider_snapshot(session)
        lang: Language = target.language  # type: ignore[assignment]
        base = session.execute(select(ListVersionRow).where(
            ListVersionRow.number == change_row.base_list_number)).scalar_one_or_none()
        objections = list(session.execute(select(ObjectionRow).where(
            ObjectionRow.target_id == target.id)).scalars())
        answer = answer_of(session, target)
        blocked = blocked_subprocessors(session, customer)
        closed_outcome = target.outcome
        deadline = target.deadline
        kind = target.kind
        reasons = list(target.reasons)
        recipients = list(target.recipients)
        outcome_now = outcome_so_far(target, objections)
    names = {sid: name if isinstance(name, str) else name.get(lang, sid)
             for sid, name in provider.services.items()}
    sub = change.subject
    values = _text_values(change, customer.name, provider, agreement, lang)

    def say(key: str) -> str:
        return notice_texts.render(key, lang, **values)

    intro = [say(f"intro_{change.action}")]
    if sub.engagement == "incidental" and change.action != "remove":
        intro.append(say("incidental_note"))
    details = _details(change, say, notice_texts, lang)

    def rows(entries: list[SubProcessor]) -> tuple[list[ListRow], dict[str, str]]:
        view = list_view(entries, texts=notice_texts, language=lang, provider_name=provider.name,
                         service_names=names, customer_name=customer.name,
                         services=list(agreement.services), blocked=blocked,
                         list_version=base.number if base else 0,
                         published_at=base.published_at if base else moment,
                         today=brussels_day(moment))
        return view.rows, view.headings

    before = _entries(base)
    current, headings = rows(before)
    resulting, _ = rows(_after(change, before))
    state = _state(texts, say, lang=lang, kind=kind, remedy=agreement.remedy,
                   country=customer.country, deadline=deadline, answer=answer,
                   closed_outcome=closed_outcome, outcome_now=outcome_now, moment=moment)
    return NoticePage(
        language=lang, provider_name=provider.name, contact_email=provider.privacy_email,
        customer_name=customer.name, change_number=change.id, subprocessor=sub.name, kind=kind,
        title=texts.render("notice_title", lang, **values),
        for_line=texts.render("notice_for", lang, **values),
        intro=intro, details_heading=say("details_heading"), details=details,
        services_label=say("label_services"),
        services=sorted({names.get(r["service"], r["service"]) for r in reasons}),
        recipients=recipients, list_headings=headings, current_list=current, resulting_list=resulting,
        deadline=state.deadline, terms=state.terms, open=state.is_open,
        actions=list(ACTIONS[kind]) if state.is_open and answer is None else [],
        answer=answer, answer_text=state.answer, outcome=state.outcome)


def _text_values(change: ChangeSummary, customer_name: str, provider: ProviderSnapshot,
                 agreement: AgreementRow, lang: Language) -> dict[str, object]:
    """What the notice texts' placeholders stand for on the page (no deadline: the page
    states it in the customer's own zone itself)."""
    sub, old = change.subject, change.previous
    return {
        "customer_name": customer_name, "provider_name": provider.name,
        "change_number": str(change.id), "subprocessor": sub.name,
        "legal_entity": sub.legal_entity, "replaced": old.name if old else "",
        "services": "", "effective_date": locale.long_date(change.effective_on, lang),
        "contact_email": provider.privacy_email or "",
        "agreement_reference": agreement.reference or f"v{agreement.version}",
        "deadline_date": "", "deadline_time": "", "window_days": str(agreement.window_days),
        "window": "", "list_date": "", "scc_module": ""}


def _after(change: ChangeSummary, before: list[SubProcessor]) -> list[SubProcessor]:
    """The list as it will be once the change is made."""
    old = change.previous
    return [s for s in before if old is None or s.id != old.id] + \
        ([change.subprocessor] if change.subprocessor is not None else [])


class _State(NamedTuple):
    deadline: str | None
    terms: list[str]
    is_open: bool
    outcome: str | None
    answer: str | None


def _state(texts: PageTexts, say: Callable[[str], str], *, lang: Language, kind: str,
           remedy: str, country: str, deadline: datetime.datetime | None, answer: Answer | None,
           closed_outcome: str | None, outcome_now: str, moment: datetime.datetime) -> _State:
    """Where the notice stands: its deadline in the customer's zone, the terms that apply,
    whether it is still open, the outcome, and the receipt of an answer."""
    deadline_text = None
    if deadline is not None:
        date, time, zone = local_time_text(deadline - datetime.timedelta(minutes=1),
                                           country, lang, texts)
        deadline_text = texts.render("deadline_value", lang, deadline_date=date,
                                     deadline_time=time, time_zone=zone)
    terms: list[str] = []
    if kind == "objection":
        terms = [say("silence_objection"), say(f"remedy_{remedy}")]
    elif kind == "consent":
        terms = [say("silence_consent"), say(f"remedy_{remedy}")]
    is_open = closed_outcome is None and (deadline is None or moment < deadline)
    outcome = None
    if closed_outcome is not None:
        outcome = texts.render(f"outcome_{closed_outcome}", lang)
    elif not is_open:
        outcome = texts.render(f"outcome_{outcome_now}", lang)
    answer_text = None
    if answer is not None:
        date, time, zone = local_time_text(answer.received_at, country, lang, texts)
        answer_text = texts.render("receipt_text", lang,
                                   answer=texts.render(f"answer_{answer.action}", lang),
                                   received=f"{date} {time}", time_zone=zone,
                                   receipt=answer.receipt)
    return _State(deadline_text, terms, is_open, outcome, answer_text)


def _details(change: ChangeSummary, say: Callable[[str], str], notice_texts: NoticeTexts,
             lang: Language) -> list[tuple[str, str]]:
    """What changes, as label and value, in the words of the notice."""
    sub, old = change.subject, change.previous
    details = [(say("label_subprocessor"), sub.name), (say("label_legal_entity"), sub.legal_entity),
               (say("label_country"), locale.country_name(sub.country, lang)),
               (say("label_locations"),
                ", ".join(locale.country_name(c, lang) for c in sub.locations)),
               (say("label_purpose"), purpose_text(sub, lang)),
               (say("label_transfer"), transfer_text(notice_texts, sub.transfer, lang)),
               (say("label_effective_date"), locale.long_date(change.effective_on, lang))]
    if old is not None and change.action == "replace":
        details.insert(1, (say("label_replaces"), f"{old.name} ({old.legal_entity})"))
    return details


__all__ = ["NoticePage", "cached_notice_page", "notice_page"]
