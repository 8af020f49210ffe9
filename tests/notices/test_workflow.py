"""End to end, on SQLite and PostgreSQL: the examples' customers through one change."""

from __future__ import annotations

import datetime
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from dpa_engine.audit.chain import records
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeError,
    NoticeTexts,
    change_status,
    close_change,
    export_evidence,
    list_customers,
    record_objection,
    send_change,
    subprocessor_list,
    verify_audit,
    write_feed,
)
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.storage.schema import AuditEventRow

from .conftest import BRUSSELS_TZ, Clock, SmtpServer
from .helpers import ACTOR, proposed_and_planned, register

UTC = datetime.UTC


def brussels(*args: int) -> datetime.datetime:
    from zoneinfo import ZoneInfo

    return datetime.datetime(*args, tzinfo=ZoneInfo(BRUSSELS_TZ))


def audit_count(db: Database) -> int:
    with db.transaction() as session:
        return int(session.execute(select(func.count()).select_from(AuditEventRow)).scalar_one())


class DescribeRegister:
    def it_keeps_each_customers_signed_terms(self, db: Database, library: Library,
                                             clock: Clock) -> None:
        register(db, library, clock)
        customers = {c.key: c for c in list_customers(db)}
        assert {"bakkerij-peeters", "groenveld-energie", "medcare-clinics",
                "hopital-saint-lambert"} <= set(customers)
        assert customers["hopital-saint-lambert"].authorisation == "specific"
        groenveld = customers["groenveld-energie"]
        assert (groenveld.window_days, groenveld.agreement_version, groenveld.language) == (14, 2, "nl")
        assert groenveld.notice_emails == ["privacy@groenveld.example", "legal@groenveld.example"]
        assert customers["medcare-clinics"].services == ["appointment-desk", "speech-analytics"]

    def it_is_idempotent_and_refuses_changed_terms_under_the_same_version(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        from .conftest import write_deal

        deal = write_deal(tmp_path, 1)
        register(db, library, clock, deal)
        before = audit_count(db)
        register(db, library, clock, deal)
        assert audit_count(db) == before
        write_deal(tmp_path, 1, deviations={"objection_window_days": 10})
        with pytest.raises(Exception, match="already registered with other terms"):
            register(db, library, clock, deal)
        write_deal(tmp_path, 1, deviations={"objection_window_days": 10}, version=2)
        register(db, library, clock, tmp_path / "deal-test-001.yaml")
        assert list_customers(db)[0].window_days == 10


class DescribeEndToEnd:
    def it_notifies_objects_and_closes(self, db: Database, library: Library, clock: Clock,
                                       smtp: SmtpServer, texts: NoticeTexts,
                                       renderer: DocxRenderer, tmp_path: Path) -> None:
        register(db, library, clock)
        plan = proposed_and_planned(db, clock)
        change_id = plan.change.id
        kinds = {e.customer: e.kind for e in plan.affected}
        assert kinds["hopital-saint-lambert"] == "consent"
        assert {kinds[k] for k in kinds if k != "hopital-saint-lambert"} == {"objection"}
        assert {"bakkerij-peeters", "groenveld-energie", "medcare-clinics"} <= set(kinds)
        medcare = next(e for e in plan.affected if e.customer == "medcare-clinics")
        assert [(r.service, r.role) for r in medcare.reasons] == [("speech-analytics", "new")]

        report = send_change(db, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)
        assert report.complete and sorted(report.sent) == sorted(kinds)

        # Exactly one message per customer, in its language, to all its notice addresses.
        received = smtp.recorder.messages
        assert len(received) == len(kinds) == len({m.message_id for m in received})
        by_to = {tuple(m.recipients): m for m in received}
        groenveld = by_to[("privacy@groenveld.example", "legal@groenveld.example")]
        assert groenveld.message["Content-Language"] == "nl"
        assert "bezwaar mogelijk tot 8 april 2026" in groenveld.message["Subject"]
        medcare_mail = by_to[("dpo@medcare.example",)]
        assert "objections possible until 1 April 2026" in medcare_mail.message["Subject"]
        body = medcare_mail.message.get_body(("plain",)).get_content()
        assert "by 1 April 2026 at 23:59 (Belgian time)" in body

        # Deadlines from each agreement's own window, across the DST change of 29 March.
        status = {t.customer: t for t in change_status(db, change_id).targets}
        assert status["bakkerij-peeters"].deadline == brussels(2026, 4, 2, 0, 0)
        assert status["groenveld-energie"].deadline == brussels(2026, 4, 9, 0, 0)
        assert status["bakkerij-peeters"].message_id == by_to[
            ("privacy@bakkerijpeeters.example",)].message_id

        # A rerun sends nothing more.
        with pytest.raises(NoticeError, match="already sent"):
            send_change(db, change_id, settings=smtp.settings(), texts=texts,
                        actor=ACTOR, clock=clock)
        assert len(smtp.recorder.messages) == len(kinds)

        record_objection(db, change_id, "groenveld-energie", received_at=brussels(2026, 4, 8, 23, 59),
                         text="Wij maken bezwaar.", actor=ACTOR, now=brussels(2026, 4, 9, 9, 0))
        late = record_objection(db, change_id, "medcare-clinics",
                                received_at=brussels(2026, 4, 2, 0, 0), text="We object.",
                                actor=ACTOR, now=brussels(2026, 4, 3, 9, 0))
        assert late.late

        # Deemed approval only after the deadline: closing early writes nothing.
        before = audit_count(db)
        with pytest.raises(NoticeError, match="still open until 2026-04-08 23:59"):
            close_change(db, change_id, actor=ACTOR, now=brussels(2026, 4, 8, 23, 59))
        assert audit_count(db) == before

        closed = close_change(db, change_id, actor=ACTOR, now=brussels(2026, 4, 9, 0, 0))
        assert closed.outcomes["bakkerij-peeters"] == "deemed-approved"
        assert closed.outcomes["groenveld-energie"] == "objected"
        assert closed.outcomes["medcare-clinics"] == "deemed-approved"
        # Under specific authorisation silence is not consent.
        assert closed.outcomes["hopital-saint-lambert"] == "no-consent"
        assert "silence is not consent" in closed.follow_ups["hopital-saint-lambert"]
        assert "terminate the affected service" in closed.follow_ups["groenveld-energie"]
        assert "after the deadline" in closed.follow_ups["medcare-clinics"]

        # The objection blocks the new sub-processor for that customer's data only.
        blocked = subprocessor_list(db, texts, customer_ref="groenveld-energie")
        assert blocked.language == "nl"
        assert {r.id: r.status for r in blocked.rows}["voicebot"] == "blocked"
        approved = subprocessor_list(db, texts, customer_ref="bakkerij-peeters")
        assert {r.id: r.status for r in approved.rows}["voicebot"] == "engaged"

        events = [r.event for r in _records(db)]
        for event in ("proposed", "planned", "queued", "sent", "objected", "deemed-approved",
                      "objected", "closed", "list-published"):
            assert event in events
        assert verify_audit(db).ok

        # The published list: two versions, the second adds voicebot.
        json_path, atom_path = write_feed(db, tmp_path / "feed")
        feed = json.loads(json_path.read_text())
        assert feed["current_version"] == 2
        assert feed["versions"][0]["diff"] == {"added": ["voicebot"], "removed": [], "changed": []}
        atom = ET.parse(atom_path).getroot()
        assert len(atom.findall("{http://www.w3.org/2005/Atom}entry")) == 2

        # The evidence pack holds the log, the lists and every notice as sent.
        pack = export_evidence(db, tmp_path / "evidence.zip", renderer=renderer)
        with zipfile.ZipFile(pack) as archive:
            names = set(archive.namelist())
            assert f"changes/change-{change_id}/notices/groenveld-energie.eml" in names
            assert f"changes/change-{change_id}/notices/medcare-clinics.docx" in names
            assert json.loads(archive.read("audit-verification.json"))["ok"] is True
            sent = archive.read(f"changes/change-{change_id}/notices/medcare-clinics.eml")
            assert medcare_mail.message_id.encode() in sent
            lines = archive.read("audit-log.jsonl").decode().splitlines()
            assert len(lines) == verify_audit(db).records
            letter = archive.read(f"changes/change-{change_id}/notices/medcare-clinics.docx")
        from docx import Document

        letter_text = "\n".join(p.text for p in Document(io.BytesIO(letter)).paragraphs)
        assert "Sub-processor notice" in letter_text and "1 April 2026" in letter_text


def _records(db: Database) -> list:  # type: ignore[type-arg]
    with db.transaction() as session:
        return records(session)


class DescribeAuditLog:
    def it_detects_an_edited_record(self, db: Database, library: Library, clock: Clock) -> None:
        register(db, library, clock)
        proposed_and_planned(db, clock)
        assert verify_audit(db).ok
        drop = ("DROP TRIGGER audit_events_no_update" if db.dialect == "sqlite"
                else "DROP TRIGGER audit_events_no_change ON audit_events")
        with db.transaction() as session:
            session.execute(text(drop))
            session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
        result = verify_audit(db)
        assert not result.ok and result.first_bad_seq == 3
        assert "altered" in (result.problem or "")

    def it_detects_a_notice_altered_after_sending(self, db: Database, library: Library,
                                                  clock: Clock, smtp: SmtpServer,
                                                  texts: NoticeTexts) -> None:
        register(db, library, clock)
        change_id = proposed_and_planned(db, clock).change.id
        report = send_change(db, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)
        result = verify_audit(db)
        assert result.ok and result.notices_checked == len(report.sent) > 1
        with db.transaction() as session:  # the stored bytes are edited, the log is not
            session.execute(text(
                "UPDATE outbox_payloads SET mime = :forged WHERE outbox_id = "
                "(SELECT MIN(outbox_id) FROM outbox_payloads)"), {"forged": b"forged"})
            message_id = session.execute(text(
                "SELECT message_id FROM outbox WHERE id = "
                "(SELECT MIN(outbox_id) FROM outbox_payloads)")).scalar_one()
            sent_seq = [r.seq for r in records(session)
                        if r.event == "sent" and r.data["message_id"] == message_id]
        result = verify_audit(db)
        assert not result.ok and result.first_bad_seq == sent_seq[0]
        assert message_id in (result.problem or "") and "altered" in (result.problem or "")

    def it_is_append_only_in_the_database(self, db: Database, library: Library,
                                          clock: Clock) -> None:
        register(db, library, clock)
        with pytest.raises(Exception, match="append-only"), db.transaction() as session:
            session.execute(text("DELETE FROM audit_events WHERE seq = 1"))
        assert verify_audit(db).ok
