"""Queued notices are rendered alongside the sending: the first go out while later ones are
still being rendered, none is claimed before its rendered bytes are committed, and a run that
stops before rendering everything leaves notices that a rerun renders and sends once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from dpa_engine.clauses import Library
from dpa_engine.notices import NoticeTexts, change_status, letters, send_change, verify_audit
from dpa_engine.notices import outbox as outbox_module
from dpa_engine.notices.errors import NoticeError
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxPayloadRow

from .conftest import Clock, SmtpServer, write_deal
from .helpers import ACTOR, proposed_and_planned, register

CUSTOMERS = 30


@pytest.fixture
def planned(db: Database, library: Library, clock: Clock, tmp_path: Path) -> int:
    languages = ("nl", "fr", "en")
    register(db, library, clock, *(write_deal(tmp_path, i, language=languages[i % 3])
                                   for i in range(CUSTOMERS)))
    plan = proposed_and_planned(db, clock)
    assert len(plan.affected) == CUSTOMERS
    return plan.change.id


def send(db: Database, smtp: SmtpServer, texts: NoticeTexts, clock: Clock, change_id: int
         ) -> outbox_module.SendReport:
    return send_change(db, change_id, settings=smtp.settings(connections=2), texts=texts,
                       actor=ACTOR, clock=clock, sleep=lambda _: None)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox_module, "CLAIM_BATCH", 5)
    monkeypatch.setattr(outbox_module, "RENDER_CHUNK", 5)


class DescribeRenderingAlongsideSending:
    def it_sends_the_first_notices_while_later_ones_are_rendered(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, small_batches: None, monkeypatch: pytest.MonkeyPatch) -> None:
        rendered_at: list[float] = []
        real = outbox_module._render

        def slow(*args: Any) -> Any:  # a slow renderer: sending must not wait for all of it
            time.sleep(0.01)
            rendered_at.append(time.monotonic())
            return real(*args)

        monkeypatch.setattr(outbox_module, "_render", slow)
        report = send(db, smtp, texts, clock, planned)
        assert report.complete and len(report.sent) == CUSTOMERS
        first_accepted = min(m.at for m in smtp.recorder.messages)
        assert first_accepted < rendered_at[-1]
        ids = [m.message_id for m in smtp.recorder.messages]
        assert len(ids) == len(set(ids)) == CUSTOMERS
        assert verify_audit(db).ok

    def it_claims_a_notice_only_once_its_rendered_bytes_are_committed(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, small_batches: None, monkeypatch: pytest.MonkeyPatch) -> None:
        stored: set[int] = set()
        lock = threading.Lock()
        real_store, real_claim = outbox_module._store, outbox_module._Run.claim

        def store(connection: Any, rendered: list[Any]) -> None:
            real_store(connection, rendered)
            with lock:
                stored.update(job.outbox_id for job, _ in rendered)

        def claim(run: Any, message_ids: list[int]) -> Any:
            with lock:
                assert set(message_ids) <= stored, "claimed before its payload was stored"
            return real_claim(run, message_ids)

        monkeypatch.setattr(outbox_module, "_store", store)
        monkeypatch.setattr(outbox_module._Run, "claim", claim)
        report = send(db, smtp, texts, clock, planned)
        assert report.complete and len(report.sent) == CUSTOMERS


class DescribeAStoppedRendering:
    def it_leaves_notices_a_rerun_renders_and_sends_exactly_once(
            self, db: Database, planned: int, smtp: SmtpServer, texts: NoticeTexts,
            clock: Clock, small_batches: None, monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path, renderer: DocxRenderer) -> None:
        real = outbox_module._render
        calls = {"n": 0}

        def failing(*args: Any) -> Any:
            calls["n"] += 1
            if calls["n"] > 12:  # the queue's one render per shape, then 11 notices
                raise NoticeError("the renderer stopped (simulated)")
            return real(*args)

        monkeypatch.setattr(outbox_module, "_render", failing)
        with pytest.raises(NoticeError, match="renderer stopped"):
            send(db, smtp, texts, clock, planned)
        with db.transaction() as session:
            kept = session.query(OutboxPayloadRow).count()
        assert 0 < kept < CUSTOMERS
        first = len(smtp.recorder.messages)
        assert first <= kept  # nothing went out without its stored bytes
        # letters need every notice rendered: a clear error says how to get there
        with pytest.raises(NoticeError, match="not been rendered") as error:
            letters(db, planned, tmp_path / "letters", renderer=renderer)
        assert f"dpa change send {planned}" in (error.value.fix or "")

        monkeypatch.setattr(outbox_module, "_render", real)
        rerun = send(db, smtp, texts, clock, planned)
        assert rerun.complete
        ids = [m.message_id for m in smtp.recorder.messages]
        assert len(ids) == len(set(ids)) == CUSTOMERS
        assert all(t.status == "notified" for t in change_status(db, planned).targets)
        assert verify_audit(db).ok
        assert len(letters(db, planned, tmp_path / "letters", renderer=renderer)) \
            == CUSTOMERS
