"""Withdrawing a change: a proposal made by mistake, or a change the provider gives up.

Before any notice went out, a withdrawn change simply stops: it frees the way for a new
proposal on the same sub-processors. The reason is kept in the audit log.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict

from ..storage import Database
from .audit import append_event
from .changes import get_change
from .errors import NoticeError
from .register import now_utc


class WithdrawReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    status: str
    reason: str
    was: str  # the status before withdrawing


def withdraw_change(db: Database, change_id: int, *, reason: str, actor: str,
                    now: datetime.datetime | None = None) -> WithdrawReport:
    """Withdraw a change that has not been sent; the reason goes into the audit log."""
    moment = now or now_utc()
    if not reason.strip():
        raise NoticeError("the reason for withdrawing is empty", field="--reason",
                          fix="say why, e.g. --reason 'wrong services'")
    with db.transaction() as session:
        row = get_change(session, change_id)
        session.refresh(row, with_for_update=True)  # not while a sender queues it
        if row.status == "withdrawn":
            raise NoticeError(f"change {change_id} is already withdrawn",
                              fix=f"see it: dpa change status {change_id}")
        if row.status == "closed":
            raise NoticeError(f"change {change_id} is closed: its outcome is final",
                              fix="propose a new change to undo it (e.g. dpa change propose "
                              "--remove ID)")
        if row.status not in ("proposed", "planned"):
            raise NoticeError(f"change {change_id} has been sent ({row.status})",
                              fix=f"let every window end, then close it: dpa change close "
                              f"{change_id}")
        was = row.status
        row.status = "withdrawn"
        append_event(session, "withdrawn", actor=actor, at=moment, change_id=row.id,
                     data={"reason": reason, "status_before": was, "notified": []})
        return WithdrawReport(change=row.id, status=row.status, reason=reason, was=was)


__all__ = ["WithdrawReport", "withdraw_change"]
