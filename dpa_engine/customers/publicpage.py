"""What the public sub-processor page shows, in one language: the current list by service,
upcoming changes with their effective dates, and every earlier version with what changed."""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict

from .. import locale
from ..models import Language
from ..notices.feed import published_versions, upcoming_changes
from ..notices.listing import ListRow, subprocessor_list
from ..notices.register import now_utc
from ..notices.texts import NoticeTexts
from ..storage import Database
from .pagetexts import PageTexts


class ServiceGroup(BaseModel):
    model_config = ConfigDict(frozen=True)
    service: str
    rows: list[ListRow]


class UpcomingLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    text: str
    effective: str
    effective_on: datetime.date


class ArchiveLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: int
    title: str
    changes: list[tuple[str, str]]  # (label, names)


class PublicPage(BaseModel):
    model_config = ConfigDict(frozen=True)
    language: Language
    provider_name: str
    contact_email: str | None
    title: str
    current: str
    headings: dict[str, str]
    services: list[ServiceGroup]
    upcoming: list[UpcomingLine]
    archive: list[ArchiveLine]


def public_page(db: Database, notice_texts: NoticeTexts, texts: PageTexts, language: Language,
                *, contact_email: str | None = None, now: datetime.datetime | None = None
                ) -> PublicPage:
    view = subprocessor_list(db, notice_texts, language=language, now=now or now_utc())
    groups: dict[str, list[ListRow]] = {}
    for row in view.rows:
        for service in row.services:
            groups.setdefault(service, []).append(row)
    upcoming = []
    for change in upcoming_changes(db):
        shown = change.subprocessor or change.previous
        if shown is None:
            continue
        text = texts.render(f"pub_change_{change.action}", language, subprocessor=shown.name,
                            legal_entity=shown.legal_entity,
                            replaced=change.previous.name if change.previous else "")
        upcoming.append(UpcomingLine(change=change.change, text=text,
                                     effective=locale.long_date(change.effective_on, language),
                                     effective_on=change.effective_on))
    provider, _, versions = published_versions(db)
    archive = []
    previous_names: dict[str, str] = {}
    for version in versions:
        names = {s.id: s.name for s in version.subprocessors}
        known = {**previous_names, **names}
        changes = [(texts.render(f"pub_{label}", language),
                    ", ".join(known.get(i, i) for i in ids))
                   for label, ids in (("added", version.diff.added),
                                      ("removed", version.diff.removed),
                                      ("changed", version.diff.changed)) if ids]
        if version.version == 1:
            changes = [(texts.render("pub_first", language), "")]
        published = locale.long_date(version.published_at.date(), language)
        archive.append(ArchiveLine(version=version.version, changes=changes,
                                   title=texts.render("pub_version", language,
                                                      version=str(version.version),
                                                      published=published)))
        previous_names = names
    current = texts.render("pub_current", language, version=str(view.list_version),
                           published=locale.long_date(view.published_at.date(), language))
    return PublicPage(
        language=language, provider_name=provider, contact_email=contact_email,
        title=texts.render("pub_title", language, provider_name=provider), current=current,
        headings=view.headings,
        services=[ServiceGroup(service=name, rows=rows) for name, rows in sorted(groups.items())],
        upcoming=upcoming, archive=list(reversed(archive)))


__all__ = ["PublicPage", "public_page"]
