"""`dpa change send` when no SMTP server listens (one line, at once, nothing lost) and with
--dry-run (the messages as .eml files, nothing recorded), on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from dpa_engine.audit.checkpoints import WITNESS_HEADER, verify_witness_file
from dpa_engine.cli.app import app
from dpa_engine.library import Library
from dpa_engine.notices import (
    NoticeTexts,
    SmtpSettings,
    SmtpUnreachable,
    change_status,
    dry_run,
    send_change,
    verify_audit,
)
from dpa_engine.storage import Database

from .conftest import LIBRARY, TEMPLATE, Clock, SmtpServer, free_port
from .helpers import ACTOR, proposed_and_planned, register


def _cli(db: Database, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--db", db.url], env={
        "DPA_LIBRARY": str(LIBRARY), "DPA_TEMPLATE": str(TEMPLATE), "DPA_ACTOR": "cli-test",
        "DPA_SMTP_FROM": "notices@voxalis.example"})
    return result.exit_code, result.stdout, result.stderr


def _state(db: Database) -> list[tuple[object, ...]]:
    """Everything a send run writes: the outbox, the targets, the audit log's length."""
    with db.transaction() as session:
        outbox = session.execute(text(
            "SELECT message_id, status, attempts, phase FROM outbox ORDER BY id")).all()
        targets = session.execute(text(
            "SELECT id, status, deadline, stated_deadline FROM change_targets ORDER BY id")).all()
        events = session.execute(text("SELECT COUNT(*), MAX(seq) FROM audit_events")).one()
        payloads = session.execute(text("SELECT COUNT(*) FROM outbox_payloads")).scalar_one()
    return [*map(tuple, outbox), *map(tuple, targets), tuple(events), (payloads,)]


@pytest.fixture
def planned(db: Database, library: Library, clock: Clock) -> int:
    register(db, library, clock)
    return proposed_and_planned(db, clock).change.id


class DescribeNoServer:
    def it_stops_after_the_first_attempt_and_keeps_every_notice(
            self, db: Database, planned: int, texts: NoticeTexts, clock: Clock) -> None:
        port = free_port()  # nothing listens there
        waits: list[float] = []
        settings = SmtpSettings(host="127.0.0.1", port=port, from_address="n@voxalis.example",
                                max_attempts=5, backoff_seconds=30.0)
        with pytest.raises(SmtpUnreachable) as caught:
            send_change(db, planned, settings=settings, texts=texts, actor=ACTOR, clock=clock,
                        sleep=waits.append, stop_if_unreachable=True)
        assert waits == []  # no backoff at all
        message = caught.value.message
        assert f"127.0.0.1:{port}" in message and "--smtp-host" in message
        assert "DPA_SMTP_HOST" in message and "--smtp-port" in message
        assert "stay queued" in message and "\n" not in message
        with db.transaction() as session:
            rows = session.execute(text("SELECT status, attempts FROM outbox")).all()
            leases = session.execute(text("SELECT COUNT(*) FROM send_leases")).scalar_one()
        assert rows and all(tuple(r) == ("pending", 0) for r in rows)
        assert leases == 0
        assert verify_audit(db).ok

    def it_tells_the_command_line_user_which_options_to_set(
            self, db: Database, planned: int, smtp: SmtpServer) -> None:
        port = free_port()
        code, stdout, stderr = _cli(db, "change", "send", str(planned), "--smtp-host",
                                    "127.0.0.1", "--smtp-port", str(port))
        assert code == 1, stdout + stderr
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: SMTP server: cannot connect to "
                                                       f"127.0.0.1:{port}"), stderr
        assert "--smtp-host / DPA_SMTP_HOST" in lines[0] and "DPA_SMTP_PORT" in lines[0]
        assert "Traceback" not in stdout + stderr
        # nothing was lost: the server comes up and the rerun sends every notice once
        code, stdout, stderr = _cli(db, "change", "send", str(planned), "--smtp-host",
                                    "127.0.0.1", "--smtp-port", str(smtp.port))
        assert code == 0, stdout + stderr
        targets = change_status(db, planned).targets
        assert len(smtp.recorder.messages) == len(targets)
        assert all(t.status == "notified" for t in targets)

    def it_keeps_backing_off_after_a_connection_succeeded(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock) -> None:
        smtp.recorder.tempfail_data = 1  # one 451 after the server was reached
        report = send_change(db, planned, settings=smtp.settings(), texts=texts, actor=ACTOR,
                             clock=clock, stop_if_unreachable=True)
        assert report.complete and not report.deferred
        with db.transaction() as session:
            retried = session.execute(text(
                "SELECT COUNT(*) FROM audit_events WHERE event = 'send-failed'")).scalar_one()
        assert retried == 1


class DescribeDryRun:
    @pytest.mark.parametrize("queued_first", [False, True])
    def it_writes_each_message_and_records_nothing(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, tmp_path: Path, queued_first: bool) -> None:
        if queued_first:  # a run that could not connect queued the notices already
            with pytest.raises(SmtpUnreachable):
                send_change(db, planned, settings=smtp.settings(port=free_port()),
                            texts=texts, actor=ACTOR, clock=clock, stop_if_unreachable=True)
        before = _state(db)
        folder = tmp_path / "would-send"
        code, stdout, stderr = _cli(db, "change", "send", str(planned), "--dry-run",
                                    "--output-dir", str(folder))
        assert code == 0, stdout + stderr
        assert _state(db) == before  # no outbox entry, target or audit record touched
        assert smtp.recorder.messages == []
        targets = {t.customer: t for t in change_status(db, planned).targets} if queued_first \
            else None
        files = sorted(folder.glob("*.eml"))
        assert {f.stem for f in files} >= {"bakkerij-peeters", "librairie-dumont"}
        languages = {}
        for path in files:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert message["Message-ID"] and message[WITNESS_HEADER]
            assert message["X-DPA-Customer"] == path.stem
            languages[path.stem] = str(message["Content-Language"])
            recipients = [a.addr_spec for a in message["To"].addresses]
            if targets is not None:
                assert recipients == targets[path.stem].recipients
            assert verify_witness_file(db, path).ok
        assert languages["bakkerij-peeters"] == "nl" and languages["librairie-dumont"] == "fr"
        peeters = email.message_from_bytes((folder / "bakkerij-peeters.eml").read_bytes(),
                                           policy=email.policy.default)
        assert [a.addr_spec for a in peeters["To"].addresses] == \
            ["privacy@bakkerijpeeters.example"]
        body = peeters.get_body(("plain",))
        assert body is not None  # written as it would be sent: greeting by name, its zone
        assert "Geachte An Peeters," in body.get_content()
        assert "(Belgische tijd)" in body.get_content()

    def it_needs_an_output_folder_and_something_to_send(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, tmp_path: Path) -> None:
        code, _, stderr = _cli(db, "change", "send", str(planned), "--dry-run")
        assert code == 2 and "--output-dir" in stderr and len(stderr.strip().splitlines()) == 1
        code, _, stderr = _cli(db, "change", "send", str(planned), "--output-dir",
                               str(tmp_path / "x"))
        assert code == 2 and "--dry-run" in stderr
        send_change(db, planned, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        code, _, stderr = _cli(db, "change", "send", str(planned), "--dry-run",
                               "--output-dir", str(tmp_path / "x"))
        assert code == 2 and "already sent" in stderr
        assert not (tmp_path / "x").exists()

    def it_writes_a_message_already_rendered_today_as_stored(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, tmp_path: Path) -> None:
        smtp.recorder.tempfail_data = 1  # the first message is refused for now (451)
        report = send_change(db, planned, settings=smtp.settings(max_attempts=1, connections=1),
                             texts=texts, actor=ACTOR, clock=clock)
        [deferred] = report.deferred
        with db.transaction() as session:
            stored = bytes(session.execute(text(
                "SELECT p.mime FROM outbox_payloads p JOIN outbox o ON o.id = p.outbox_id "
                "WHERE o.status = 'deferred'")).scalar_one())
        before = _state(db)
        clock.advance(hours=1)  # the same Brussels day: the run would send these bytes
        folder = tmp_path / "rest"
        written = dry_run(db, planned, folder, settings=smtp.settings(), texts=texts,
                          clock=clock)
        assert written == [folder / f"{deferred.customer}.eml"]
        assert written[0].read_bytes() == stored
        assert _state(db) == before
        clock.advance(days=1)  # another day: rendered again, with today's deadline
        assert dry_run(db, planned, folder, settings=smtp.settings(), texts=texts,
                       clock=clock)[0].read_bytes() != stored
