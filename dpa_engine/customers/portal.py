"""The customer's notice page: signed links read back, answers recorded as `dpa objection
record` would, confirmation e-mails, and refusals of bad links counted per client address.

A link (made by `dpa_engine.notices.links` for the notice e-mail) names one change and one
customer, signed with the installation's secret and valid until the customer's deadline plus
a grace period. It cannot be turned into a link for another change or customer: the
signature covers both, and a token is accepted only in the exact form it was issued (so no
character of it can change).

An answer is recorded once per notice (a unique row per notice), then handed to
`record_objection` with the server's time of receipt: audited, LATE after the deadline, in the
outcome at closing exactly like an objection or consent typed in with the CLI.
"""

from __future__ import annotations

import datetime
import secrets
from typing import Literal
from zoneinfo import ZoneInfo

from itsdangerous import BadData
from pydantic import BaseModel, ConfigDict
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import locale
from ..audit.chain import append_event
from ..models import Language
from ..notices.answers import record_objection
from ..notices.errors import NoticeError
from ..notices.links import link_serializer
from ..notices.register import now_utc
from ..notices.zones import customer_zone
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import (
    ChangeRow,
    CustomerRow,
    ListVersionRow,
    ObjectionRow,
    PortalAnswerRow,
    PortalRefusalRow,
    TargetRow,
)
from .pagetexts import PageTexts

REFUSAL_WINDOW = datetime.timedelta(minutes=10)
# how long the request that stored an answer has to put it on record before another may
COMPLETION_LEASE = datetime.timedelta(seconds=60)
REFUSAL_LIMIT = 20  # refused requests per address and window before every request is refused

ActionName = Literal["object", "consent", "refuse", "acknowledge"]
ACTIONS: dict[str, tuple[ActionName, ...]] = {
    "objection": ("object",), "consent": ("consent", "refuse"), "informational": ("acknowledge",)}


class LinkRefused(NoticeError):
    """A notice link that is not genuine, has expired, or names no notice."""


class NoticeRef(BaseModel):
    """What a valid link names: one customer's notice of one change."""

    model_config = ConfigDict(frozen=True)
    change_id: int
    customer_key: str
    expires_at: datetime.datetime


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)
    action: ActionName
    reason: str
    received_at: datetime.datetime
    late: bool
    receipt: str
    recorded: bool
    confirmation_sent_at: datetime.datetime | None


class AnswerResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    answer: Answer
    new: bool  # False: the notice had been answered already; nothing new was recorded


# --- the secret and the links ---------------------------------------------------------------

def read_token(secret: str | bytes, token: str, *, now: datetime.datetime | None = None
               ) -> NoticeRef:
    """The notice a token names; LinkRefused when it is altered, not canonical or expired."""
    serializer = link_serializer(secret)
    try:
        payload = serializer.loads(token)
        change_id, customer_key, expires = payload
        valid = isinstance(change_id, int) and isinstance(customer_key, str) \
            and isinstance(expires, int)
    except (BadData, TypeError, ValueError):
        valid = False
    # accepted only exactly as issued (base64 has spare bits: a changed last character could
    # otherwise decode to the same signature)
    if not valid or serializer.dumps(payload) != token:
        raise LinkRefused("the notice link is not genuine", fix="use the link in the e-mail")
    expires_at = datetime.datetime.fromtimestamp(expires, datetime.UTC)
    if (now or now_utc()) >= expires_at:
        raise LinkRefused("the notice link has expired", fix="ask the provider for a new one")
    return NoticeRef(change_id=change_id, customer_key=customer_key, expires_at=expires_at)


def find_target(session: Session, ref: NoticeRef) -> tuple[ChangeRow, TargetRow]:
    """The change and the customer's notice a link names (LinkRefused when there is none)."""
    found = session.execute(
        select(ChangeRow, TargetRow).join(TargetRow, TargetRow.change_id == ChangeRow.id)
        .join(CustomerRow, CustomerRow.id == TargetRow.customer_id)
        .where(ChangeRow.id == ref.change_id, CustomerRow.key == ref.customer_key)).first()
    if found is None:
        raise LinkRefused("the notice link names no notice", fix="use the link in the e-mail")
    return found[0], found[1]


def check_notice(db: Database, ref: NoticeRef) -> None:
    """LinkRefused unless the link names a notice that was sent to that customer."""
    with db.transaction() as session:
        find_target(session, ref)


NoticeState = tuple[object, ...]

# built once: the notice page asks this on every request
_ACCESS = (
    select(ChangeRow.status, TargetRow.id, TargetRow.outcome, TargetRow.deadline,
           PortalAnswerRow.receipt, PortalAnswerRow.recorded, PortalAnswerRow.confirmation_sent_at,
           select(func.count(ObjectionRow.id)).where(ObjectionRow.target_id == TargetRow.id)
           .scalar_subquery(),
           select(func.max(ListVersionRow.number)).scalar_subquery())
    .join(TargetRow, TargetRow.change_id == ChangeRow.id)
    .join(CustomerRow, CustomerRow.id == TargetRow.customer_id)
    .outerjoin(PortalAnswerRow, PortalAnswerRow.target_id == TargetRow.id)
    .where(ChangeRow.id == bindparam("change_id"), CustomerRow.key == bindparam("customer_key")))
_REFUSALS = select(PortalRefusalRow.window_started_at, PortalRefusalRow.in_window).where(
    PortalRefusalRow.address == bindparam("address"))


def notice_access(db: Database, ref: NoticeRef, address: str, *,
                  now: datetime.datetime | None = None) -> tuple[bool, NoticeState]:
    """(whether `address` is refused for too many bad links, the notice's state), in one short
    read: the state is everything the notice page depends on that can change (change status,
    outcome, answer, objections, deadline passed, list version), so a page computed for the
    same state is the same page. LinkRefused when the link names no notice."""
    moment = now or now_utc()
    with db.transaction() as session:
        row = session.execute(_ACCESS, {"change_id": ref.change_id,
                                        "customer_key": ref.customer_key}).first()
        refusals = session.execute(_REFUSALS, {"address": address[:64]}).first()
    limited = refusals is not None and moment - refusals[0] < REFUSAL_WINDOW \
        and refusals[1] >= REFUSAL_LIMIT
    if row is None:
        raise LinkRefused("the notice link names no notice", fix="use the link in the e-mail")
    deadline = row[3]
    return limited, (*row, deadline is not None and moment >= deadline)


def local_zone(country: str) -> tuple[ZoneInfo, str]:
    """The customer's time zone and the page-text key of its label (Belgian, Dutch, ...)."""
    zone, label = customer_zone(country)
    return zone, f"tz_{label}"


def local_time_text(moment: datetime.datetime, country: str, language: Language,
                    texts: PageTexts) -> tuple[str, str, str]:
    """(long date, HH:MM, zone label) of `moment` in the customer's own time zone."""
    zone, label = local_zone(country)
    here = moment.astimezone(zone)
    return locale.long_date(here.date(), language), f"{here:%H:%M}", texts.render(label, language)


# --- refusals -----------------------------------------------------------------------------

def too_many_refusals(db: Database, address: str, *, now: datetime.datetime | None = None
                      ) -> bool:
    moment = now or now_utc()
    with db.transaction() as session:
        row = session.get(PortalRefusalRow, address[:64])
        return row is not None and moment - row.window_started_at < REFUSAL_WINDOW \
            and row.in_window >= REFUSAL_LIMIT


def count_refusal(db: Database, address: str, *, now: datetime.datetime | None = None) -> int:
    """Count one refused request from `address`; returns the count in the current window."""
    moment = now or now_utc()
    for _attempt in range(3):  # two first refusals at once: one insert wins, retry the other
        try:
            with db.transaction() as session:
                row = session.get(PortalRefusalRow, address[:64], with_for_update=True)
                if row is None:
                    session.add(PortalRefusalRow(address=address[:64], window_started_at=moment,
                                                 in_window=1, total=1))
                    return 1
                if moment - row.window_started_at >= REFUSAL_WINDOW:
                    row.window_started_at, row.in_window = moment, 0
                row.in_window += 1
                row.total += 1
                return row.in_window
        except IntegrityError:
            continue
    return REFUSAL_LIMIT


# --- answers --------------------------------------------------------------------------------

def _answer(row: PortalAnswerRow) -> Answer:
    return Answer(action=row.action, reason=row.reason,
                  received_at=row.received_at, late=row.late, receipt=row.receipt,
                  recorded=row.recorded, confirmation_sent_at=row.confirmation_sent_at)


def answer_of(session: Session, target: TargetRow) -> Answer | None:
    row = session.execute(select(PortalAnswerRow).where(PortalAnswerRow.target_id == target.id)
                          ).scalar_one_or_none()
    return None if row is None else _answer(row)


def _record_text(action: ActionName, reason: str, receipt: str) -> str:
    what = {"object": "Objection", "consent": "Consent given", "refuse": "Consent refused",
            "acknowledge": "Receipt confirmed"}[action]
    text = f"{what} on the notice page (receipt {receipt})"
    return f"{text}:\n{reason}" if reason else text


def record_answer(db: Database, ref: NoticeRef, action: ActionName, reason: str, *, actor: str,
                  now: datetime.datetime | None = None) -> AnswerResult:
    """Record the customer's answer once, at the server's time of receipt `now`.

    Object/consent/refuse go through `record_objection` (audited, LATE after the deadline);
    acknowledge is an audit record 'acknowledged'. A second post returns the first answer."""
    safe_fields({"reason": reason, "actor": actor}, error=NoticeError)
    moment = now or now_utc()
    reason = reason.strip()
    new = False
    existing: Answer | None = None
    try:
        with db.transaction() as session:
            change, target = find_target(session, ref)
            if action not in ACTIONS[target.kind]:
                raise NoticeError(f"'{action}' is not an answer to a {target.kind} notice",
                                  field="action", fix="use the buttons on the notice page")
            if action == "object" and not reason:
                raise NoticeError("an objection needs its reasons", field="reason",
                                  fix="write the reasons for the objection")
            existing = answer_of(session, target)
            if existing is None:
                late = target.deadline is not None and moment >= target.deadline
                row = PortalAnswerRow(change_id=change.id, target_id=target.id, action=action,
                                      reason=reason, received_at=moment, late=late,
                                      receipt=secrets.token_hex(6).upper(), recorded=False,
                                  completing_until=moment + COMPLETION_LEASE)
                session.add(row)
                session.flush()
                existing, new = _answer(row), True
    except IntegrityError:  # the same notice answered at the same moment: the other one won
        existing, new = None, False
    if existing is None:
        with db.transaction() as session:
            _, target = find_target(session, ref)
            existing = answer_of(session, target)
        if existing is None:
            raise NoticeError("the answer could not be stored", fix="try again")
    if not existing.recorded and (new or _take_over(db, ref, moment)):
        _complete(db, ref, existing, actor=actor, now=moment)
        existing = existing.model_copy(update={"recorded": True})
    return AnswerResult(answer=existing, new=new)


def _take_over(db: Database, ref: NoticeRef, moment: datetime.datetime) -> bool:
    """Take the lease of an answer not on record yet whose lease has expired (its request died
    between storing and recording it); False while another request holds it."""
    with db.transaction() as session:
        _, target = find_target(session, ref)
        taken = session.execute(
            update(PortalAnswerRow)
            .where(PortalAnswerRow.target_id == target.id, PortalAnswerRow.recorded.is_(False),
                   or_(PortalAnswerRow.completing_until.is_(None),
                       PortalAnswerRow.completing_until < moment))
            .values(completing_until=moment + COMPLETION_LEASE))
        return bool(taken.rowcount)  # type: ignore[attr-defined]


def _complete(db: Database, ref: NoticeRef, answer: Answer, *, actor: str,
              now: datetime.datetime) -> None:
    """Put an answer on record (again after a crash between the two steps: the objection is
    found by its time of receipt, so it is never recorded twice)."""
    text = _record_text(answer.action, answer.reason, answer.receipt)
    if answer.action != "acknowledge":
        with db.transaction() as session:
            _, target = find_target(session, ref)
            done = session.execute(select(ObjectionRow.id).where(
                ObjectionRow.target_id == target.id,
                ObjectionRow.received_at == answer.received_at)).first() is not None
        if not done:
            record_objection(db, ref.change_id, ref.customer_key, received_at=answer.received_at,
                             text=text, actor=actor, now=max(now, answer.received_at),
                             kind="consent" if answer.action == "consent" else "objection")
    with db.transaction() as session:
        _, target = find_target(session, ref)
        row = session.execute(select(PortalAnswerRow).where(
            PortalAnswerRow.target_id == target.id)).scalar_one()
        if row.recorded:
            return
        row.recorded, row.completing_until = True, None
        if answer.action == "acknowledge":
            append_event(session, "acknowledged", actor=actor, at=now, change_id=ref.change_id,
                         customer_key=ref.customer_key,
                         data={"received_at": answer.received_at.isoformat(), "text": text})


__all__ = [
    "ACTIONS", "ActionName", "Answer", "AnswerResult", "LinkRefused", "NoticeRef",
    "NoticeState", "answer_of", "check_notice", "count_refusal", "find_target",
    "local_time_text", "local_zone", "notice_access", "read_token", "record_answer",
    "too_many_refusals",
]
