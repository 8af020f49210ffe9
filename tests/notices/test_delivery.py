"""Delivery through the outbox: retries, permanent failures, crashes at every step."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

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
from dpa_engine.notices import outbox as outbox_module
from dpa_engine.notices.audit import records
from dpa_engine.notices.deadlines import BRUSSELS
from dpa_engine.notices.errors import NoticeError
from dpa_engine.notices.smtp import Wire
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, proposed_and_planned, register


class SimulatedKill(BaseException):
    """Stands for kill -9: nothing after it runs (not even except Exception handlers)."""


def send(db: Database, smtp: SmtpServer, texts: NoticeTexts,
         clock: Clock, change_id: int, **settings: object) -> outbox_module.SendReport:
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
    def it_sends_a_notice_claimed_before_a_crash_exactly_once(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = {"n": 0}
        real = Wire.begin

        def dies_on_second(*args: object, **kwargs: object) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise SimulatedKill  # while the commit that starts it is made, before MAIL FROM
            real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Wire, "begin", dies_on_second)
        with pytest.raises(SimulatedKill):
            send(db, smtp, texts, clock, planned, connections=1)
        monkeypatch.setattr(Wire, "begin", real)
        report = send(db, smtp, texts, clock, planned)
        # The dead run had started that one message's transaction: the rerun cannot know the
        # server never saw it, so it flags it (and only it) in doubt; it still arrives once.
        assert report.complete and len(report.in_doubt_resent) <= 1
        targets = change_status(db, planned).targets
        assert len(smtp.recorder.messages) == len(targets)
        assert len({m.message_id for m in smtp.recorder.messages}) == len(targets)

    @pytest.mark.parametrize("connections", [1, 3])
    def it_resends_in_doubt_notices_with_the_same_message_id(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, monkeypatch: pytest.MonkeyPatch, connections: int) -> None:
        # The limit of SMTP: the server said 250 but the process died before our commit.
        # Each connection dies on its first acceptance: at most one in doubt per connection.
        def dies_after_acceptance(self: object, claimed: object, refused: object) -> None:
            raise SimulatedKill

        monkeypatch.setattr(outbox_module._Run, "_delivered", dies_after_acceptance)
        with pytest.raises(SimulatedKill):
            send(db, smtp, texts, clock, planned, connections=connections)
        monkeypatch.undo()
        accepted = {m.message_id for m in smtp.recorder.messages}
        assert 1 <= len(accepted) <= connections
        report = send(db, smtp, texts, clock, planned, connections=connections)
        # in doubt: every message whose end-of-data mark may have gone out, the accepted ones
        # among them; at most one per connection
        doubted = {f"<dpa-notice.{planned}.{key}." for key in report.in_doubt_resent}
        assert report.complete and len(doubted) <= connections
        assert all(any(m.startswith(d) for d in doubted) for m in accepted)
        customers = {t.customer for t in change_status(db, planned).targets}
        assert len({m.message_id for m in smtp.recorder.messages}) == len(customers)
        for message_id in accepted:
            resent = [m for m in smtp.recorder.messages if m.message_id == message_id]
            assert len(resent) == 2  # a duplicate, but recognisable by its Message-ID
            assert resent[0].message.as_bytes() == resent[1].message.as_bytes()
        others = [m for m in smtp.recorder.messages if m.message_id not in accepted]
        assert len(others) == len(customers) - len(accepted)  # everyone else exactly once
        with db.transaction() as session:
            doubts = [r for r in records(session, planned) if r.event == "in-doubt-resend"]
        assert {r.customer_key for r in doubts} == set(report.in_doubt_resent)

    def it_lets_the_server_accept_a_message_only_once_its_start_is_committed(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        # The commit that starts a message runs while its envelope and text travel; only the
        # end-of-data mark waits for it. Slow commits make any wrong order show.
        real = outbox_module._Run._write
        committed: dict[str, float] = {}

        def slow_write(self: outbox_module._Run, records: list[object]) -> None:
            time.sleep(0.02)
            real(self, records)  # type: ignore[arg-type]
            for record in records:
                if isinstance(record, outbox_module._Starting):
                    committed[record.claimed.message_id] = time.monotonic()

        monkeypatch.setattr(outbox_module._Run, "_write", slow_write)
        report = send(db, smtp, texts, clock, planned, connections=2)
        assert report.complete and smtp.recorder.messages
        for received in smtp.recorder.messages:
            assert received.at > committed[received.message_id], received.message_id

    def it_abandons_a_started_message_when_its_commit_fails(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        real = outbox_module._Run._write
        starts: list[str] = []

        def disk_fails_on_second_start(self: outbox_module._Run, records: list[object]) -> None:
            started = [r.claimed.message_id for r in records
                       if isinstance(r, outbox_module._Starting)]
            starts.extend(started)
            if started and len(starts) >= 2:
                time.sleep(0.05)  # the message's text reaches the server meanwhile
                raise OSError("disk I/O error")
            real(self, records)  # type: ignore[arg-type]

        monkeypatch.setattr(outbox_module._Run, "_write", disk_fails_on_second_start)
        with pytest.raises(OSError, match="disk I/O"):
            send(db, smtp, texts, clock, planned, connections=1)
        monkeypatch.undo()
        # The server had all of the second message but its end-of-data mark: it dropped it.
        assert [m.message_id for m in smtp.recorder.messages] == starts[:1]
        report = send(db, smtp, texts, clock, planned)
        # the first one's 'sent' record was in the failed commit: resent once, in doubt
        assert report.complete and report.in_doubt_resent
        customers = {t.customer for t in change_status(db, planned).targets}
        assert len({m.message_id for m in smtp.recorder.messages}) == len(customers)
        assert len(smtp.recorder.messages) == len(customers) + 1

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

    def it_refuses_a_second_sender_on_the_same_database(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        with outbox_module.sender_lock(db), pytest.raises(Exception, match="another"):
            send(db, smtp, texts, clock, planned)
        with db.transaction() as session:
            session.execute(update(OutboxRow).values(status="pending"))  # nothing was queued
        assert smtp.recorder.messages == []


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
        seen: list[outbox_module.SendProgress] = []
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
        assert report.connection_limit == 2 and smtp.recorder.refused_connections >= 2
        assert len(smtp.recorder.messages) == len(customers)
        assert len(smtp.recorder.peers) == 2
        with db.transaction() as session:
            attempts = session.execute(select(OutboxRow.attempts)).scalars().all()
        assert set(attempts) == {1}  # a refused connection costs no notice an attempt

    def it_records_what_was_delivered_when_the_settings_turn_out_wrong(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
        calls = {"n": 0}
        real = Wire.begin

        def refused_after_two(*args: object, **kwargs: object) -> None:
            calls["n"] += 1
            if calls["n"] > 2:
                raise outbox_module.Configuration("SMTP login refused (535 bad credentials)")
            real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Wire, "begin", refused_after_two)
        with pytest.raises(NoticeError, match="535"):
            send(db, smtp, texts, clock, planned, connections=1)
        monkeypatch.undo()
        assert len(smtp.recorder.messages) == 2
        report = send(db, smtp, texts, clock, planned, connections=2)
        assert report.complete and len(report.already_sent) == 2 and not report.in_doubt_resent
        assert len(smtp.recorder.messages) == len(change_status(db, planned).targets)
