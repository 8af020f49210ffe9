"""Notices are rendered when their SMTP transaction starts: queueing records the plan only,
each notice's bytes are stored in the commit of its start, and what was never started has no
bytes on record, yet its letter can still be written."""

from __future__ import annotations

import datetime
import email
import email.policy
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import selectinload

from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeTexts,
    change_status,
    export_evidence,
    letters,
    send_change,
)
from dpa_engine.notices.errors import NoticeError
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxRow, TargetRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, accept_updates, proposed_and_planned, refuse_updates, register


@pytest.fixture
def planned(db: Database, library: Library, clock: Clock) -> int:
    register(db, library, clock)
    return proposed_and_planned(db, clock).change.id


def outbox(db: Database, change_id: int) -> dict[str, OutboxRow]:
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxRow).join(TargetRow).where(TargetRow.change_id == change_id)
            .options(selectinload(OutboxRow.payload),
                     selectinload(OutboxRow.target).selectinload(TargetRow.customer))
        ).scalars().all()
        session.expunge_all()
    return {row.target.customer.key: row for row in rows}


def stopped_after(sent: int, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
                  clock: Clock) -> None:
    """A run that sends `sent` notices, then finds its sender address refused and stops."""
    smtp.recorder.refuse_sender_after = sent
    with pytest.raises(NoticeError, match="refused the sender"):
        send_change(db, planned, settings=smtp.settings(connections=1), texts=texts,
                    actor=ACTOR, clock=clock, sleep=lambda _: None)
    smtp.recorder.refuse_sender_after = None


class DescribeRenderingWhenSent:
    def it_stores_the_bytes_of_each_sent_notice_and_none_for_the_others(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        stopped_after(2, db, planned, smtp, texts, clock)
        rows = outbox(db, planned)
        assert len(rows) >= 4 and len(smtp.recorder.messages) == 2
        received = {m.message_id: m for m in smtp.recorder.messages}
        for row in rows.values():
            if row.message_id in received:  # sent: what the server got is on record
                assert row.status == "sent" and row.payload is not None
                assert row.subject == received[row.message_id].message["Subject"]
                stored = row.payload.mime.decode()
                assert received[row.message_id].message["Message-ID"] in stored
        # the notice started when the sender was refused keeps its rendering (it is sent as
        # rendered on the same day); the ones never reached are queued without one
        never = [row for row in rows.values() if row.payload is None]
        assert len(never) == len(rows) - 3
        assert all(row.status == "pending" and row.subject is None and row.rendered_for is None
                   for row in never)

    def it_writes_the_letter_of_a_notice_never_sent_as_it_will_be_sent(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, renderer: DocxRenderer, tmp_path: Path) -> None:
        stopped_after(0, db, planned, smtp, texts, clock)
        before = letters(db, planned, tmp_path / "before", renderer=renderer, texts=texts,
                         settings=smtp.settings(), only_unnotified=True, clock=clock)
        assert len(before) == len(change_status(db, planned).targets)
        send_change(db, planned, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        after = letters(db, planned, tmp_path / "after", renderer=renderer, texts=texts)
        # rendered at the same moment, the letter written beforehand is the one kept after
        assert [p.name for p in before] == [p.name for p in after]
        for one, other in zip(before, after, strict=True):
            assert one.read_bytes() == other.read_bytes()

    def it_leaves_notices_never_sent_out_of_the_evidence_pack(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, renderer: DocxRenderer, tmp_path: Path) -> None:
        stopped_after(1, db, planned, smtp, texts, clock)
        rows = outbox(db, planned)
        pack = export_evidence(db, tmp_path / "evidence.zip", renderer=renderer,
                               change_id=planned)
        with zipfile.ZipFile(pack) as archive:
            emails = {Path(n).stem for n in archive.namelist() if n.endswith(".eml")}
        assert emails == {key for key, row in rows.items() if row.payload is not None}
        assert 1 <= len(emails) < len(rows)

    @pytest.mark.parametrize("connections", [1, 3])
    def it_stores_exactly_what_each_server_got(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, connections: int) -> None:
        report = send_change(db, planned, settings=smtp.settings(connections=connections),
                             texts=texts, actor=ACTOR, clock=clock)
        assert report.complete
        rows = {row.message_id: row for row in outbox(db, planned).values()}
        assert len(smtp.recorder.messages) == len(rows)
        for mail in smtp.recorder.messages:  # rendered ahead or at the start: stored as sent
            payload = rows[mail.message_id].payload
            assert payload is not None
            stored = email.message_from_bytes(payload.mime, policy=email.policy.default)
            assert isinstance(stored, EmailMessage)
            for header in ("Subject", "Date", "To", "Message-ID"):
                assert stored[header] == mail.message[header]
            sent_body, stored_body = mail.message.get_body(("plain",)), stored.get_body(("plain",))
            assert sent_body is not None and stored_body is not None
            assert stored_body.get_content() == sent_body.get_content()
            as_sent = stored_body.get_content().replace("\r\n", "\n")
            assert as_sent.rstrip() == payload.body_text.replace("\r\n", "\n").rstrip()

    def it_records_no_start_without_its_bytes(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        # the database refuses to store the third notice's bytes: its start is refused with
        # them, and the server never gets it
        refuse_updates(db, "NEW.status = 'sending' AND (SELECT COUNT(*) FROM outbox "
                           "WHERE status IN ('sending', 'sent')) >= 2")
        with pytest.raises(DBAPIError, match="disk full"):
            send_change(db, planned, settings=smtp.settings(connections=1), texts=texts,
                        actor=ACTOR, clock=clock, sleep=lambda _: None)
        accept_updates(db)
        assert len(smtp.recorder.messages) == 2
        for row in outbox(db, planned).values():  # a start on record has its bytes on record
            if row.phase == "data" or row.status == "sent":
                assert row.payload is not None and row.rendered_for is not None
            else:
                assert row.payload is None and row.status == "pending"
        report = send_change(db, planned, settings=smtp.settings(), texts=texts, actor=ACTOR,
                             clock=clock)
        assert report.complete and not report.in_doubt_resent
        assert sorted(m.message_id for m in smtp.recorder.messages) == sorted(
            row.message_id for row in outbox(db, planned).values())

    def it_renders_again_a_notice_started_before_midnight_and_sent_after(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        # 23:59:59 in Brussels: the first run is refused after one notice; the rerun comes
        # the next day and renders the others (never sent) for that day, with its deadline
        clock.moment = datetime.datetime(2026, 3, 25, 22, 59, 59, tzinfo=datetime.UTC)
        stopped_after(1, db, planned, smtp, texts, clock)
        clock.advance(seconds=2)
        report = send_change(db, planned, settings=smtp.settings(connections=1), texts=texts,
                             actor=ACTOR, clock=clock)
        assert report.complete
        rows = {row.message_id: row for row in outbox(db, planned).values()}
        days = sorted(row.rendered_for for row in rows.values() if row.rendered_for)
        assert days[0] == datetime.date(2026, 3, 25) and days[-1] == datetime.date(2026, 3, 26)
        assert days.count(datetime.date(2026, 3, 25)) == 1
        assert len(smtp.recorder.messages) == len(rows)
        for mail in smtp.recorder.messages:  # what went out is what is on record
            payload = rows[mail.message_id].payload
            assert payload is not None
            stored = email.message_from_bytes(payload.mime, policy=email.policy.default)
            assert stored["Date"] == mail.message["Date"]
            assert stored["Subject"] == mail.message["Subject"]
