"""`dpa audit verify` after the workflow's own events: a withdrawal (before and after the
change went out, with notices cancelled and withdrawal notices sent) and a letter sent by
post. The deadlines and outbox statuses they set are recomputed from the log, so an edit of
either is reported; their free text is checked by the library itself."""

from __future__ import annotations

import datetime
import email
import zipfile
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from dpa_engine.audit.chain import records
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    change_status,
    dry_run,
    export_checked,
    import_deals,
    plan_change,
    record_letter_sent,
    send_change,
    verify_audit,
    withdraw_change,
)
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.storage.schema import CustomerRow, OutboxRow, TargetRow

from .conftest import EXAMPLES, Clock, SmtpServer
from .helpers import ACTOR, propose, proposed_and_planned, register, voicebot

BRUSSELS = ZoneInfo("Europe/Brussels")


def problems(db: Database) -> list[str]:
    result = verify_audit(db)
    return [] if result.ok else list(result.problems or [result.problem or "?"])


def seq_of(db: Database, change_id: int, event: str) -> int:
    with db.transaction() as session:
        [record] = [r for r in records(session, change_id) if r.event == event]
        return record.seq


def target_of(db: Database, change_id: int, customer: str) -> int:
    with db.transaction() as session:
        return session.execute(
            select(TargetRow.id).join(CustomerRow, TargetRow.customer_id == CustomerRow.id)
            .where(TargetRow.change_id == change_id, CustomerRow.key == customer)).scalar_one()


class DescribeWithdrawing:
    @pytest.mark.parametrize("planned", [False, True])
    def it_verifies_after_a_withdrawal_before_sending(
            self, db: Database, library: Library, clock: Clock, planned: bool) -> None:
        register(db, library, clock)
        change = propose(db, clock, voicebot())
        if planned:
            plan_change(db, change.id, actor=ACTOR, now=clock())
        withdraw_change(db, change.id, reason="wrong services", actor=ACTOR, now=clock())
        assert problems(db) == []

    def it_verifies_after_a_withdrawal_that_cancelled_unsent_notices(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        smtp.recorder.tempfail_data = 1  # one notice is deferred: still unsent when withdrawn
        report = send_change(db, plan.change.id, settings=smtp.settings(max_attempts=1),
                             texts=texts, actor=ACTOR, clock=clock)
        assert len(report.deferred) == 1 and report.sent
        assert problems(db) == []
        withdrawn_at = clock.advance(days=1)
        withdraw_change(db, plan.change.id, reason="another vendor", actor=ACTOR,
                        settings=smtp.settings(), now=withdrawn_at)
        with db.transaction() as session:
            statuses = set(session.execute(select(OutboxRow.status)
                                           .where(OutboxRow.purpose == "notice")).scalars())
            deadlines = set(session.execute(select(TargetRow.deadline)).scalars())
        assert "withdrawn" in statuses  # the deferred notice was cancelled
        assert deadlines - {None} == {withdrawn_at}  # every open window closed then
        assert problems(db) == []
        clock.advance(hours=1)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)  # the withdrawal notices
        assert problems(db) == []

    def it_reports_an_edited_withdrawal_status_and_a_reopened_window(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        withdrawn_at = clock.advance(days=1)
        withdraw_change(db, plan.change.id, reason="another vendor", actor=ACTOR,
                        settings=smtp.settings(), now=withdrawn_at)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        assert problems(db) == []
        target = target_of(db, plan.change.id, "groenveld-energie")
        with db.transaction() as session:
            session.execute(update(OutboxRow).where(OutboxRow.target_id == target,
                                                    OutboxRow.purpose == "withdrawal")
                            .values(status="pending"))
            session.execute(update(TargetRow).where(TargetRow.id == target).values(
                deadline=withdrawn_at + datetime.timedelta(days=10)))
        found = problems(db)
        where = f"change {plan.change.id}, customer 'groenveld-energie'"
        withdrawn_seq = seq_of(db, plan.change.id, "withdrawn")
        assert any(p.startswith(f"{where}: withdrawal notice: outbox status is 'pending'")
                   and "gives sent" in p for p in found), found
        assert any(p.startswith(f"{where}: deadline is ")
                   and f"(record {withdrawn_seq})" in p for p in found), found
        assert len(found) == 2


class DescribeWithdrawalNoticesAsEvidence:
    def it_tries_them_dry_and_packs_them_next_to_the_notices(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, renderer: DocxRenderer, tmp_path: Path) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        notified = {e.customer for e in plan.affected}
        withdraw_change(db, plan.change.id, reason="another vendor", actor=ACTOR,
                        settings=smtp.settings(), now=clock.advance(days=1))
        written = dry_run(db, plan.change.id, tmp_path / "dry", settings=smtp.settings(),
                          texts=texts, clock=clock)
        assert {p.stem for p in written} == notified
        tried = email.message_from_bytes(written[0].read_bytes(), policy=default_policy)
        assert str(tried["Message-ID"]).startswith("<dpa-withdrawal.")
        assert len(smtp.recorder.messages) == len(notified)  # the dry run sent nothing
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        pack, verification = export_checked(db, tmp_path / "pack.zip", renderer=renderer)
        assert verification.ok
        names = set(zipfile.ZipFile(pack).namelist())
        folder = f"changes/change-{plan.change.id}"
        for customer in notified:
            assert f"{folder}/notices/{customer}.eml" in names
            assert f"{folder}/withdrawal-notices/{customer}.eml" in names
            assert f"{folder}/withdrawal-notices/{customer}.docx" in names


class DescribeALetterSentByPost:
    @pytest.fixture
    def lettered(self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
                 texts: NoticeTexts) -> int:
        """A change that reached bakkerij-peeters by post only (its window runs from then)."""
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        smtp.recorder.refuse = {"privacy@bakkerijpeeters.example"}
        send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        clock.advance(days=2)
        record_letter_sent(db, plan.change.id, "bakkerij-peeters",
                           sent_at=datetime.datetime(2026, 3, 27, 9, 30, tzinfo=BRUSSELS),
                           actor=ACTOR, now=clock())
        return plan.change.id

    def it_verifies_the_deadline_counted_from_the_letter(self, db: Database,
                                                         lettered: int) -> None:
        target = {t.customer: t for t in change_status(db, lettered).targets}["bakkerij-peeters"]
        assert target.deadline == datetime.datetime(2026, 4, 3, 22, 0, tzinfo=datetime.UTC)
        assert problems(db) == []

    def it_reports_a_deadline_edited_after_the_letter(self, db: Database,
                                                      lettered: int) -> None:
        with db.transaction() as session:
            session.execute(update(TargetRow).where(
                TargetRow.id == target_of(db, lettered, "bakkerij-peeters")).values(
                deadline=datetime.datetime(2026, 4, 10, 22, 0, tzinfo=datetime.UTC)))
        letter = seq_of(db, lettered, "letter-sent")
        assert problems(db) == [
            f"change {lettered}, customer 'bakkerij-peeters': deadline is 2026-04-10 22:00:00 "
            f"UTC but the audit log (record {letter}) gives 2026-04-03 22:00:00 UTC"]


class DescribeTextTheLibraryRefuses:
    def it_refuses_a_withdrawal_reason_no_document_can_hold(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        change = propose(db, clock, voicebot())
        with pytest.raises(NoticeError, match=r"withdrawal reason: .*U\+0000 \(NUL\)"):
            withdraw_change(db, change.id, reason="wrong\x00services", actor=ACTOR,
                            now=clock())
        with pytest.raises(NoticeError, match=r"actor: .*U\+001B \(ESC\)"):
            withdraw_change(db, change.id, reason="wrong", actor="x\x1b", now=clock())
        assert change_status(db, change.id).change.status == "proposed"

    def it_refuses_letter_sent_inputs_no_document_can_hold(
            self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        sent_at = datetime.datetime(2026, 3, 25, 9, 30, tzinfo=BRUSSELS)
        with pytest.raises(NoticeError, match=r"customer: .*U\+0007 \(BEL\)"):
            record_letter_sent(db, plan.change.id, "bakkerij\x07", sent_at=sent_at,
                               actor=ACTOR, now=clock())
        with pytest.raises(NoticeError, match=r"actor: .*U\+0000 \(NUL\)"):
            record_letter_sent(db, plan.change.id, "bakkerij-peeters", sent_at=sent_at,
                               actor="a\x00", now=clock())

    def it_refuses_an_import_actor_no_document_can_hold(
            self, db: Database, library: Library, clock: Clock) -> None:
        with pytest.raises(NoticeError, match=r"actor: .*U\+0000 \(NUL\)"):
            import_deals(db, [EXAMPLES], library, actor="clerk\x00", now=clock())
        with db.transaction() as session:
            assert session.execute(select(CustomerRow.id)).first() is None
