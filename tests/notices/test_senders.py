"""Who may send: a lease in the database itself. However the database is named (symlink,
hard link, relative or absolute path), SQLite has one sender at a time; on PostgreSQL several
`dpa change send` processes share a change's notices, and each notice still goes out once,
even when one of them is killed with kill -9."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dpa_engine.errors import DpaError
from dpa_engine.library import Library
from dpa_engine.notices import NoticeTexts, change_status, send_change, verify_audit
from dpa_engine.notices.delivery import SenderLease
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxRow, SendLeaseRow

from .conftest import LIBRARY, Clock, SmtpServer, write_deal
from .helpers import ACTOR, proposed_and_planned, register

CUSTOMERS = 20


def sender(db: str, change_id: int, smtp: SmtpServer, *, connections: int = 2,
           cwd: Path | None = None) -> subprocess.Popen[str]:
    dpa = Path(sys.executable).parent / "dpa"
    command = [str(dpa), "change", "send", str(change_id), "--db", db,
               "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp.port),
               "--smtp-from", "notices@voxalis.example", "--library", str(LIBRARY),
               "--actor", "sender-test", "--connections", str(connections)]
    env = {**os.environ, "DPA_SMTP_BACKOFF": "0"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd)


def planned_change(db: Database, library: Library, clock: Clock, folder: Path) -> int:
    deals = [write_deal(folder, i) for i in range(1, CUSTOMERS + 1)]
    register(db, library, clock, *deals)
    return proposed_and_planned(db, clock).change.id


def names(folder: Path) -> dict[str, Callable[[], str]]:
    """Ways of naming folder/dpa.db, each made on demand."""
    def symlink() -> str:
        (folder / "link.db").symlink_to(folder / "dpa.db")
        return f"sqlite:///{folder / 'link.db'}"

    def hard_link() -> str:
        os.link(folder / "dpa.db", folder / "hard.db")
        return f"sqlite:///{folder / 'hard.db'}"

    def relative() -> str:
        return f"sqlite:///{os.path.relpath(folder / 'dpa.db')}"

    def dotted() -> str:
        return f"sqlite:///{folder}/./sub/../dpa.db"

    (folder / "sub").mkdir(exist_ok=True)
    return {"symlink": symlink, "hard link": hard_link, "relative path": relative,
            "dotted path": dotted}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Database:
    from dpa_engine.storage import open_database

    return open_database(f"sqlite:///{tmp_path / 'dpa.db'}")


class DescribeOneSenderOnSqlite:
    @pytest.mark.parametrize("naming", ["symlink", "hard link", "relative path", "dotted path"])
    def it_refuses_a_second_sender_however_the_file_is_named(
            self, sqlite_db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path, naming: str) -> None:
        change_id = planned_change(sqlite_db, library, clock, tmp_path)
        other = Database(names(tmp_path)[naming]())
        running = SenderLease(sqlite_db, exclusive=True)
        running.acquire()
        # (through a hard link SQLite itself refuses: the WAL file goes by the file's name)
        refusal = "disk I/O error" if naming == "hard link" else \
            "another 'dpa change send' is running"
        try:
            with pytest.raises(DpaError, match=refusal):
                send_change(other, change_id, settings=smtp.settings(), texts=texts,
                            actor=ACTOR, clock=clock)
        finally:
            running.release()
        assert smtp.recorder.messages == []
        sqlite_db.dispose()
        report = send_change(other, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)  # once it has finished
        assert report.complete and len(smtp.recorder.messages) == CUSTOMERS
        other.dispose()

    def it_lets_two_processes_through_a_symlink_send_each_notice_once(
            self, sqlite_db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            tmp_path: Path) -> None:
        # issue 17: `--db a.db` and `--db link.db` both sent, 22 messages for 20 notices
        change_id = planned_change(sqlite_db, library, clock, tmp_path)
        (tmp_path / "link.db").symlink_to(tmp_path / "dpa.db")
        smtp.recorder.delay = 1.0  # the first is still busy (~10 s) when the second starts
        smtp.recorder.signal_at = 2
        first = sender("dpa.db", change_id, smtp, cwd=tmp_path)
        try:
            assert smtp.recorder.signal.wait(timeout=120), first.communicate(timeout=5)
            second = sender(str(tmp_path / "link.db"), change_id, smtp)
            out, err = second.communicate(timeout=120)
            assert second.returncode == 2, out + err
            assert "another 'dpa change send' is running on this database" in err
            out, err = first.communicate(timeout=120)
            assert first.returncode == 0, out + err
        finally:
            first.kill()
        copies = Counter(m.message_id for m in smtp.recorder.messages)
        assert len(copies) == CUSTOMERS and set(copies.values()) == {1}

    def it_takes_over_from_a_sender_whose_lease_expired(
            self, sqlite_db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path) -> None:
        change_id = planned_change(sqlite_db, library, clock, tmp_path)
        with sqlite_db.transaction() as session:  # a sender on another machine, long gone
            past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
            session.add(SendLeaseRow(sender="gone", host="elsewhere.example", pid=1,
                                     started_at=past, expires_at=past))
        report = send_change(sqlite_db, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)
        assert report.complete and len(smtp.recorder.messages) == CUSTOMERS
        with sqlite_db.transaction() as session:
            assert session.execute(select(SendLeaseRow)).first() is None


class DescribeSeveralSendersOnPostgres:
    @pytest.fixture
    def pg_db(self, pg_server: object) -> Database:
        from dpa_engine.storage import open_database

        return open_database(pg_server.create_database())  # type: ignore[attr-defined]

    def it_never_touches_a_message_whose_sender_is_alive(
            self, pg_db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path) -> None:
        change_id = planned_change(pg_db, library, clock, tmp_path)
        # queue the notices, then let a sender on another machine hold the first one
        with pg_db.transaction() as session:
            now = datetime.datetime.now(datetime.UTC)
            expires = now + datetime.timedelta(seconds=4)
            session.add(SendLeaseRow(sender="busy", host="elsewhere.example", pid=1,
                                     started_at=now, expires_at=expires))
        smtp.stop()
        send_change(pg_db, change_id, settings=smtp.settings(max_attempts=1), texts=texts,
                    actor=ACTOR, clock=clock, sleep=lambda _: None)
        smtp.start()
        with pg_db.transaction() as session:
            first = session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars().first()
            assert first is not None
            session.execute(update(OutboxRow).where(OutboxRow.id == first.id).values(
                status="sending", phase="data", claimed_by="busy"))
            held = first.message_id
        started = time.monotonic()
        alive = (expires - datetime.datetime.now(datetime.UTC)).total_seconds()
        report = send_change(pg_db, change_id, settings=smtp.settings(), texts=texts,
                             actor=ACTOR, clock=clock)
        # the others went out; the held one only once its sender's lease had run out, then
        # as an in-doubt resend
        assert report.complete and len(report.in_doubt_resent) == 1
        [resent] = [m for m in smtp.recorder.messages if m.message_id == held]
        others = [m for m in smtp.recorder.messages if m.message_id != held]
        assert len(others) == CUSTOMERS - 1
        assert resent.at - started >= alive - 0.2

    def it_shares_a_change_between_three_processes_one_killed(
            self, pg_db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            tmp_path: Path) -> None:
        change_id = planned_change(pg_db, library, clock, tmp_path)
        url = pg_db.url
        smtp.recorder.delay = 0.1
        smtp.recorder.signal_at = 6
        processes = [sender(url, change_id, smtp) for _ in range(3)]
        outputs: list[str] = []
        try:
            assert smtp.recorder.signal.wait(timeout=120)
            os.kill(processes[0].pid, signal.SIGKILL)
            processes[0].communicate(timeout=30)
            assert processes[0].returncode == -signal.SIGKILL
            for process in processes[1:]:
                out, err = process.communicate(timeout=180)
                assert process.returncode == 0, out + err
                outputs.append(out)
        finally:
            for process in processes:
                process.kill()
        rerun = sender(url, change_id, smtp)
        out, err = rerun.communicate(timeout=120)
        outputs.append(out + err)
        messages = smtp.recorder.messages
        copies = Counter(m.message_id for m in messages)
        assert len(copies) == CUSTOMERS  # nobody was missed
        assert len(smtp.recorder.peers) >= 3  # the work was shared
        doubted = {line.split()[2].rstrip(":") for text in outputs
                   for line in text.splitlines() if line.startswith("in doubt")}
        duplicated = {message_id for message_id, n in copies.items() if n > 1}
        # a duplicate only for what the killed process had started (2 connections): resent
        # with the same Message-ID and reported in doubt
        assert all(n <= 2 for n in copies.values()) and len(doubted) <= 2
        assert all(any(f".{key}." in message_id for key in doubted)
                   for message_id in duplicated)
        assert all(t.status == "notified" for t in change_status(pg_db, change_id).targets)
        assert verify_audit(pg_db).ok
