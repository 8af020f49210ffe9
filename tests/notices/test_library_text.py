"""Free text recorded through the library (objections, consents, bounce reasons, portal
answers, who acted) is checked by the library itself, whoever calls it: a character no
document can hold is a one-line error naming the field, and nothing is recorded."""

from __future__ import annotations

import datetime

import pytest
from sqlalchemy import text

from dpa_engine.customers.portal import NoticeRef, record_answer
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    Proposal,
    close_change,
    plan_change,
    propose_change,
    record_bounce,
    record_objection,
    send_change,
)
from dpa_engine.storage import Database

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, propose, proposed_and_planned, register, voicebot

UNSAFE = ["Jan Peeters\x00objects", "bell\x07", "escape\x1b[31m", "\ufffe", "del\x7f"]


def _written(db: Database) -> tuple[int, int, int]:
    with db.transaction() as session:
        return (session.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one(),
                session.execute(text("SELECT COUNT(*) FROM objections")).scalar_one(),
                session.execute(text("SELECT COUNT(*) FROM portal_answers")).scalar_one())


@pytest.fixture
def sent(db: Database, library: Library, clock: Clock, smtp: SmtpServer,
         texts: NoticeTexts) -> int:
    register(db, library, clock)
    change_id = proposed_and_planned(db, clock).change.id
    assert send_change(db, change_id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                       clock=clock).complete
    return change_id


@pytest.mark.parametrize("value", UNSAFE)
def test_an_objection_text_is_refused_naming_the_field(db: Database, sent: int, clock: Clock,
                                                        value: str) -> None:
    before = _written(db)
    with pytest.raises(NoticeError) as caught:
        record_objection(db, sent, "bakkerij-peeters", received_at=clock(), text=value,
                         actor=ACTOR, now=clock())
    message = caught.value.message
    assert message.startswith("objection text: contains the invisible character U+")
    assert "\n" not in message and "Jan Peeters" not in message and "INSERT" not in message
    assert _written(db) == before


def test_a_consent_and_its_actor_are_checked_too(db: Database, sent: int,
                                                 clock: Clock) -> None:
    before = _written(db)
    with pytest.raises(NoticeError, match=r"^actor: .*U\+0007"):
        record_objection(db, sent, "saint-lambert", received_at=clock(), text="we agree",
                         actor="clerk\x07", kind="consent", now=clock())
    assert _written(db) == before


def test_a_bounce_reason_is_checked(db: Database, sent: int, clock: Clock) -> None:
    before = _written(db)
    with pytest.raises(NoticeError, match=r"^bounce reason: .*U\+0000"):
        record_bounce(db, sent, "bakkerij-peeters", reason="550\x00 gone", actor=ACTOR,
                      now=clock())
    assert _written(db) == before


def test_a_portal_answer_is_checked(db: Database, sent: int, clock: Clock) -> None:
    ref = NoticeRef(change_id=sent, customer_key="bakkerij-peeters",
                    expires_at=clock() + datetime.timedelta(days=30))
    before = _written(db)
    with pytest.raises(NoticeError, match=r"^reason: .*U\+FFFF"):
        record_answer(db, ref, "object", "no\uffff", actor="customer on the notice page",
                      now=clock())
    assert _written(db) == before
    assert record_answer(db, ref, "object", "tab\tand\nnewline are fine", actor="customer",
                         now=clock()).answer.recorded


def test_who_acts_is_checked_when_proposing_planning_sending_closing(
        db: Database, library: Library, clock: Clock, smtp: SmtpServer,
        texts: NoticeTexts) -> None:
    register(db, library, clock)
    before = _written(db)
    with pytest.raises(NoticeError, match=r"^actor: "):
        propose_change(db, Proposal(action="add", subprocessor=voicebot(),
                                    effective_on=datetime.date(2026, 6, 1)),
                       actor="x\x1b", now=clock())
    assert _written(db) == before
    change_id = propose(db, clock, voicebot()).id
    with pytest.raises(NoticeError, match=r"^actor: "):
        plan_change(db, change_id, actor="\x08", now=clock())
    plan_change(db, change_id, actor=ACTOR, now=clock())
    with pytest.raises(NoticeError, match=r"^actor: "):
        send_change(db, change_id, settings=smtp.settings(), texts=texts, actor="\x01",
                    clock=clock)
    assert smtp.recorder.messages == []
    with pytest.raises(NoticeError, match=r"^actor: "):
        close_change(db, change_id, actor="\x01", now=clock())
