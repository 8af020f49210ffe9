"""The published sub-processor list: every version with its date, as JSON and an Atom feed.

Each version carries the diff with the previous one (added, removed, changed ids), so a
customer's tooling can follow changes without comparing lists itself.
"""

from __future__ import annotations

import datetime
import json
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from ..files import OutputSet
from ..models import Language, SubProcessor, text_in
from ..render.verify import check_xml
from ..storage import Database
from ..storage.schema import ChangeRow, ListVersionRow
from .errors import NoticeError
from .provider import installation_id, provider_snapshot

ATOM = "http://www.w3.org/2005/Atom"


class ListDiff(BaseModel):
    model_config = ConfigDict(frozen=True)
    added: list[str]
    removed: list[str]
    changed: list[str]


class PublishedVersion(BaseModel):
    model_config = ConfigDict(frozen=True)
    version: int
    published_at: datetime.datetime
    effective_on: datetime.date | None
    change: int | None
    note: str
    subprocessors: list[SubProcessor]
    diff: ListDiff


class UpcomingChange(BaseModel):
    """A change not closed yet: what will happen to the list, and from when."""

    model_config = ConfigDict(frozen=True)
    change: int
    action: str
    subprocessor: SubProcessor | None
    previous: SubProcessor | None
    effective_on: datetime.date
    announced_at: datetime.datetime


def upcoming_changes(db: Database) -> list[UpcomingChange]:
    """Every change not yet closed (nor withdrawn), by effective date."""
    with db.transaction() as session:
        rows = session.execute(select(ChangeRow).where(ChangeRow.status.not_in(("closed", "withdrawn")))
                               .order_by(ChangeRow.effective_on, ChangeRow.id)).scalars()
        return [UpcomingChange(
            change=row.id, action=row.action,
            subprocessor=SubProcessor.model_validate(row.subprocessor) if row.subprocessor
            else None,
            previous=SubProcessor.model_validate(row.previous) if row.previous else None,
            effective_on=row.effective_on, announced_at=row.proposed_at) for row in rows]


def diff(before: list[SubProcessor], after: list[SubProcessor]) -> ListDiff:
    old = {s.id: s for s in before}
    new = {s.id: s for s in after}
    return ListDiff(added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()),
                    changed=sorted(i for i in new.keys() & old.keys() if new[i] != old[i]))


def published_versions(db: Database) -> tuple[str, str, list[PublishedVersion]]:
    """(provider name, installation id, versions oldest first)."""
    with db.transaction() as session:
        provider = provider_snapshot(session)
        install = installation_id(session)
        rows = list(session.execute(select(ListVersionRow).order_by(ListVersionRow.number))
                    .scalars())
        versions: list[PublishedVersion] = []
        previous: list[SubProcessor] = []
        for row in rows:
            entries = [SubProcessor.model_validate(e) for e in row.entries]
            versions.append(PublishedVersion(
                version=row.number, published_at=row.published_at, effective_on=row.effective_on,
                change=row.change_id, note=row.note, subprocessors=entries,
                diff=diff(previous, entries)))
            previous = entries
    return provider.name, install, versions


def _summary(version: PublishedVersion, language: Language) -> str:
    names = {s.id: s.name for s in version.subprocessors}
    parts = [f"{label}: {', '.join(names.get(i, i) for i in ids)}"
             for label, ids in version.diff.model_dump().items() if ids]
    return "\n".join(["; ".join(parts) or "no change",
                      *(_describe(sub, language) for sub in version.subprocessors)])


def _describe(sub: SubProcessor, language: Language) -> str:
    return (f"{sub.name} ({sub.legal_entity}, {sub.country}; processing in "
            f"{', '.join(sub.locations)}) – {text_in(sub.purpose, language) or ''} "
            f"[{sub.engagement}]")


def list_published(db: Database) -> bool:
    """Whether a first list version exists (the register was started)."""
    with db.transaction() as session:
        return session.execute(select(ListVersionRow.id).limit(1)).first() is not None


def write_feed(db: Database, folder: Path, *, language: Language = "en",
               base_url: str | None = None) -> list[Path]:
    """Write subprocessors.json and subprocessors.atom into `folder`."""
    json_bytes, atom_bytes = feed_documents(db, language=language, base_url=base_url)
    json_path, atom_path = folder / "subprocessors.json", folder / "subprocessors.atom"
    with OutputSet() as outputs:  # both files, or neither
        outputs.add(json_path, json_bytes)
        outputs.add(atom_path, atom_bytes)
    return [json_path, atom_path]


def feed_documents(db: Database, *, language: Language = "en", base_url: str | None = None
                   ) -> tuple[bytes, bytes]:
    """The JSON and Atom documents: every list version with its diff, and upcoming changes."""
    provider, install, versions = published_versions(db)
    if not versions:
        raise NoticeError("no sub-processor list has been published yet",
                          fix="run 'dpa customers import' first")
    upcoming = upcoming_changes(db)
    newest_first = list(reversed(versions))
    data = {
        "provider": provider,
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "current_version": versions[-1].version,
        "upcoming": [u.model_dump(mode="json", exclude_none=True) for u in upcoming],
        "versions": [v.model_dump(mode="json", exclude_none=True) for v in newest_first],
    }
    json_bytes = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()

    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = f"urn:uuid:{_uuid(install)}"
    ET.SubElement(feed, f"{{{ATOM}}}title").text = f"Sub-processors of {provider}"
    updated = max([versions[-1].published_at, *(u.announced_at for u in upcoming)])
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = _stamp(updated)
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = provider
    base = (base_url or "").rstrip("/")
    if base_url:
        ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=base + "/subprocessors.atom")
    for change in reversed(upcoming):
        _entry(feed, _uuid(install, -change.change),
               f"Upcoming change {change.change}: {_upcoming_title(change)}",
               change.announced_at, _upcoming_summary(change, language),
               f"{base}/subprocessors.json#change{change.change}" if base_url else None)
    for version in newest_first:
        _entry(feed, _uuid(install, version.version),
               f"Sub-processor list version {version.version}", version.published_at,
               _summary(version, language),
               f"{base}/subprocessors.json#v{version.version}" if base_url else None)
    xml = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    check_xml(xml, what="the Atom feed")  # ElementTree writes what XML forbids
    return json_bytes, xml + b"\n"


def _entry(feed: ET.Element, entry_id: str, title: str, updated: datetime.datetime, content: str,
           link: str | None) -> None:
    entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
    ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:uuid:{entry_id}"
    ET.SubElement(entry, f"{{{ATOM}}}title").text = title
    ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(updated)
    ET.SubElement(entry, f"{{{ATOM}}}content", type="text").text = content
    if link:
        ET.SubElement(entry, f"{{{ATOM}}}link", href=link)


def _upcoming_title(change: UpcomingChange) -> str:
    new, old = change.subprocessor, change.previous
    if change.action == "add" and new is not None:
        return f"add {new.name}"
    if change.action == "replace" and new is not None and old is not None:
        return f"replace {old.name} with {new.name}"
    return f"remove {old.name if old else '?'}"


def _upcoming_summary(change: UpcomingChange, language: Language) -> str:
    lines = [f"{_upcoming_title(change)}, effective {change.effective_on.isoformat()}"]
    sub = change.subprocessor or change.previous
    if sub is not None:
        lines.append(_describe(sub, language))
    return "\n".join(lines)


def _uuid(install: str, version: int = 0) -> str:
    return str(uuid.uuid5(uuid.UUID(install), f"subprocessor-list:{version}"))


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
