"""Withdrawing a change after it went out: a withdrawal notice to each customer notified, in
its language, exactly once through the outbox; windows closed; nothing else sent."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import select

from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    change_status,
    close_change,
    send_change,
    verify_audit,
    withdraw_change,
)
from dpa_engine.storage import Database
from dpa_engine.storage.schema import TargetRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, propose, proposed_and_planned, register, voicebot

SUBJECT_START = {"nl": "Ingetrokken:", "fr": "Retirée :", "en": "Withdrawn:"}


def withdrawn_after_sending(db: Database, library: Library, clock: Clock, smtp: SmtpServer,
                            texts: NoticeTexts) -> tuple[int, dict[str, str], int]:
    """A change sent to every affected customer but bakkerij-peeters (refused), then withdrawn:
    its number, the language of each customer notified, and the messages sent before."""
    register(db, library, clock)
    plan = proposed_and_planned(db, clock)
    smtp.recorder.refuse = {"privacy@bakkerijpeeters.example"}
    send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                clock=clock)
    languages = {e.customer: e.language for e in plan.affected if e.customer != "bakkerij-peeters"}
    before = len(smtp.recorder.messages)
    assert before == len(languages)
    clock.advance(days=1)
    report = withdraw_change(db, plan.change.id, reason="another vendor chosen", actor=ACTOR,
                             settings=smtp.settings(), now=clock())
    assert report.was == "sent" and sorted(report.to_tell) == sorted(languages)
    return plan.change.id, languages, before


def stated_deadlines(db: Database) -> dict[int, object]:
    with db.transaction() as session:
        rows = session.execute(select(TargetRow.id, TargetRow.stated_deadline)).all()
        return {target: stated for target, stated in rows}


def _greeting(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content()).splitlines()[2]  # after the reference line and a blank


class DescribeWithdrawingAfterSending:
    def it_tells_each_notified_customer_once_in_its_language(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        change_id, languages, before = withdrawn_after_sending(db, library, clock, smtp, texts)
        stated = stated_deadlines(db)
        assert any(stated.values())
        status = change_status(db, change_id)
        assert status.change.status == "withdrawn" and not status.nothing_to_send
        assert all(t.outcome == "withdrawn" for t in status.targets)
        assert all(t.deadline is None or t.deadline <= clock() for t in status.targets)
        report = send_change(db, change_id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                             clock=clock)
        assert report.complete and sorted(report.sent) == sorted(languages)
        told = smtp.recorder.messages[before:]
        by_customer = {str(m.message["X-DPA-Customer"]): m for m in told}
        assert len(told) == len(by_customer) == len(languages)
        for customer, language in languages.items():
            message = by_customer[customer].message
            assert str(message["Subject"]).startswith(SUBJECT_START[language]), customer
            assert str(message["Message-ID"]).strip().startswith("<dpa-withdrawal.")
            notice = next(m.message for m in smtp.recorder.messages[:before]
                          if str(m.message["X-DPA-Customer"]) == customer)
            assert _greeting(message) == _greeting(notice), customer  # by name, as before
        assert "bakkerij-peeters" not in by_customer  # never notified: nothing to withdraw
        after = change_status(db, change_id)
        assert after.nothing_to_send and {t.withdrawal_status for t in after.targets} == {
            "sent", None}
        with pytest.raises(NoticeError, match="was withdrawn"):  # a rerun sends nothing
            send_change(db, change_id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                        clock=clock)
        assert len(smtp.recorder.messages) == before + len(languages)
        assert stated_deadlines(db) == stated  # what each notice said stays on record
        verified = verify_audit(db)
        assert verified.ok and verified.notices_checked == before + len(languages)

    def it_refuses_what_follows_and_frees_the_way(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        change_id, _, _ = withdrawn_after_sending(db, library, clock, smtp, texts)
        with pytest.raises(NoticeError, match="already withdrawn"):
            withdraw_change(db, change_id, reason="again", actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match="was withdrawn"):
            close_change(db, change_id, actor=ACTOR, now=clock.advance(days=30))
        assert propose(db, clock, voicebot()).id == change_id + 1

    def it_cancels_the_notices_not_sent_yet(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        smtp.recorder.tempfail_data = 1000  # every notice deferred: none reached anyone
        report = send_change(db, plan.change.id, settings=smtp.settings(max_attempts=1),
                             texts=texts, actor=ACTOR, clock=clock)
        assert not report.complete and not report.sent
        withdrawn = withdraw_change(db, plan.change.id, reason="mistake", actor=ACTOR,
                                    settings=smtp.settings(), now=clock())
        assert (withdrawn.was, withdrawn.to_tell) == ("sending", [])
        smtp.recorder.tempfail_data = 0
        with pytest.raises(NoticeError, match="was withdrawn"):
            send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                        clock=clock)
        assert smtp.recorder.messages == []
        statuses = {t.message_status for t in change_status(db, plan.change.id).targets}
        assert statuses == {"withdrawn"}
