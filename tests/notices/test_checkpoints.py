"""External anchors of the audit log: signed checkpoints and witness headers catch what the
unkeyed chain alone cannot (a rewritten chain, a truncated tail with its head moved back)."""

from __future__ import annotations

import json
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from dpa_engine.audit.checkpoints import (
    KEY_VARIABLE,
    WITNESS_HEADER,
    ChainHead,
    chain_head,
    checkpoint_file,
    generate_key,
    load_key,
    read_checkpoints,
    verify_checkpoint_file,
    verify_witness_file,
    write_checkpoint,
)
from dpa_engine.errors import InputError
from dpa_engine.library import Library
from dpa_engine.notices import verify_audit
from dpa_engine.storage import Database

from .conftest import Clock
from .helpers import drop_audit_guards, proposed_and_planned, register, rewrite_chain_from


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "audit.pem"
    generate_key(path)
    monkeypatch.setenv(KEY_VARIABLE, str(path))
    monkeypatch.setenv("DPA_AUDIT_CHECKPOINTS", str(tmp_path / "audit.checkpoints"))
    return path


class DescribeCheckpoints:
    def it_signs_the_head_and_verifies_an_intact_log(self, db: Database, library: Library,
                                                     clock: Clock, key: Path) -> None:
        register(db, library, clock)
        first = write_checkpoint(db)
        proposed_and_planned(db, clock)
        second = write_checkpoint(db)
        assert first is not None and second is not None and second.seq > first.seq
        path = checkpoint_file(db)
        assert [c.seq for c in read_checkpoints(path)] == [first.seq, second.seq]
        assert verify_checkpoint_file(db, path).ok

    def it_is_silent_without_a_key(self, db: Database, library: Library, clock: Clock,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(KEY_VARIABLE, raising=False)
        register(db, library, clock)
        assert write_checkpoint(db) is None

    def it_catches_a_chain_rewritten_after_the_checkpoint(
            self, db: Database, library: Library, clock: Clock, key: Path) -> None:
        register(db, library, clock)
        proposed_and_planned(db, clock)
        write_checkpoint(db)
        drop_audit_guards(db)
        rewrite_chain_from(db, 2)
        assert verify_audit(db).ok  # the unkeyed chain alone is fooled
        result = verify_checkpoint_file(db, checkpoint_file(db))
        assert not result.ok and "rewritten" in (result.problem or "")

    def it_catches_records_removed_from_the_end(self, db: Database, library: Library,
                                                clock: Clock, key: Path) -> None:
        register(db, library, clock)
        proposed_and_planned(db, clock)
        checkpoint = write_checkpoint(db)
        assert checkpoint is not None
        drop_audit_guards(db)
        with db.transaction() as session:
            session.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": checkpoint.seq})
            previous = session.execute(text("SELECT hash FROM audit_events WHERE seq = :s"),
                                       {"s": checkpoint.seq - 1}).scalar_one()
            session.execute(text("UPDATE audit_head SET last_seq = :n, last_hash = :h "
                                 "WHERE id = 1"), {"n": checkpoint.seq - 1, "h": previous})
        assert verify_audit(db).ok
        result = verify_checkpoint_file(db, checkpoint_file(db))
        assert not result.ok and "removed from the end" in (result.problem or "")

    def it_refuses_a_forged_checkpoint_file(self, db: Database, library: Library, clock: Clock,
                                            key: Path, tmp_path: Path) -> None:
        register(db, library, clock)
        write_checkpoint(db)
        copy = tmp_path / "kept-elsewhere.checkpoints"
        shutil.copy(checkpoint_file(db), copy)
        line = json.loads(copy.read_text())
        line["seq"] = 1
        copy.write_text(json.dumps(line) + "\n")
        result = verify_checkpoint_file(db, copy)
        assert not result.ok and "not signed" in (result.problem or "")

    def it_refuses_a_checkpoint_signed_with_another_key(
            self, db: Database, library: Library, clock: Clock, key: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        register(db, library, clock)
        other = tmp_path / "other.pem"
        generate_key(other)
        monkeypatch.setenv(KEY_VARIABLE, str(other))
        write_checkpoint(db)
        public = load_key(key).public_key()
        from dpa_engine.audit.checkpoints import public_hex

        result = verify_checkpoint_file(db, checkpoint_file(db), public_hex(public))
        assert not result.ok and "not signed by the audit key" in (result.problem or "")

    def it_explains_a_missing_or_bad_key(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="does not exist"):
            load_key(tmp_path / "none.pem")
        bad = tmp_path / "bad.pem"
        bad.write_text("not a key")
        with pytest.raises(InputError, match="PEM private key"):
            load_key(bad)
        generate_key(tmp_path / "k.pem")
        with pytest.raises(InputError, match="already exists"):
            generate_key(tmp_path / "k.pem")
        assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600


class DescribeWitness:
    def _message(self, tmp_path: Path, head: ChainHead) -> Path:
        message = EmailMessage()
        message["Subject"] = "notice"
        message[WITNESS_HEADER] = head.header_value()
        message.set_content("body")
        path = tmp_path / "notice.eml"
        path.write_bytes(bytes(message))
        return path

    def it_confirms_history_up_to_the_witness(self, db: Database, library: Library,
                                              clock: Clock, tmp_path: Path) -> None:
        register(db, library, clock)
        with db.transaction() as session:
            head = chain_head(session)
        proposed_and_planned(db, clock)
        assert verify_witness_file(db, self._message(tmp_path, head)).ok

    def it_catches_history_rewritten_before_the_witness(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        register(db, library, clock)
        proposed_and_planned(db, clock)
        with db.transaction() as session:
            head = chain_head(session)
        message = self._message(tmp_path, head)
        drop_audit_guards(db)
        rewrite_chain_from(db, 1)
        result = verify_witness_file(db, message)
        assert not result.ok and "rewritten" in (result.problem or "")

    def it_explains_a_message_without_the_header(self, db: Database, tmp_path: Path) -> None:
        path = tmp_path / "plain.eml"
        path.write_bytes(b"Subject: hello\r\n\r\nbody\r\n")
        with pytest.raises(InputError, match=WITNESS_HEADER):
            verify_witness_file(db, path)
