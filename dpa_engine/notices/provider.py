"""The provider's side of the register: its snapshot, the installation id, and the
published versions of the sub-processor list."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..audit.chain import append_event
from ..models import LocalizedText, SubProcessor
from ..storage.schema import ListVersionRow, Meta
from .errors import NoticeError


class ProviderSnapshot(BaseModel):
    """The provider facts notices need, stored when the register is first filled."""

    model_config = ConfigDict(frozen=True)
    name: str
    privacy_email: str | None
    services: dict[str, LocalizedText]
    source: str


def meta_value(session: Session, key: str) -> dict[str, Any] | None:
    row = session.get(Meta, key)
    return None if row is None else row.value


def installation_id(session: Session) -> str:
    value = meta_value(session, "installation")
    if value is None:
        value = {"id": uuid.uuid4().hex}
        session.add(Meta(key="installation", value=value))
        session.flush()
    return str(value["id"])


def provider_snapshot(session: Session) -> ProviderSnapshot:
    value = meta_value(session, "provider")
    if value is None:
        raise NoticeError("the register is empty", fix="run 'dpa customers import examples/' "
                          "(deal files) first")
    return ProviderSnapshot.model_validate(value)


def current_list(session: Session) -> ListVersionRow:
    row = session.execute(select(ListVersionRow).order_by(ListVersionRow.number.desc()).limit(1)
                          ).scalar_one_or_none()
    if row is None:
        raise NoticeError("the register is empty", fix="run 'dpa customers import' first")
    return row


def list_entries(row: ListVersionRow) -> list[SubProcessor]:
    return [SubProcessor.model_validate(entry) for entry in row.entries]


def publish_list(session: Session, entries: list[SubProcessor], *, at: datetime.datetime,
                 note: str, actor: str, effective_on: datetime.date | None = None,
                 change_id: int | None = None) -> ListVersionRow:
    number = (session.execute(select(func.max(ListVersionRow.number))).scalar() or 0) + 1
    row = ListVersionRow(number=number, published_at=at, effective_on=effective_on,
                         change_id=change_id, note=note,
                         entries=[e.model_dump(mode="json", exclude_none=True) for e in entries])
    session.add(row)
    session.flush()
    append_event(session, "list-published", actor=actor, at=at, change_id=change_id,
                 data={"version": number, "note": note, "entries": row.entries})
    return row


__all__ = ["ProviderSnapshot", "current_list", "installation_id", "list_entries", "meta_value",
           "provider_snapshot", "publish_list"]
