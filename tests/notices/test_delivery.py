"""Delivery through the outbox: retries, permanent failures, crashes at every step."""

from __future__ import annotations

import email
import email.policy
import time
from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from dpa_engine.audit.chain import records
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeTexts,
    change_status,
    close_change,
    record_bounce,
    send_change,
    subprocessor_list,
    verify_audit,
)
from dpa_engine.notices.deadlines import BRUSSELS
from dpa_engine.notices.delivery import SenderLease, SendProgress, SendReport
from dpa_engine.notices.errors import NoticeError
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxPayloadRow, OutboxRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, accept_updates, proposed_and_planned, refuse_updates, register


def send(db: Database, smtp: SmtpServer, texts: NoticeTexts,
         clock: Clock, change_id: int, **settings: object) -> SendReport:
    return send_change(db, change_id, settings=smtp.settings(**settings), texts=texts,
                       actor=ACTOR, clock=clock, sleep=lambda _: None)


@pytest.fixture
def planned(db: Database, library: Library, clock: Clock) -> int:
    register(db, library, clock)
    return proposed_and_planned(db, clock).change.id


class DescribeFailures:
    def it_retries_temporary_failures_then_sends_once(self, db: Database, planned: int,
                                                      smtp: SmtpServer, texts: NoticeTexts,
                                                      clock: Clock
                                                      ) -> None:
        smtp.recorder.tempfail_data = 2
        report = send(db, smtp, texts, clock, planned)
        assert report.complete and not report.deferred
        customers = {t.customer for t in change_status(db, planned).targets}
        assert len(smtp.recorder.messages) == len(customers)
        with db.transaction() as session:
            failures = [r for r in records(session, planned) if r.event == "send-failed"]
        assert len(failures) == 2 and "451" in failures[0].data["error"]

    def it_reports_and_keeps_what_it_could_not_send(self, db: Database, planned: int,
                                                    smtp: SmtpServer, texts: NoticeTexts,
                                                    clock: Clock) -> None:
        smtp.stop()  # the server is down: connection refused every time
        report = send(db, smtp, texts, clock, planned, max_attempts=2)
        assert not report.complete and not report.sent
        assert all(d.attempts == 2 and "connect" in d.error for d in report.deferred)
        smtp.start()
        rerun = send(db, smtp, texts, clock, planned)
        assert rerun.complete and sorted(rerun.sent) == sorted(d.customer for d in report.deferred)
        assert len(smtp.recorder.messages) == len(rerun.sent)

    def it_does_not_start_the_window_when_every_recipient_is_refused(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.refuse = {"dpo@medcare.example"}
        report = send(db, smtp, texts, clock, planned)
        assert report.complete
        [failed] = report.failed
        assert failed.customer == "medcare-clinics" and "550" in failed.error
        assert "Sophie Lambert" not in failed.follow_up  # same address as the notice address
        assert "Marc Dubois" in failed.follow_up  # the fallback contact
        status = {t.customer: t for t in change_status(db, planned).targets}
        medcare = status["medcare-clinics"]
        assert (medcare.status, medcare.deadline, medcare.notified_at) == ("not-notified", None, None)
        closed = close_change(db, planned, actor=ACTOR, now=clock.advance(days=30))
        assert closed.outcomes["medcare-clinics"] == "not-notified"
        view = subprocessor_list(db, texts, customer_ref="medcare-clinics")
        assert {r.id: r.status for r in view.rows}["voicebot"] == "blocked"

    def it_notifies_through_the_addresses_that_were_accepted(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.refuse = {"legal@groenveld.example"}
        send(db, smtp, texts, clock, planned)
        groenveld = {t.customer: t for t in change_status(db, planned).targets}["groenveld-energie"]
        assert groenveld.status == "notified" and groenveld.deadline is not None
        assert "legal@groenveld.example" in (groenveld.follow_up or "")

    def it_records_a_later_bounce_as_not_notified(self, db: Database, planned: int,
                                                  smtp: SmtpServer, texts: NoticeTexts,
                                                  clock: Clock) -> None:
        send(db, smtp, texts, clock, planned)
        record_bounce(db, planned, "bakkerij-peeters", reason="550 user unknown", actor=ACTOR,
                      now=clock.advance(hours=2))
        peeters = {t.customer: t for t in change_status(db, planned).targets}["bakkerij-peeters"]
        assert (peeters.status, peeters.deadline) == ("not-notified", None)
        assert "NOT notified" in (peeters.follow_up or "")


class DescribeCrashes:
    def it_sends_nothing_whose_start_the_database_refused(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        # the second message's start cannot be committed: it must not reach the server
        refuse_updates(db, "NEW.status = 'sending' AND (SELECT COUNT(*) FROM outbox "
                           "WHERE status IN ('sending', 'sent')) >= 1")
        with pytest.raises(DBAPIError, match="disk full"):
            send(db, smtp, texts, clock, planned, connections=1)
        accept_updates(db)
        assert len(smtp.recorder.messages) == 1
        report = send(db, smtp, texts, clock, planned)
        assert report.complete and not report.in_doubt_resent
        targets = change_status(db, planned).targets
        assert len(smtp.recorder.messages) == len(targets)
        assert len({m.message_id for m in smtp.recorder.messages}) == len(targets)

    @pytest.mark.parametrize("connections", [1, 3])
    def it_resends_in_doubt_notices_with_the_same_message_id(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, connections: int) -> None:
        # The limit of SMTP: the server took the message, but the line broke before its 250
        # reached us. We cannot know it arrived: resent, same Message-ID and bytes.
        smtp.recorder.hang_up_after = {1, 2}
        report = send(db, smtp, texts, clock, planned, connections=connections)
        customers = {t.customer for t in change_status(db, planned).targets}
        assert report.complete and sorted(report.sent) == sorted(customers)
        copies = Counter(m.message_id for m in smtp.recorder.messages)
        doubted = [message_id for message_id, n in copies.items() if n > 1]
        assert len(copies) == len(customers) and sorted(copies.values())[-3:] == [1, 2, 2]
        assert report.in_doubt_resent == sorted(
            key for key in customers if any(f".{planned}.{key}." in m for m in doubted))
        for message_id in doubted:
            resent = [m for m in smtp.recorder.messages if m.message_id == message_id]
            assert resent[0].message.as_bytes() == resent[1].message.as_bytes()
        with db.transaction() as session:
            doubts = [r for r in records(session, planned) if r.event == "in-doubt-resend"]
            resends = session.execute(select(OutboxRow.in_doubt_resends)).scalars().all()
        assert {r.customer_key for r in doubts} == set(report.in_doubt_resent)
        assert sorted(resends)[-2:] == [1, 1] and sum(resends) == 2
        assert verify_audit(db).ok

    def it_lets_the_server_have_a_message_only_once_its_start_and_bytes_are_committed(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        seen: dict[str, tuple[str, str | None, bytes | None]] = {}

        def look(message_id: str) -> None:  # read by another connection, as the DATA ends
            with db.transaction() as session:
                row = session.execute(
                    select(OutboxRow.status, OutboxRow.phase, OutboxPayloadRow.mime)
                    .outerjoin(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
                    .where(OutboxRow.message_id == message_id)).one()
            seen[message_id] = (row.status, row.phase, row.mime)

        smtp.recorder.on_data = look
        report = send(db, smtp, texts, clock, planned, connections=2)
        assert report.complete and len(seen) == len(smtp.recorder.messages) > 1
        for received in smtp.recorder.messages:
            status, phase, mime = seen[received.message_id]
            assert (status, phase) == ("sending", "data")
            assert mime is not None and received.message["Subject"] in \
                email.message_from_bytes(mime, policy=email.policy.default)["Subject"]

    def it_resends_in_doubt_a_message_whose_outcome_the_database_refused(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        refuse_updates(db, "NEW.status = 'sent'")
        with pytest.raises(DBAPIError, match="disk full"):
            send(db, smtp, texts, clock, planned, connections=1)
        accept_updates(db)
        [first] = [m.message_id for m in smtp.recorder.messages]  # the server has it
        report = send(db, smtp, texts, clock, planned)
        # its 'sent' record was refused: resent once, in doubt, same Message-ID
        assert report.complete and len(report.in_doubt_resent) == 1
        assert f".{report.in_doubt_resent[0]}." in first
        customers = {t.customer for t in change_status(db, planned).targets}
        assert len({m.message_id for m in smtp.recorder.messages}) == len(customers)
        assert len(smtp.recorder.messages) == len(customers) + 1
        with db.transaction() as session:
            taken = [r for r in records(session, planned) if r.event == "taken-over"]
        assert [r.data["phase"] for r in taken] == ["data"]

    def it_keeps_a_message_whose_verdict_never_came_in_doubt(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        # The server takes the end-of-data mark of the first message and then says nothing
        # for longer than the timeout: the sender cannot know whether it was accepted.
        smtp.recorder.stall_first = 3.0
        report = send(db, smtp, texts, clock, planned, timeout=0.5, max_attempts=1,
                      connections=2)
        customers = sorted(t.customer for t in change_status(db, planned).targets)
        [stalled] = report.deferred
        assert "no reply within 0.5 s" in stalled.error
        assert sorted([*report.sent, stalled.customer]) == customers  # the others went on
        with db.transaction() as session:
            row = session.execute(select(OutboxRow.status, OutboxRow.phase)
                                  .where(OutboxRow.status != "sent")).one()
        assert tuple(row) == ("deferred", "data")  # the server may have it
        time.sleep(3)  # the server's verdict comes (and is lost with the connection)
        rerun = send(db, smtp, texts, clock, planned)
        assert rerun.complete and rerun.in_doubt_resent == [stalled.customer]
        assert len({m.message_id for m in smtp.recorder.messages}) == len(customers)

    def it_rerenders_a_notice_first_sent_on_a_later_day(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.stop()
        send(db, smtp, texts, clock, planned, max_attempts=1)
        smtp.start()
        clock.advance(days=2)  # queued on 25 March, delivered on 27 March
        send(db, smtp, texts, clock, planned)
        peeters = {t.customer: t for t in change_status(db, planned).targets}["bakkerij-peeters"]
        assert peeters.deadline is not None
        assert peeters.deadline.astimezone(BRUSSELS).isoformat() == "2026-04-04T00:00:00+02:00"
        mail = next(m for m in smtp.recorder.messages
                    if m.recipients == ["privacy@bakkerijpeeters.example"])
        assert "3 april 2026" in str(mail.message["Subject"])

    def it_refuses_a_second_sender_on_sqlite(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        if db.dialect != "sqlite":
            pytest.skip("PostgreSQL lets several senders share a change (test_senders)")
        other = SenderLease(db, exclusive=True)
        other.acquire()
        try:
            with pytest.raises(NoticeError, match="another 'dpa change send' is running"):
                send(db, smtp, texts, clock, planned)
        finally:
            other.release()
        assert smtp.recorder.messages == []
        with db.transaction() as session:  # nothing was queued
            assert session.execute(select(OutboxRow)).first() is None


class DescribePipelining:
    @pytest.mark.parametrize("offered", [True, False])
    def it_sends_and_classifies_refusals_with_or_without_pipelining(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, offered: bool) -> None:
        smtp.recorder.pipelining = offered
        smtp.recorder.refuse = {"privacy@bakkerijpeeters.example",  # its only address
                                "legal@groenveld.example"}  # one of two addresses
        report = send(db, smtp, texts, clock, planned, connections=2)
        assert ("250-PIPELINING" in smtp.recorder.ehlo_lines) is offered
        targets = {t.customer: t for t in change_status(db, planned).targets}
        assert report.complete and [f.customer for f in report.failed] == ["bakkerij-peeters"]
        assert targets["bakkerij-peeters"].status == "not-notified"
        assert targets["groenveld-energie"].status == "notified"
        assert "legal@groenveld.example" in (targets["groenveld-energie"].follow_up or "")
        received = smtp.recorder.messages
        assert len(received) == len(targets) - 1 == len({m.message_id for m in received})
        assert all("legal@groenveld.example" not in m.recipients for m in received)


class DescribeProgress:
    def it_reports_queueing_then_each_outcome_up_to_the_total(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.refuse = {"privacy@bakkerijpeeters.example"}  # one not notified
        seen: list[SendProgress] = []
        report = send_change(db, planned, settings=smtp.settings(connections=2), texts=texts,
                             actor=ACTOR, clock=clock, sleep=lambda _: None,
                             progress=seen.append)
        customers = len(change_status(db, planned).targets)
        assert seen[0].stage == "queueing" and seen[0].total is None
        sending = seen[1:]
        assert sending and all(p.stage == "sending" and p.total == customers for p in sending)
        assert (sending[0].sent, sending[0].failed) == (0, 0)
        done = [p.sent + p.failed for p in sending]
        assert done == sorted(done)  # never goes back
        last = sending[-1]
        assert (last.sent, last.failed, last.deferred) == (len(report.sent), len(report.failed), 0)
        assert last.sent + last.failed == customers and last.failed == 1


class DescribeParallelConnections:
    def it_sends_each_notice_once_over_several_connections(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.delay = 0.05  # a connection busy in DATA leaves the next to the others
        report = send(db, smtp, texts, clock, planned, connections=3)
        customers = sorted(t.customer for t in change_status(db, planned).targets)
        assert report.complete and report.sent == customers and not report.in_doubt_resent
        assert len(smtp.recorder.messages) == len(customers)
        assert len({m.message_id for m in smtp.recorder.messages}) == len(customers)
        assert 1 < len(smtp.recorder.peers) <= 3
        with db.transaction() as session:
            log = records(session, planned)
        assert sorted(r.customer_key for r in log if r.event == "sent") == customers
        assert verify_audit(db).ok

    def it_makes_do_with_the_connections_the_server_allows(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.max_connections = 2  # a relay that caps connections per client
        smtp.recorder.delay = 0.02
        report = send(db, smtp, texts, clock, planned, connections=4, max_attempts=1)
        customers = sorted(t.customer for t in change_status(db, planned).targets)
        # nothing deferred for it: the refused connections were given up, not the notices
        assert report.complete and report.sent == customers and not report.deferred
        assert report.connection_limit == 2 and smtp.recorder.refused_connections >= 1
        assert len(smtp.recorder.messages) == len(customers)
        assert len(smtp.recorder.peers) == 2
        with db.transaction() as session:
            attempts = session.execute(select(OutboxRow.attempts)).scalars().all()
        assert set(attempts) == {1}  # a refused connection costs no notice an attempt

    def it_records_what_was_delivered_when_the_settings_turn_out_wrong(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.refuse_sender_after = 2  # e.g. the relay stops accepting our address
        with pytest.raises(NoticeError, match="refused the sender"):
            send(db, smtp, texts, clock, planned, connections=1)
        smtp.recorder.refuse_sender_after = None
        assert len(smtp.recorder.messages) == 2
        with db.transaction() as session:  # the refused one is as before: pending, no attempt
            rows = session.execute(select(OutboxRow.status, OutboxRow.attempts)).all()
        assert sorted(tuple(r) for r in rows if r.status != "sent") == \
            [("pending", 0)] * (len(rows) - 2)
        report = send(db, smtp, texts, clock, planned, connections=2)
        assert report.complete and len(report.already_sent) == 2 and not report.in_doubt_resent
        assert len(smtp.recorder.messages) == len(change_status(db, planned).targets)
