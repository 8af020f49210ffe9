"""Sub-processor changes: propose, plan, record objections and consents, close.

A change adds, replaces or removes one sub-processor. Its plan lists every customer whose
agreement's services use the new or the old sub-processor, with the kind of notice its
agreement calls for:

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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..bulk import paused_gc
from ..library.facts import subprocessors_for
from ..models import EEA_COUNTRIES, LANGUAGES, SubProcessor, text_in
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import AgreementRow, ChangeRow, CustomerRow, ObjectionRow, TargetRow
from .audit import append_event, canonical_json
from .compose import Action, NoticeKind
from .deadlines import BRUSSELS, HolidayCountry, Window, brussels_day, make_window, objection_deadline
from .errors import NoticeError
from .register import (
    BLOCKING_OUTCOMES,
    all_customers,
    current_agreement,
    current_list,
    find_customer,
    list_entries,
    now_utc,
    provider_snapshot,
    publish_list,
)

ChangeStatusName = Literal["proposed", "planned", "sending", "sent", "closed"]


class ChangeSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: int
    action: Action
    subprocessor: SubProcessor | None
    previous: SubProcessor | None
    effective_on: datetime.date
    status: str
    proposed_at: datetime.datetime
    proposed_by: str

    @property
    def subject(self) -> SubProcessor:
        """The sub-processor the notice is about: the new one, or the removed one."""
        found = self.subprocessor or self.previous
        assert found is not None
        return found


class PlanReason(BaseModel):
    model_config = ConfigDict(frozen=True)
    service: str
    subprocessor: str
    role: Literal["new", "replaced", "removed"]


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


def summary(row: ChangeRow) -> ChangeSummary:
    return ChangeSummary(
        id=row.id, action=row.action,
        subprocessor=SubProcessor.model_validate(row.subprocessor) if row.subprocessor else None,
        previous=SubProcessor.model_validate(row.previous) if row.previous else None,
        effective_on=row.effective_on, status=row.status, proposed_at=row.proposed_at,
        proposed_by=row.proposed_by)


def get_change(session: Session, change_id: int) -> ChangeRow:
    row = session.get(ChangeRow, change_id)
    if row is None:
        known = [str(i) for i in session.execute(select(ChangeRow.id).order_by(ChangeRow.id))
                 .scalars()]
        raise NoticeError(f"there is no change {change_id}", field="change",
                          fix=("known changes: " + ", ".join(known)) if known
                          else "propose one first: dpa change propose --add ...")
    return row


# --- propose ---------------------------------------------------------------------------------

class Proposal(BaseModel):
    """What `dpa change propose` asks for (validated before anything is written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Action
    subprocessor: SubProcessor | None = None
    target: str | None = None  # id of the replaced / removed sub-processor
    effective_on: datetime.date


def _check_new_entry(session: Session, sub: SubProcessor, existing: dict[str, SubProcessor],
                     replacing: str | None) -> None:
    provider = provider_snapshot(session)
    if sub.id in existing and sub.id != replacing:
        raise NoticeError(f"sub-processor '{sub.id}' is already on the list", field="id",
                          fix="give the new sub-processor another id, or use --replace")
    if sub.id == replacing:
        raise NoticeError(f"'{sub.id}' cannot replace itself", field="id",
                          fix="give the new sub-processor its own id")
    for service in sub.services:
        if service not in provider.services:
            raise NoticeError(f"unknown service '{service}'", field="services",
                              fix="use one of " + ", ".join(sorted(provider.services)))
    if any(c not in EEA_COUNTRIES for c in (sub.country, *sub.locations)) and sub.transfer is None:
        raise NoticeError(f"'{sub.id}' processes outside the EEA but has no transfer mechanism",
                          field="transfer", fix="add --transfer scc:3 (or adequacy / bcr)")
    for language in LANGUAGES:
        if text_in(sub.purpose, language) is None:
            raise NoticeError(f"the purpose has no '{language}' text", field="purpose",
                              fix="give the purpose in nl, fr and en (notices go out in all three)")


def _open_change_on(session: Session, ids: set[str]) -> ChangeRow | None:
    for row in session.execute(select(ChangeRow).where(ChangeRow.status != "closed")).scalars():
        touched = {row.target_id} | ({str(row.subprocessor["id"])} if row.subprocessor else set())
        if touched & ids:
            return row
    return None


def propose_change(db: Database, proposal: Proposal, *, actor: str,
                   now: datetime.datetime | None = None) -> ChangeSummary:
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    if proposal.effective_on < brussels_day(moment):
        raise NoticeError(f"the effective date {proposal.effective_on} is in the past",
                          field="--effective", fix="give today's date or a later one")
    with db.transaction() as session:
        listed = current_list(session)
        existing = {s.id: s for s in list_entries(listed)}
        previous: SubProcessor | None = None
        if proposal.action in ("replace", "remove"):
            if not proposal.target or proposal.target not in existing:
                raise NoticeError(f"'{proposal.target}' is not on the sub-processor list",
                                  field=f"--{proposal.action}",
                                  fix="use one of " + ", ".join(sorted(existing)))
            previous = existing[proposal.target]
        if proposal.action in ("add", "replace"):
            if proposal.subprocessor is None:
                raise NoticeError("the new sub-processor is missing", fix="give --id, --name, "
                                  "--entity, --country, --locations, --purpose, --services")
            _check_new_entry(session, proposal.subprocessor, existing, proposal.target)
        elif proposal.subprocessor is not None:
            raise NoticeError("a removal takes no new sub-processor",
                              fix="give only --remove ID and --effective")
        touched = {s.id for s in (proposal.subprocessor, previous) if s is not None}
        clash = _open_change_on(session, touched)
        if clash is not None:
            raise NoticeError(f"change {clash.id} ({clash.status}) already concerns "
                              f"{', '.join(sorted(touched))}",
                              fix=f"close change {clash.id} first (dpa change close {clash.id})")
        row = ChangeRow(
            action=proposal.action,
            subprocessor=proposal.subprocessor.model_dump(mode="json", exclude_none=True)
            if proposal.subprocessor else None,
            previous=previous.model_dump(mode="json", exclude_none=True) if previous else None,
            target_id=previous.id if previous else None, effective_on=proposal.effective_on,
            status="proposed", base_list_number=listed.number, proposed_at=moment,
            proposed_by=actor)
        session.add(row)
        session.flush()
        append_event(session, "proposed", actor=actor, at=moment, change_id=row.id,
                     data={"action": row.action, "subprocessor": row.subprocessor,
                           "previous": row.previous, "effective_on": str(row.effective_on),
                           "list_version": listed.number})
        return summary(row)


# --- plan ------------------------------------------------------------------------------------

def agreement_window(agreement: AgreementRow) -> Window:
    return make_window(agreement.window_days, agreement.window_unit, agreement.holiday_country)


def _plan_entry(change: ChangeSummary, customer: CustomerRow, agreement: AgreementRow,
                dispatch_at: datetime.datetime,
                deadlines: dict[tuple[int, str, str], datetime.datetime] | None = None
                ) -> PlanEntry | None:
    """`deadlines` memoises the deadline per window for one `dispatch_at` (a plan computes the
    same few windows for thousands of customers)."""
    services = list(agreement.services)
    new, old = change.subprocessor, change.previous
    reasons: list[PlanReason] = []
    # A group entity limited to some countries concerns only customers established there:
    # the same rule as the agreement's Annex IV (library.facts.subprocessors_for).
    if new is not None and subprocessors_for([new], services, customer.country):
        reasons += [PlanReason(service=s, subprocessor=new.id, role="new")
                    for s in new.services if s in services]
    if old is not None and subprocessors_for([old], services, customer.country):
        role: Literal["replaced", "removed"] = "replaced" if change.action == "replace" \
            else "removed"
        reasons += [PlanReason(service=s, subprocessor=old.id, role=role)
                    for s in old.services if s in services]
    if not reasons:
        return None
    gains_new = new is not None and any(r.role == "new" for r in reasons)
    kind: NoticeKind = "informational"
    if gains_new and new is not None and new.engagement == "systematic":
        kind = "consent" if agreement.authorisation == "specific" else "objection"
    warnings: list[str] = []
    deadline = None
    if kind != "informational":
        window_key = (agreement.window_days, agreement.window_unit, agreement.holiday_country)
        known = deadlines.get(window_key) if deadlines is not None else None
        deadline = known or objection_deadline(dispatch_at, agreement_window(agreement))
        if deadlines is not None:
            deadlines[window_key] = deadline
        last = (deadline - datetime.timedelta(days=1)).astimezone(BRUSSELS).date()
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


# one call into pydantic-core for all entries of a plan, not one per customer
_ENTRIES: TypeAdapter[list[PlanEntry]] = TypeAdapter(list[PlanEntry])


def _plan_hash(change: ChangeSummary, affected: list[PlanEntry]) -> str:
    stable = _ENTRIES.dump_python(affected, mode="json",
                                  exclude={"__all__": {"deadline_if_sent", "warnings"}})
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


def compute_plan(session: Session, row: ChangeRow, dispatch_at: datetime.datetime) -> Plan:
    return plan_with_rows(session, row, dispatch_at)[0]


def plan_with_rows(session: Session, row: ChangeRow, dispatch_at: datetime.datetime
                   ) -> tuple[Plan, dict[str, tuple[CustomerRow, AgreementRow]]]:
    """The plan, and each affected customer's row with the agreement it was planned on (so
    queueing does not load the register a second time)."""
    with paused_gc():
        return _plan_with_rows(session, row, dispatch_at)


def _plan_with_rows(session: Session, row: ChangeRow, dispatch_at: datetime.datetime
                    ) -> tuple[Plan, dict[str, tuple[CustomerRow, AgreementRow]]]:
    change = summary(row)
    _still_applicable(session, change)
    affected: list[PlanEntry] = []
    unaffected: list[Unaffected] = []
    rows: dict[str, tuple[CustomerRow, AgreementRow]] = {}
    deadlines: dict[tuple[int, str, str], datetime.datetime] = {}
    for customer in all_customers(session, with_agreements=True):
        agreement = current_agreement(customer)
        entry = _plan_entry(change, customer, agreement, dispatch_at, deadlines)
        if entry is None:
            unaffected.append(Unaffected(customer=customer.key, name=customer.name,
                                         services=list(agreement.services)))
        else:
            affected.append(entry)
            rows[customer.key] = (customer, agreement)
    plan = Plan(change=change, dispatch_at=dispatch_at, affected=affected,
                unaffected=unaffected, plan_hash=_plan_hash(change, affected))
    return plan, rows


def plan_change(db: Database, change_id: int, *, actor: str,
                now: datetime.datetime | None = None,
                dispatch_at: datetime.datetime | None = None) -> Plan:
    """Who is affected and why, with each deadline if sent at `dispatch_at` (default: now).

    Recording the plan marks the change 'planned'; `send` refuses to go out if the register
    changed since (so what was reviewed is what is sent).
    """
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    with paused_gc(), db.transaction() as session:
        row = get_change(session, change_id)
        if row.status not in ("proposed", "planned"):
            raise NoticeError(f"change {change_id} is already {row.status}",
                              fix=f"see what was sent with: dpa change status {change_id}")
        plan = compute_plan(session, row, dispatch_at or moment)
        if not plan.affected:
            raise NoticeError(f"change {change_id} affects no customer (no agreement buys a "
                              "service that uses it)",
                              fix="check --services of the change, or import the deal files")
        row.status, row.plan_hash, row.planned_at = "planned", plan.plan_hash, moment
        append_event(session, "planned", actor=actor, at=moment, change_id=row.id,
                     data={"plan_hash": plan.plan_hash,
                           "affected": _ENTRIES.dump_python(plan.affected, mode="json"),
                           "unaffected": [u.customer for u in plan.unaffected]})
        return plan.model_copy(update={"change": summary(row)})


# --- objections, consents, bounces -------------------------------------------------------------

class ObjectionReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: int
    customer: str
    kind: str
    received_at: datetime.datetime
    deadline: datetime.datetime | None
    late: bool
    note: str


def _target(session: Session, change: ChangeRow, customer_ref: str) -> tuple[CustomerRow, TargetRow]:
    customer = find_customer(session, customer_ref)
    target = session.execute(select(TargetRow).where(
        TargetRow.change_id == change.id, TargetRow.customer_id == customer.id)
    ).scalar_one_or_none()
    if target is None:
        why = "was not notified of" if change.status in ("sending", "sent", "closed") \
            else "has not been sent"
        raise NoticeError(f"customer '{customer.key}' {why} change {change.id}",
                          fix=f"see who was notified: dpa change status {change.id}"
                          if change.status in ("sending", "sent", "closed")
                          else f"send the change first: dpa change send {change.id}")
    return customer, target


def record_objection(db: Database, change_id: int, customer_ref: str, *,
                     received_at: datetime.datetime, text: str, actor: str,
                     kind: Literal["objection", "consent"] = "objection",
                     now: datetime.datetime | None = None) -> ObjectionReport:
    """Record a customer's objection (or, under specific authorisation, its consent)."""
    safe_fields({"objection text": text, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=BRUSSELS)
    if received_at > moment + datetime.timedelta(minutes=5):
        raise NoticeError(f"received-at {received_at.isoformat()} is in the future",
                          field="--received-at", fix="give the moment the message arrived")
    if not text.strip():
        raise NoticeError("the text of the customer's message is empty", field="--text",
                          fix="paste the customer's message (or give --text-file)")
    with db.transaction() as session:
        change = get_change(session, change_id)
        customer, target = _target(session, change, customer_ref)
        if target.kind == "informational":
            raise NoticeError(f"customer '{customer.key}' only received an informational notice "
                              f"for change {change_id}: there is nothing to object to or "
                              "consent to", fix="keep the message as ordinary correspondence")
        if kind == "consent" and target.kind != "consent":
            raise NoticeError(f"customer '{customer.key}' has general authorisation: no consent "
                              "is needed", fix="record only objections for this customer")
        if received_at < change.proposed_at:
            raise NoticeError("the message was received before the change was proposed",
                              field="--received-at", fix="check the date")
        late = target.deadline is not None and received_at >= target.deadline
        notes = []
        if late:
            notes.append("LATE: received after the deadline; flagged for follow-up")
        if change.status == "closed":
            notes.append(f"change {change_id} is closed; outcome stays '{target.outcome}'")
        session.add(ObjectionRow(change_id=change.id, target_id=target.id, kind=kind,
                                 received_at=received_at, text=text, late=late,
                                 recorded_at=moment, recorded_by=actor))
        if late or change.status == "closed":
            target.follow_up = _join(target.follow_up, f"{kind} received "
                                     f"{received_at.isoformat()} after the deadline")
        append_event(session, "consented" if kind == "consent" else "objected", actor=actor,
                     at=moment, change_id=change.id, customer_key=customer.key,
                     data={"received_at": received_at.isoformat(), "late": late, "text": text,
                           "deadline": target.deadline.isoformat() if target.deadline else None})
        return ObjectionReport(change=change.id, customer=customer.key, kind=kind,
                               received_at=received_at, deadline=target.deadline, late=late,
                               note="; ".join(notes) or "on time")


def _join(existing: str | None, note: str) -> str:
    return f"{existing}; {note}" if existing else note


def record_bounce(db: Database, change_id: int, customer_ref: str, *, reason: str, actor: str,
                  now: datetime.datetime | None = None) -> None:
    """A bounce that arrived after the server had accepted the notice: NOT notified after all."""
    safe_fields({"bounce reason": reason, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    with db.transaction() as session:
        change = get_change(session, change_id)
        if change.status == "closed":
            raise NoticeError(f"change {change_id} is already closed",
                              fix="contact the customer through its fallback contact")
        customer, target = _target(session, change, customer_ref)
        if target.status != "notified":
            raise NoticeError(f"customer '{customer.key}' is not recorded as notified "
                              f"(status {target.status})", fix="nothing to do")
        message = target.message
        if message is not None:
            message.status = "bounced"
            message.last_error = reason
        target.status, target.notified_at, target.deadline = "not-notified", None, None
        target.follow_up = _join(target.follow_up, _fallback_note(customer))
        append_event(session, "bounced", actor=actor, at=moment, change_id=change.id,
                     customer_key=customer.key, data={"reason": reason, "after_acceptance": True})


def _fallback_note(customer: CustomerRow) -> str:
    contact = customer.fallback_contact or "no fallback contact on file: find one"
    return f"NOT notified: reach {contact} (letter: dpa change letters)"


# --- status and closing --------------------------------------------------------------------------

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


class ChangeStatus(BaseModel):
    model_config = ConfigDict(frozen=True)
    change: ChangeSummary
    targets: list[TargetStatus]

    @property
    def follow_ups(self) -> list[TargetStatus]:
        return [t for t in self.targets if t.follow_up]


def _targets(session: Session, change_id: int) -> list[TargetRow]:
    return list(session.execute(select(TargetRow).where(TargetRow.change_id == change_id)
                                .order_by(TargetRow.id)).scalars())


def _objections(session: Session, target: TargetRow) -> list[ObjectionRow]:
    return list(session.execute(select(ObjectionRow).where(ObjectionRow.target_id == target.id)
                                .order_by(ObjectionRow.received_at)).scalars())


def change_status(db: Database, change_id: int) -> ChangeStatus:
    with db.transaction() as session:
        row = get_change(session, change_id)
        targets = []
        for target in _targets(session, change_id):
            message = target.message
            targets.append(TargetStatus(
                customer=target.customer.key, name=target.customer.name,
                language=target.language, kind=target.kind, recipients=list(target.recipients),
                status=target.status, message_status=message.status if message else None,
                message_id=message.message_id if message else None,
                notified_at=target.notified_at, deadline=target.deadline,
                objections=[{"kind": o.kind, "received_at": o.received_at.isoformat(),
                             "late": o.late, "text": o.text}
                            for o in _objections(session, target)],
                outcome=target.outcome, follow_up=target.follow_up))
        return ChangeStatus(change=summary(row), targets=targets)


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
        if row.status == "closed":
            raise NoticeError(f"change {change_id} is already closed",
                              fix=f"see the outcome: dpa change status {change_id}")
        if row.status in ("proposed", "planned"):
            raise NoticeError(f"change {change_id} has not been sent",
                              fix=f"send it first: dpa change send {change_id}")
        targets = _targets(session, change_id)
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
        outcomes: dict[str, str] = {}
        follow_ups: dict[str, str] = {}
        for target in targets:
            outcome, note = _outcome(target, _objections(session, target))
            target.outcome = outcome
            if note:
                target.follow_up = _join(target.follow_up, note)
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


def parse_subprocessor(values: dict[str, Any]) -> SubProcessor:
    """A SubProcessor from CLI values; errors name the option to fix."""
    try:
        return SubProcessor.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "input"
        message = str(first["msg"]).removeprefix("Value error, ")
        what, _, fix = message.partition(" — fix: ")
        raise NoticeError(what, field=option, fix=fix or "correct this value") from None


__all__ = [
    "ChangeStatus", "ChangeSummary", "CloseReport", "HolidayCountry", "ObjectionReport", "Plan",
    "PlanEntry", "Proposal", "TargetStatus", "change_status", "close_change", "compute_plan",
    "get_change", "outcome_so_far", "parse_subprocessor", "plan_change", "propose_change", "record_bounce",
    "record_objection",
]
