"""Planning a change: who is affected, why (through which services), with which notice.

Each customer whose agreement's services use the new or the old sub-processor gets the kind
of notice its agreement calls for:

- `objection`: general authorisation and an active, systematic sub-processor: the customer
  may object within its window; silence is deemed approval once the deadline has passed;
- `consent`: specific authorisation: prior consent is needed; silence is NOT consent;
- `informational`: an incidental sub-processor, a removal, or a customer that only loses the
  old sub-processor: no window.

Window, unit, holiday calendar, authorisation and remedy come from the agreement version the
customer signed (stored at import), never from today's standard terms.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from ..audit.chain import append_event, canonical_json
from ..bulk import paused_gc
from ..library.facts import subprocessors_for
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import AgreementRow, ChangeRow, CustomerRow
from .changes import ChangeSummary, get_change, summary
from .compose import NoticeKind
from .deadlines import Window, last_day, make_window, objection_deadline
from .errors import NoticeError
from .provider import current_list, list_entries
from .register import all_customers, current_agreement, now_utc

Role = Literal["new", "replaced", "removed"]


class PlanReason(BaseModel):
    model_config = ConfigDict(frozen=True)
    service: str
    subprocessor: str
    role: Role


class PlanEntry(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    name: str
    agreement_version: int
    reference: str | None
    language: str
    kind: NoticeKind
    authorisation: str
    window_days: int | None
    window_unit: str | None
    holiday_country: str
    remedy: str
    recipients: list[str]
    reasons: list[PlanReason]
    deadline_if_sent: datetime.datetime | None
    warnings: list[str]


class Unaffected(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    name: str
    services: list[str]


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: ChangeSummary
    dispatch_at: datetime.datetime
    affected: list[PlanEntry]
    unaffected: list[Unaffected]
    plan_hash: str


def agreement_window(agreement: AgreementRow) -> Window:
    return make_window(agreement.window_days, agreement.window_unit, agreement.holiday_country)


def _plan_entry(change: ChangeSummary, customer: CustomerRow, agreement: AgreementRow,
                dispatch_at: datetime.datetime) -> PlanEntry | None:
    services = list(agreement.services)
    new = change.subprocessor
    old_role: Role = "replaced" if change.action == "replace" else "removed"
    reasons: list[PlanReason] = []
    # A group entity limited to some countries concerns only customers established there:
    # the same rule as the agreement's Annex IV (library.facts.subprocessors_for).
    for sub, role in ((new, "new"), (change.previous, old_role)):
        if sub is not None and subprocessors_for([sub], services, customer.country):
            reasons += [PlanReason(service=s, subprocessor=sub.id, role=role)
                        for s in sub.services if s in services]
    if not reasons:
        return None
    kind: NoticeKind = "informational"
    if new is not None and new.engagement == "systematic" and any(r.role == "new" for r in reasons):
        kind = "consent" if agreement.authorisation == "specific" else "objection"
    warnings: list[str] = []
    deadline = None
    if kind != "informational":
        deadline = objection_deadline(dispatch_at, agreement_window(agreement))
        last = last_day(deadline)
        if change.effective_on <= last:
            warnings.append(f"the effective date {change.effective_on} falls inside the window "
                            f"(last day {last}): {change.subject.name} may not process this "
                            "customer's data before the window has ended")
    return PlanEntry(
        customer=customer.key, name=customer.name, agreement_version=agreement.version,
        reference=agreement.reference, language=agreement.language, kind=kind,
        authorisation=agreement.authorisation,
        window_days=agreement.window_days if kind != "informational" else None,
        window_unit=agreement.window_unit if kind != "informational" else None,
        holiday_country=agreement.holiday_country, remedy=agreement.remedy,
        recipients=list(agreement.notice_emails), reasons=reasons, deadline_if_sent=deadline,
        warnings=warnings)


def _plan_hash(change: ChangeSummary, affected: list[PlanEntry]) -> str:
    stable = [e.model_dump(mode="json", exclude={"deadline_if_sent", "warnings"})
              for e in affected]
    data = {"change": change.model_dump(mode="json", exclude={"status"}), "affected": stable}
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _still_applicable(session: Session, change: ChangeSummary) -> None:
    existing = {s.id for s in list_entries(current_list(session))}
    if change.previous is not None and change.previous.id not in existing:
        raise NoticeError(f"'{change.previous.id}' is no longer on the sub-processor list",
                          fix="propose a new change against the current list")
    if change.subprocessor is not None and change.subprocessor.id in existing:
        raise NoticeError(f"'{change.subprocessor.id}' is already on the sub-processor list",
                          fix="propose a new change against the current list")


def plan_with_rows(session: Session, row: ChangeRow, dispatch_at: datetime.datetime
                   ) -> tuple[Plan, dict[str, tuple[CustomerRow, AgreementRow]]]:
    """The plan, and each affected customer's row with the agreement it was planned on (so
    queueing does not load the register a second time)."""
    change = summary(row)
    _still_applicable(session, change)
    affected: list[PlanEntry] = []
    unaffected: list[Unaffected] = []
    rows: dict[str, tuple[CustomerRow, AgreementRow]] = {}
    with paused_gc():
        for customer in all_customers(session, with_agreements=True):
            agreement = current_agreement(customer)
            entry = _plan_entry(change, customer, agreement, dispatch_at)
            if entry is None:
                unaffected.append(Unaffected(customer=customer.key, name=customer.name,
                                             services=list(agreement.services)))
            else:
                affected.append(entry)
                rows[customer.key] = (customer, agreement)
    plan = Plan(change=change, dispatch_at=dispatch_at, affected=affected,
                unaffected=unaffected, plan_hash=_plan_hash(change, affected))
    return plan, rows


def inside_windows(plan: Plan) -> list[PlanEntry]:
    """The affected customers whose window (if sent at the plan's moment) would still be open
    on the change's effective date."""
    effective = plan.change.effective_on
    return [e for e in plan.affected
            if e.deadline_if_sent is not None and effective <= last_day(e.deadline_if_sent)]


def plan_change(db: Database, change_id: int, *, actor: str,
                now: datetime.datetime | None = None,
                dispatch_at: datetime.datetime | None = None, force: bool = False) -> Plan:
    """Who is affected and why, with each deadline if sent at `dispatch_at` (default: now).

    Recording the plan marks the change 'planned'; `send` refuses to go out if the register
    changed since (so what was reviewed is what is sent). A change whose effective date falls
    inside a customer's window is refused unless `force` (audited as 'plan-forced').
    """
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    with db.transaction() as session:
        row = get_change(session, change_id)
        if row.status not in ("proposed", "planned"):
            raise NoticeError(f"change {change_id} is already {row.status}",
                              fix=f"see what happened to it: dpa change status {change_id}")
        plan, _rows = plan_with_rows(session, row, dispatch_at or moment)
        if not plan.affected:
            raise NoticeError(f"change {change_id} affects no customer (no agreement buys a "
                              "service that uses it)",
                              fix="check --services of the change, or import the deal files")
        clashes = inside_windows(plan)
        if clashes and not force:
            first = clashes[0]
            assert first.deadline_if_sent is not None
            others = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            raise NoticeError(
                f"the effective date {row.effective_on} falls inside the window of "
                f"'{first.customer}'{others}, whose deadline is "
                f"{last_day(first.deadline_if_sent)} 23:59 (Brussels)",
                fix=f"withdraw the change and propose a later effective date, or plan with "
                f"--force to send it anyway: dpa change plan {change_id} --force")
        row.status, row.plan_hash, row.planned_at = "planned", plan.plan_hash, moment
        append_event(session, "planned", actor=actor, at=moment, change_id=row.id,
                     data={"plan_hash": plan.plan_hash,
                           "affected": [e.model_dump(mode="json") for e in plan.affected],
                           "unaffected": [u.customer for u in plan.unaffected]})
        if clashes:
            append_event(session, "plan-forced", actor=actor, at=moment, change_id=row.id,
                         data={"effective_on": str(row.effective_on), "inside_window": {
                             e.customer: str(last_day(e.deadline_if_sent))
                             for e in clashes if e.deadline_if_sent is not None}})
        return plan.model_copy(update={"change": summary(row)})


__all__ = ["Plan", "PlanEntry", "PlanReason", "Unaffected", "agreement_window", "inside_windows",
           "plan_change", "plan_with_rows"]
