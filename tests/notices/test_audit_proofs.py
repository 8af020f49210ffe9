"""The audit log proves the rest of the database, on SQLite and PostgreSQL: every notice
carries the log's head as a witness, a sent notice's stored text, HTML, letter source and
bytes are covered by its 'sent' record, and derived deadlines and statuses are recomputed."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from dpa_engine.audit.chain import records
from dpa_engine.audit.checkpoints import WITNESS_HEADER, verify_witness_file, witness_of
from dpa_engine.cli.app import app
from dpa_engine.library import Library
from dpa_engine.notices import NoticeTexts, export_checked, send_change, verify_audit
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database

from .conftest import LIBRARY, TEMPLATE, Clock, SmtpServer
from .helpers import ACTOR, drop_audit_guards, proposed_and_planned, register, rewrite_chain_from


def _sent(db: Database, library: Library, clock: Clock, smtp: SmtpServer,
          texts: NoticeTexts) -> int:
    register(db, library, clock)
    change_id = proposed_and_planned(db, clock).change.id
    report = send_change(db, change_id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                         clock=clock)
    assert report.complete and len(report.sent) > 1
    assert verify_audit(db).ok
    return change_id


def _cli(db: Database, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*args, "--db", db.url], env={
        "DPA_LIBRARY": str(LIBRARY), "DPA_TEMPLATE": str(TEMPLATE), "DPA_ACTOR": "cli-test"})
    return result.exit_code, result.output


def _first_notice(db: Database) -> tuple[int, str, str]:
    """(outbox id, message id, customer key) of the first stored notice."""
    with db.transaction() as session:
        row = session.execute(text(
            "SELECT o.id, o.message_id, c.key FROM outbox o "
            "JOIN change_targets t ON t.id = o.target_id JOIN customers c ON c.id = t.customer_id "
            "WHERE o.id = (SELECT MIN(outbox_id) FROM outbox_payloads)")).one()
    return int(row[0]), str(row[1]), str(row[2])


def _sent_seq(db: Database, message_id: str) -> int:
    with db.transaction() as session:
        [seq] = [r.seq for r in records(session)
                 if r.event == "sent" and r.data["message_id"] == message_id]
    return seq


class DescribeWitnessHeader:
    def it_lets_a_received_notice_prove_history_up_to_its_sending(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path) -> None:
        change_id = _sent(db, library, clock, smtp, texts)
        received = smtp.recorder.messages[0]
        eml = tmp_path / "received.eml"
        eml.write_bytes(received.raw)
        witness = witness_of(received.raw)
        with db.transaction() as session:
            log = records(session, change_id)
        [queued] = [r.seq for r in log if r.event == "queued"
                    and r.data["message_id"] == received.message_id]
        [sent] = [r.seq for r in log if r.event == "sent"
                  and r.data["message_id"] == received.message_id]
        # the head when its bytes were committed: after it was queued, before it was sent
        assert queued <= witness.seq < sent
        assert verify_witness_file(db, eml).ok
        code, output = _cli(db, "audit", "verify", "--witness", str(eml))
        assert code == 0, output
        # history before the witness is rewritten and the unkeyed chain recomputed
        drop_audit_guards(db)
        rewrite_chain_from(db, witness.seq - 1)
        assert verify_audit(db).ok  # the chain alone is fooled
        result = verify_witness_file(db, eml)
        assert not result.ok and f"record {witness.seq} " in (result.problem or "")
        code, output = _cli(db, "audit", "verify", "--witness", str(eml))
        assert code == 1 and "BROKEN" in output and f"record {witness.seq} " in output

    def it_is_in_every_notice_and_in_the_stored_bytes(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        _sent(db, library, clock, smtp, texts)
        with db.transaction() as session:
            stored = {row[0]: bytes(row[1]) for row in session.execute(text(
                "SELECT o.message_id, p.mime FROM outbox o "
                "JOIN outbox_payloads p ON p.outbox_id = o.id"))}
        for received in smtp.recorder.messages:
            header = received.raw.split(b"\r\n", 1)[0]
            assert header.startswith(f"{WITNESS_HEADER}: ".encode())
            assert stored[received.message_id].startswith(header + b"\r\n")


def _set_letter(db: Database, outbox_id: int, value: Any) -> None:
    """Store `value` (any JSON) as the notice's letter source, behind the product's back."""
    cast = "CAST(:v AS JSON)" if db.dialect == "postgresql" else ":v"
    with db.transaction() as session:
        session.execute(text(f"UPDATE outbox_payloads SET letter_source = {cast} "
                             "WHERE outbox_id = :i"), {"v": json.dumps(value), "i": outbox_id})


def _letter(db: Database, outbox_id: int) -> dict[str, Any]:
    with db.transaction() as session:
        value = session.execute(text("SELECT letter_source FROM outbox_payloads "
                                     "WHERE outbox_id = :i"), {"i": outbox_id}).scalar_one()
    result: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return result


class DescribeSentDigests:
    @pytest.mark.parametrize(("column", "label"), [
        ("body_text", "text"), ("body_html", "HTML"), ("letter_source", "letter source"),
        ("mime", "MIME bytes")])
    def it_names_the_notice_whose_stored_artefact_was_edited(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, column: str, label: str) -> None:
        change_id = _sent(db, library, clock, smtp, texts)
        outbox_id, message_id, customer = _first_notice(db)
        if column == "letter_source":
            letter = _letter(db, outbox_id)
            letter["customer_name"] = "Someone Else NV"
            _set_letter(db, outbox_id, letter)
        else:
            with db.transaction() as session:
                forged: object = b"forged" if column == "mime" else "We changed nothing."
                session.execute(text(f"UPDATE outbox_payloads SET {column} = :v "
                                     "WHERE outbox_id = :i"), {"v": forged, "i": outbox_id})
        result = verify_audit(db)
        assert not result.ok and result.first_bad_seq == _sent_seq(db, message_id)
        problem = result.problem or ""
        assert f"stored {label} " in problem and f"'{customer}'" in problem
        assert f"change {change_id}" in problem and "altered after sending" in problem
        assert len(result.problems) == 1

    def it_accepts_the_letter_source_as_stored(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        """Rewriting the same JSON (other key order, spacing) is no edit."""
        _sent(db, library, clock, smtp, texts)
        outbox_id, _, _ = _first_notice(db)
        _set_letter(db, outbox_id, dict(reversed(list(_letter(db, outbox_id).items()))))
        assert verify_audit(db).ok

    def it_reports_a_sent_record_without_each_digest(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        """Every 'sent' record covers the text, HTML, letter source and bytes: one that lost a
        digest (its chain rewritten to match) proves nothing about them."""
        _sent(db, library, clock, smtp, texts)
        _, message_id, _ = _first_notice(db)
        seq = _sent_seq(db, message_id)
        drop_audit_guards(db)
        with db.transaction() as session:
            data = json.loads(session.execute(text(
                "SELECT data FROM audit_events WHERE seq = :s"), {"s": seq}).scalar_one())
            del data["text_sha256"]
            session.execute(text("UPDATE audit_events SET data = :d WHERE seq = :s"),
                            {"d": json.dumps(data, sort_keys=True, separators=(",", ":")),
                             "s": seq})
        rewrite_chain_from(db, seq)
        result = verify_audit(db)
        assert not result.ok and result.first_bad_seq == seq
        assert result.problem == f"record {seq} (sent) does not hold a readable message digest"

    def it_refuses_an_evidence_pack_with_forged_text(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, renderer: DocxRenderer, tmp_path: Path) -> None:
        _sent(db, library, clock, smtp, texts)
        outbox_id, _, customer = _first_notice(db)
        with db.transaction() as session:
            session.execute(text("UPDATE outbox_payloads SET body_text = 'forged' "
                                 "WHERE outbox_id = :i"), {"i": outbox_id})
        pack, verification = export_checked(db, tmp_path / "evidence.zip", renderer=renderer)
        assert not verification.ok
        with zipfile.ZipFile(pack) as archive:
            assert json.loads(archive.read("audit-verification.json"))["ok"] is False
            assert b"BROKEN" in archive.read("README.txt")
        code, output = _cli(db, "audit", "export", "-o", str(tmp_path / "again.zip"))
        assert code == 1 and "BROKEN" in output and customer in output


class DescribeDerivedValues:
    def it_reports_each_edited_deadline_and_status(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        change_id = _sent(db, library, clock, smtp, texts)
        with db.transaction() as session:
            targets = session.execute(text(
                "SELECT t.id, c.key, t.deadline FROM change_targets t "
                "JOIN customers c ON c.id = t.customer_id WHERE t.deadline IS NOT NULL "
                "ORDER BY t.id")).all()
            first, second = targets[0], targets[1]
            session.execute(text("UPDATE change_targets SET deadline = :d WHERE id = :i"),
                            {"d": "2099-01-01 00:00:00", "i": first.id})
            session.execute(text("UPDATE outbox SET status = 'pending' WHERE target_id = :i"),
                            {"i": second.id})
        result = verify_audit(db)
        assert not result.ok
        assert len(result.problems) == 2, result.problems
        deadline = next(p for p in result.problems if "deadline" in p)
        assert f"change {change_id}, customer '{first.key}'" in deadline
        assert "2099-01-01 00:00:00 UTC" in deadline and "gives 20" in deadline
        status = next(p for p in result.problems if "status" in p)
        assert f"customer '{second.key}'" in status and "'pending'" in status
        assert "gives sent" in status
        code, output = _cli(db, "audit", "verify")
        lines = [line for line in output.splitlines() if line.startswith("BROKEN")]
        assert code == 1 and len(lines) == 2, output
        code, output = _cli(db, "audit", "verify", "--json")
        assert code == 1 and json.loads(output)["problems"] == result.problems

    def it_reports_an_edited_customer_status_and_notified_time(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        change_id = _sent(db, library, clock, smtp, texts)
        assert verify_audit(db).ok  # as sent: every customer notified when its record says
        with db.transaction() as session:
            first, second = session.execute(text(
                "SELECT t.id, c.key FROM change_targets t JOIN customers c "
                "ON c.id = t.customer_id ORDER BY t.id")).all()[:2]
            session.execute(text("UPDATE change_targets SET status = 'not-notified' "
                                 "WHERE id = :i"), {"i": first.id})
            session.execute(text("UPDATE change_targets SET notified_at = :at WHERE id = :i"),
                            {"at": "2026-01-01 08:00:00", "i": second.id})
        result = verify_audit(db)
        assert not result.ok and len(result.problems) == 2, result.problems
        status, notified = result.problems if "status" in result.problems[0] else \
            reversed(result.problems)
        assert status.startswith(f"change {change_id}, customer '{first.key}': status is "
                                 "'not-notified' but the audit log (record ")
        assert status.endswith("gives 'notified'")
        assert notified.startswith(f"change {change_id}, customer '{second.key}': notified at "
                                   "2026-01-01 08:00:00 UTC but the audit log (record ")

    def it_catches_a_failed_notice_marked_as_sent(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        register(db, library, clock)
        change_id = proposed_and_planned(db, clock).change.id
        refused = "privacy@bakkerijpeeters.example"
        smtp.recorder.refuse.add(refused)
        report = send_change(db, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)
        assert len(report.failed) == 1
        assert verify_audit(db).ok
        with db.transaction() as session:
            session.execute(text("UPDATE outbox SET status = 'sent' WHERE status = 'failed'"))
        result = verify_audit(db)
        assert not result.ok and "outbox status is 'sent'" in (result.problem or "")
        assert "gives failed" in (result.problem or "")


class DescribeChangedTypes:
    def it_reports_mime_that_became_text(self, db: Database, library: Library, clock: Clock,
                                         smtp: SmtpServer, texts: NoticeTexts) -> None:
        _sent(db, library, clock, smtp, texts)
        outbox_id, message_id, customer = _first_notice(db)
        with db.transaction() as session:
            if db.dialect == "sqlite":  # a column holds any type there
                session.execute(text("UPDATE outbox_payloads SET mime = 'now text' "
                                     "WHERE outbox_id = :i"), {"i": outbox_id})
                expected = "are no longer bytes (found text)"
            else:  # bytea stays bytes; the JSON letter source can become a bare string
                session.execute(text("UPDATE outbox_payloads SET letter_source = "
                                     "CAST('\"now text\"' AS JSON) WHERE outbox_id = :i"),
                                {"i": outbox_id})
                expected = "is no longer a JSON object (found text)"
        result = verify_audit(db)
        assert not result.ok and result.first_bad_seq == _sent_seq(db, message_id)
        assert expected in (result.problem or "") and customer in (result.problem or "")
        code, output = _cli(db, "audit", "verify")
        assert code == 1 and expected in output and "Traceback" not in output

    def it_reports_text_that_became_bytes_or_json_that_became_a_list(self, db: Database, library: Library,
                                             clock: Clock, smtp: SmtpServer,
                                             texts: NoticeTexts) -> None:
        _sent(db, library, clock, smtp, texts)
        outbox_id, _, _ = _first_notice(db)
        with db.transaction() as session:
            if db.dialect == "sqlite":
                session.execute(text("UPDATE outbox_payloads SET body_html = X'3432' "
                                     "WHERE outbox_id = :i"), {"i": outbox_id})
                expected = "HTML of the notice"
            else:
                session.execute(text("UPDATE outbox_payloads SET letter_source = "
                                     "CAST('[1, 2]' AS JSON) WHERE outbox_id = :i"),
                                {"i": outbox_id})
                expected = "is no longer a JSON object (found list)"
        result = verify_audit(db)
        assert not result.ok and expected in (result.problem or "")
        if db.dialect == "sqlite":
            assert "is no longer text (found bytes)" in (result.problem or "")

    def it_exports_a_log_whose_record_is_no_longer_json(
            self, db: Database, library: Library, clock: Clock, renderer: DocxRenderer,
            tmp_path: Path) -> None:
        register(db, library, clock)
        proposed_and_planned(db, clock)
        drop_audit_guards(db)
        with db.transaction() as session:
            session.execute(text("UPDATE audit_events SET data = '{not json' WHERE seq = 2"))
        pack, verification = export_checked(db, tmp_path / "evidence.zip", renderer=renderer)
        assert not verification.ok and verification.first_bad_seq == 2
        with zipfile.ZipFile(pack) as archive:
            lines = archive.read("audit-log.jsonl").decode().splitlines()
        assert json.loads(lines[1])["data"] == {"unreadable": "{not json"}
        code, output = _cli(db, "audit", "export", "-o", str(tmp_path / "again.zip"))
        assert code == 1 and "record 2" in output and "Traceback" not in output
