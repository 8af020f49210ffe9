"""A change workflow without dead ends: withdrawing, letters posted, plans inside a window."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from dpa_engine.audit.chain import records
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    change_status,
    close_change,
    plan_change,
    record_letter_sent,
    record_objection,
    send_change,
    withdraw_change,
)
from dpa_engine.storage import Database
from dpa_engine.storage.schema import ChangeRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, propose, proposed_and_planned, register, voicebot

BRUSSELS = ZoneInfo("Europe/Brussels")


def events(db: Database, change_id: int, name: str) -> list[dict[str, object]]:
    with db.transaction() as session:
        return [r.data for r in records(session, change_id) if r.event == name]


class DescribeWithdrawingBeforeSending:
    @pytest.mark.parametrize("planned", [False, True])
    def it_withdraws_with_the_reason_audited_and_frees_the_way(
            self, db: Database, library: Library, clock: Clock, planned: bool) -> None:
        register(db, library, clock)
        change = propose(db, clock, voicebot())
        if planned:
            plan_change(db, change.id, actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="already concerns voicebot"):
            propose(db, clock, voicebot())
        report = withdraw_change(db, change.id, reason="wrong services", actor=ACTOR,
                                 now=clock())
        assert (report.status, report.was) == ("withdrawn", "planned" if planned else "proposed")
        assert change_status(db, change.id).change.status == "withdrawn"
        [withdrawn] = events(db, change.id, "withdrawn")
        assert withdrawn["reason"] == "wrong services"
        again = propose(db, clock, voicebot())  # the way is free
        assert again.id == change.id + 1

    def it_refuses_withdrawing_twice_and_anything_after(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        change = propose(db, clock, voicebot())
        withdraw_change(db, change.id, reason="mistake", actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match=f"change {change.id} is already withdrawn"):
            withdraw_change(db, change.id, reason="mistake", actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="already withdrawn"):
            plan_change(db, change.id, actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="was withdrawn"):
            send_change(db, change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                        clock=clock)
        with pytest.raises(NoticeError, match="was withdrawn"):
            close_change(db, change.id, actor=ACTOR, now=clock())
        assert smtp.recorder.messages == []

    def it_refuses_an_empty_reason_and_a_closed_change(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock, voicebot(engagement="incidental"))
        with pytest.raises(NoticeError, match="reason for withdrawing is empty"):
            withdraw_change(db, plan.change.id, reason="  ", actor=ACTOR, now=clock())
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        close_change(db, plan.change.id, actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="is closed"):
            withdraw_change(db, plan.change.id, reason="too late", actor=ACTOR, now=clock())
        with db.transaction() as session:
            assert session.get(ChangeRow, plan.change.id).status == "closed"  # type: ignore[union-attr]


class DescribePlansInsideAWindow:
    def it_refuses_naming_the_customer_and_its_deadline_unless_forced(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        # sent on Wednesday 25 March 2026, a 7-day window ends on Wednesday 1 April
        change = propose(db, clock, voicebot(), effective_on=datetime.date(2026, 3, 30))
        with pytest.raises(NoticeError) as refused:
            plan_change(db, change.id, actor=ACTOR, now=clock())
        message = refused.value.message
        assert "2026-03-30 falls inside the window of 'bakkerij-peeters'" in message
        assert "2026-04-01 23:59" in message and "--force" in message
        with db.transaction() as session:
            assert session.get(ChangeRow, change.id).status == "proposed"  # type: ignore[union-attr]
        assert events(db, change.id, "planned") == []
        plan = plan_change(db, change.id, actor=ACTOR, now=clock(), force=True)
        assert plan.change.status == "planned"
        assert any("inside the window" in w for e in plan.affected for w in e.warnings)
        [forced] = events(db, change.id, "plan-forced")
        assert forced["inside_window"]["bakkerij-peeters"] == "2026-04-01"  # type: ignore[index]

    def it_plans_without_force_when_every_window_ends_before_the_effective_date(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock, effective_on=datetime.date(2026, 6, 1))
        assert plan.change.status == "planned"
        assert events(db, plan.change.id, "plan-forced") == []


class DescribeLettersSentByPost:
    @pytest.fixture
    def unreached(self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
                  texts: NoticeTexts) -> int:
        """A sent change that did not reach bakkerij-peeters by e-mail."""
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        smtp.recorder.refuse = {"privacy@bakkerijpeeters.example"}
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        targets = {t.customer: t for t in change_status(db, plan.change.id).targets}
        assert targets["bakkerij-peeters"].status == "not-notified"
        return plan.change.id

    def it_starts_the_window_when_the_letter_went_out(
            self, db: Database, clock: Clock, unreached: int) -> None:
        clock.advance(days=2)  # Friday 27 March; the window crosses the switch to summer time
        sent_at = datetime.datetime(2026, 3, 27, 9, 30, tzinfo=BRUSSELS)
        report = record_letter_sent(db, unreached, "bakkerij-peeters", sent_at=sent_at,
                                    actor=ACTOR, now=clock())
        # 7 calendar days from the day after: the last day is Friday 3 April, 24:00 (CEST)
        assert report.deadline == datetime.datetime(2026, 4, 3, 22, 0, tzinfo=datetime.UTC)
        target = {t.customer: t for t in change_status(db, unreached).targets}["bakkerij-peeters"]
        assert (target.status, target.notified_at, target.deadline) == (
            "notified", sent_at, report.deadline)
        assert target.follow_up is None
        [letter] = events(db, unreached, "letter-sent")
        assert letter["sent_at"] == sent_at.isoformat()
        on_time = record_objection(db, unreached, "bakkerij-peeters", text="nee",
                                   received_at=datetime.datetime(2026, 4, 3, 23, 0,
                                                                 tzinfo=BRUSSELS),
                                   actor=ACTOR, now=clock.advance(days=10))
        assert not on_time.late  # late only from the letter's deadline on
        late = record_objection(db, unreached, "bakkerij-peeters", text="toch nee",
                                received_at=datetime.datetime(2026, 4, 4, 0, 0, tzinfo=BRUSSELS),
                                actor=ACTOR, now=clock())
        assert late.late
        closed = close_change(db, unreached, actor=ACTOR, now=clock.advance(days=20))
        assert closed.outcomes["bakkerij-peeters"] == "objected"

    @pytest.mark.parametrize(("customer", "sent_at", "message"), [
        ("nobody", "2026-03-25T12:00+01:00", "unknown customer 'nobody'"),
        ("boulangerie-lemaire", "2026-03-25T12:00+01:00", "was not notified of change"),
        ("groenveld-energie", "2026-03-25T12:00+01:00", "was already notified"),
        ("bakkerij-peeters", "2026-03-28T12:00+01:00", "is in the future"),
        ("bakkerij-peeters", "2026-03-01T12:00+01:00", "before the change was proposed"),
    ])
    def it_refuses_what_cannot_be_true(self, db: Database, clock: Clock, unreached: int,
                                       customer: str, sent_at: str, message: str) -> None:
        with pytest.raises(NoticeError, match=message):
            record_letter_sent(db, unreached, customer,
                               sent_at=datetime.datetime.fromisoformat(sent_at), actor=ACTOR,
                               now=clock.advance(days=1))
        assert events(db, unreached, "letter-sent") == []

    def it_refuses_a_letter_for_a_change_not_sent(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        with pytest.raises(NoticeError, match="has not been sent"):
            record_letter_sent(db, plan.change.id, "bakkerij-peeters", sent_at=clock(),
                               actor=ACTOR, now=clock())
        with db.transaction() as session:
            assert session.execute(select(ChangeRow.status)).scalar_one() == "planned"
