"""Notice letters (.docx) are rendered when asked for, from what the outbox kept: the same
document every time, saying what the e-mail said."""

from __future__ import annotations

import io
from pathlib import Path

from docx import Document
from sqlalchemy import select

from dpa_engine.library import Library
from dpa_engine.notices import NoticeTexts, letters, send_change
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxPayloadRow

from .conftest import Clock, SmtpServer
from .helpers import ACTOR, proposed_and_planned, register


def text_of(docx: bytes) -> str:
    document = Document(io.BytesIO(docx))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


class DescribeLetters:
    def it_renders_each_letter_on_demand_the_same_every_time(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, renderer: DocxRenderer, tmp_path: Path) -> None:
        register(db, library, clock)
        change_id = proposed_and_planned(db, clock).change.id
        send_change(db, change_id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        with db.transaction() as session:  # the outbox keeps the source, not a .docx
            payloads = list(session.execute(select(OutboxPayloadRow)).scalars())
            assert payloads and all(isinstance(p.letter_source, dict)
                                    for p in payloads)  # JSON, not a string of JSON
        first = letters(db, change_id, tmp_path / "a", renderer=renderer, texts=texts)
        again = letters(db, change_id, tmp_path / "b", renderer=renderer, texts=texts)
        assert [p.name for p in first] == [p.name for p in again]
        for one, other in zip(first, again, strict=True):
            assert one.read_bytes() == other.read_bytes()  # deterministic
        mail = next(m for m in smtp.recorder.messages
                    if m.recipients == ["privacy@bakkerijpeeters.example"])
        letter = text_of(next(p for p in first if "bakkerij-peeters" in p.name).read_bytes())
        body = mail.message.get_body(("plain",))
        assert body is not None
        for line in body.get_content().replace("\r\n", "\n").split("\n"):
            if line.startswith("- "):  # every detail of the e-mail is in the letter
                label, value = line[2:].split(": ", 1)
                assert label in letter and value in letter
