"""Withdrawing a change: a proposal made by mistake, or a change the provider gives up.

Before any notice went out, a withdrawn change simply stops. After, every customer that was
notified (or may have been: a notice in doubt) gets a short withdrawal notice in its language,
queued in the same exactly-once outbox and sent by `dpa change send`; notices not sent yet
are cancelled, and the objection windows close. Either way the reason is kept in the audit
log and the withdrawn change no longer blocks a new proposal on the same sub-processors.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict

from ..audit.chain import append_event
from ..mail import SmtpSettings
from ..safetext import safe_fields
from ..storage import Database
from .changes import get_change
from .delivery.render import change_facts
from .delivery.withdrawals import queue_withdrawals
from .errors import NoticeError
from .register import now_utc
from .status import change_targets


class WithdrawReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    status: str
    reason: str
    was: str  # the status before withdrawing
    # customers to be told of the withdrawal (by `dpa change send`); empty before sending
    to_tell: list[str] = []


def withdraw_change(db: Database, change_id: int, *, reason: str, actor: str,
                    settings: SmtpSettings | None = None,
                    now: datetime.datetime | None = None) -> WithdrawReport:
    """Withdraw a change; after it went out, queue a withdrawal notice for each customer
    notified (`settings`: the sender address its Message-IDs are made from)."""
    safe_fields({"withdrawal reason": reason, "actor": actor}, error=NoticeError)
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
        was = row.status
        to_tell: list[str] = []
        if was in ("sending", "sent"):
            facts = change_facts(session, settings or SmtpSettings(), row)
            to_tell = queue_withdrawals(session, row.id, facts, moment=moment, actor=actor)
            for target in change_targets(session, row.id):
                target.outcome = "withdrawn"
                if target.deadline is not None and target.deadline > moment:
                    target.deadline = moment  # the window closes now
        row.status = "withdrawn"
        data: dict[str, object] = {"reason": reason, "status_before": was, "to_tell": to_tell}
        if was in ("sending", "sent"):  # what `dpa audit verify` recomputes the deadlines from
            data["windows_closed_at"] = moment.isoformat()
        append_event(session, "withdrawn", actor=actor, at=moment, change_id=row.id, data=data)
        return WithdrawReport(change=row.id, status=row.status, reason=reason, was=was,
                              to_tell=to_tell)


__all__ = ["WithdrawReport", "withdraw_change"]
