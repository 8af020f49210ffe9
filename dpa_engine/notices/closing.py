"""Closing a change after every deadline: each customer's outcome, the new list version.

Silence under general authorisation is deemed approval; silence under specific authorisation
is not consent. A customer that objected (or did not consent) is blocked for the new
sub-processor and listed for follow-up.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict

from ..audit.chain import append_event
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import ChangeRow, ObjectionRow, TargetRow
from .answers import join_note
from .changes import get_change, summary
from .deadlines import BRUSSELS
from .errors import NoticeError
from .provider import current_list, list_entries, publish_list
from .register import BLOCKING_OUTCOMES, now_utc
from .status import change_targets, target_objections


def _outcome(target: TargetRow, objections: list[ObjectionRow]) -> tuple[str, str | None]:
    """The outcome for one customer at closing, and what needs following up."""
    if target.status != "notified":
        return "not-notified", None  # follow-up already noted when the failure was recorded
    if target.kind == "informational":
        return "informed", None
    on_time = [o for o in objections if not o.late]
    if target.kind == "consent":
        answers = sorted(on_time, key=lambda o: o.received_at)
        if answers and answers[-1].kind == "consent":
            return "consented", None
        if answers:
            return "refused", "consent refused: terminate the affected service or find an alternative"
        return "no-consent", ("no answer: silence is not consent; the sub-processor may not "
                              "process this customer's data — ask again or find an alternative")
    if any(o.kind == "objection" for o in on_time):
        return "objected", ("objection: blocked for this customer — terminate the affected "
                            "service or find an alternative (per the agreement)")
    return "deemed-approved", None


def outcome_so_far(target: TargetRow, objections: list[ObjectionRow]) -> str:
    """The outcome `close_change` records for this customer, as the answers stand now."""
    return _outcome(target, objections)[0]


class CloseReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    outcomes: dict[str, str]
    follow_ups: dict[str, str]
    list_version: int


def close_change(db: Database, change_id: int, *, actor: str,
                 now: datetime.datetime | None = None) -> CloseReport:
    """After every deadline: silent customers under general authorisation are deemed to approve."""
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    with db.transaction() as session:
        row = get_change(session, change_id)
        targets = change_targets(session, change_id)
        _refuse_unless_closable(row, targets, moment)
        outcomes: dict[str, str] = {}
        follow_ups: dict[str, str] = {}
        for target in targets:
            outcome, note = _outcome(target, target_objections(session, target))
            target.outcome = outcome
            if note:
                target.follow_up = join_note(target.follow_up, note)
            outcomes[target.customer.key] = outcome
            if target.follow_up:
                follow_ups[target.customer.key] = target.follow_up
            append_event(session, outcome, actor=actor, at=moment, change_id=row.id,
                         customer_key=target.customer.key,
                         data={"deadline": target.deadline.isoformat() if target.deadline
                               else None, "follow_up": target.follow_up,
                               "blocked": outcome in BLOCKING_OUTCOMES
                               and target.kind != "informational"})
        change = summary(row)
        entries = [s for s in list_entries(current_list(session))
                   if change.previous is None or s.id != change.previous.id]
        if change.subprocessor is not None:
            entries.append(change.subprocessor)
        listed = publish_list(session, entries, at=moment, actor=actor,
                              effective_on=row.effective_on, change_id=row.id,
                              note=f"change {row.id}: {row.action} {change.subject.id}")
        row.status, row.closed_at, row.list_number_after = "closed", moment, listed.number
        append_event(session, "closed", actor=actor, at=moment, change_id=row.id,
                     data={"outcomes": outcomes, "list_version": listed.number})
        return CloseReport(change=row.id, outcomes=outcomes, follow_ups=follow_ups,
                           list_version=listed.number)


def _refuse_unless_closable(row: ChangeRow, targets: list[TargetRow],
                            moment: datetime.datetime) -> None:
    """A change closes once it was sent, nothing is left to send and every window is over."""
    change_id = row.id
    if row.status == "closed":
        raise NoticeError(f"change {change_id} is already closed",
                          fix=f"see the outcome: dpa change status {change_id}")
    if row.status == "withdrawn":
        raise NoticeError(f"change {change_id} was withdrawn: there is nothing to close",
                          fix=f"see why: dpa change status {change_id}")
    if row.status in ("proposed", "planned"):
        raise NoticeError(f"change {change_id} has not been sent",
                          fix=f"send it first: dpa change send {change_id}")
    pending = [t.customer.key for t in targets
               if t.message is not None and t.message.status not in ("sent", "failed",
                                                                      "bounced")]
    if row.status == "sending" or pending:
        raise NoticeError(f"change {change_id} still has notices waiting to be sent "
                          f"({', '.join(pending) or 'in progress'})",
                          fix=f"rerun: dpa change send {change_id}")
    open_windows = [(t.deadline, t.customer.key) for t in targets
                    if t.deadline is not None and t.status == "notified"
                    and t.deadline > moment]
    if open_windows:
        deadline, key = max(open_windows)
        raise NoticeError(
            f"the window of '{key}' is still open until "
            f"{(deadline - datetime.timedelta(seconds=1)).astimezone(BRUSSELS):%Y-%m-%d %H:%M} "
            "(Brussels)", fix=f"close change {change_id} after that moment")


__all__ = ["CloseReport", "close_change", "outcome_so_far"]
