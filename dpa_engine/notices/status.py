"""Where a change stands, per customer: notice, delivery, deadline, objections, outcome."""

from __future__ import annotations

import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..storage import Database
from ..storage.schema import ChangeRow, ObjectionRow, TargetRow
from .changes import ChangeSummary, get_change, summary


class TargetStatus(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    name: str
    language: str
    kind: str
    recipients: list[str]
    status: str
    message_status: str | None
    message_id: str | None
    notified_at: datetime.datetime | None
    deadline: datetime.datetime | None
    objections: list[dict[str, Any]]
    outcome: str | None
    follow_up: str | None
    withdrawal_status: str | None = None  # of its withdrawal notice, if the change has one


class ChangeStatus(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: ChangeSummary
    targets: list[TargetStatus]

    @property
    def follow_ups(self) -> list[TargetStatus]:
        return [t for t in self.targets if t.follow_up]

    @property
    def nothing_to_send(self) -> bool:
        """Whether `dpa change send` has nothing (left) to do: every notice went out, or the
        change was withdrawn and every withdrawal notice went out."""
        if self.change.status == "withdrawn":  # (withdrawn before sending: refused by send)
            told = [t.withdrawal_status for t in self.targets if t.withdrawal_status]
            return bool(told) and all(s in ("sent", "failed", "bounced") for s in told)
        return self.change.status in ("sent", "closed")


def change_targets(session: Session, change_id: int) -> list[TargetRow]:
    return list(session.execute(select(TargetRow).where(TargetRow.change_id == change_id)
                                .order_by(TargetRow.id)).scalars())


def target_objections(session: Session, target: TargetRow) -> list[ObjectionRow]:
    return list(session.execute(select(ObjectionRow).where(ObjectionRow.target_id == target.id)
                                .order_by(ObjectionRow.received_at)).scalars())


def change_status(db: Database, change_id: int) -> ChangeStatus:
    with db.transaction() as session:
        row = get_change(session, change_id)
        targets = []
        for target in change_targets(session, change_id):
            message = target.message
            targets.append(TargetStatus(
                customer=target.customer.key, name=target.customer.name,
                language=target.language, kind=target.kind, recipients=list(target.recipients),
                status=target.status, message_status=message.status if message else None,
                message_id=message.message_id if message else None,
                notified_at=target.notified_at, deadline=target.deadline,
                objections=[{"kind": o.kind, "received_at": o.received_at.isoformat(),
                             "late": o.late, "text": o.text}
                            for o in target_objections(session, target)],
                outcome=target.outcome, follow_up=target.follow_up,
                withdrawal_status=target.withdrawal.status if target.withdrawal else None))
        return ChangeStatus(change=summary(row), targets=targets)


class ChangeOverview(BaseModel):
    """One line of the list of changes: the change and how far its notices got."""
    model_config = ConfigDict(frozen=True)
    change: ChangeSummary
    affected: int  # customers it concerns (known once `dpa change send` queued the notices)
    notified: int  # ... whose notice went out
    objected: int  # ... who objected (in time or late)
    open_deadlines: int  # ... whose objection window is still running at `now`


def list_changes(db: Database, now: datetime.datetime) -> list[ChangeOverview]:
    """Every change, newest first, with its customers counted (four queries, not one per
    change)."""
    with db.transaction() as session:
        rows = list(session.execute(select(ChangeRow).order_by(ChangeRow.id.desc())).scalars())
        affected = _count(session, select(TargetRow.change_id, func.count()))
        notified = _count(session, select(TargetRow.change_id, func.count())
                          .where(TargetRow.notified_at.is_not(None)))
        objected = _count(session, select(ObjectionRow.change_id,
                                          func.count(ObjectionRow.target_id.distinct()))
                          .where(ObjectionRow.kind == "objection"), ObjectionRow.change_id)
        running = _count(session, select(TargetRow.change_id, func.count())
                         .where(TargetRow.deadline > now, TargetRow.outcome.is_(None)))
        return [ChangeOverview(change=summary(row), affected=affected.get(row.id, 0),
                               notified=notified.get(row.id, 0),
                               objected=objected.get(row.id, 0),
                               open_deadlines=running.get(row.id, 0)) for row in rows]


def _count(session: Session, query: Any, by: Any = TargetRow.change_id) -> dict[int, int]:
    return {change: count for change, count in session.execute(query.group_by(by))}


__all__ = ["ChangeOverview", "ChangeStatus", "TargetStatus", "change_status", "change_targets",
           "list_changes", "target_objections"]
