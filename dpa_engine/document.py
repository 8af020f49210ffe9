"""The document model shared by agreements, letters and redlines: plain data.

Blocks (paragraphs, tables, page breaks), numbering, bookmarks and document properties;
the renderer (dpa_engine.render) turns it into WordprocessingML.
"""

from __future__ import annotations

import datetime
import zlib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .models import Language


class Style:
    """Paragraph style ids defined by the base template (templates/agreement.docx)."""

    TITLE = "Title"
    SUBTITLE = "Subtitle"
    HEADING_1 = "Heading1"
    HEADING_2 = "Heading2"
    BODY = "BodyText"
    CLAUSE = "Clause"
    CLAUSE_CONTINUATION = "ClauseContinuation"
    CLAUSE_BULLET = "ClauseBullet"
    BULLET = "ListBullet"
    TABLE_TEXT = "TableText"


class TextRun(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["text"] = "text"
    text: str
    bold: bool = False


class RefRun(BaseModel):
    """A cross-reference: a Word REF field to `bookmark`, showing `number`."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["ref"] = "ref"
    target: str
    bookmark: str
    number: str


Run = Annotated[TextRun | RefRun, Field(discriminator="kind")]


class Paragraph(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["paragraph"] = "paragraph"
    style: str
    runs: list[Run]
    number: str | None = None  # printed before the text, inside `bookmark`
    bookmark: str | None = None
    title: str | None = None  # printed bold after the number
    keep_with_next: bool = False


class Table(BaseModel):
    """A table; each cell is a list of paragraphs of plain text."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["table"] = "table"
    header: list[str] | None = None
    rows: list[list[list[str]]]
    widths: list[int]  # percent of the text width, one per column
    borders: bool = True


class PageBreak(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["page_break"] = "page_break"


Block = Annotated[Paragraph | Table | PageBreak, Field(discriminator="kind")]


class NumberedClause(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    version: int
    number: str | None
    bookmark: str


class DocumentProperties(BaseModel):
    model_config = ConfigDict(frozen=True)
    title: str
    subject: str
    creator: str
    keywords: str
    version: str
    generated_at: datetime.datetime
    language: Language
    custom: dict[str, str]


class DocumentModel(BaseModel):
    model_config = ConfigDict(frozen=True)
    language: Language
    header_title: str
    draft: bool
    draft_marker: str
    page_label: str
    page_of_label: str
    properties: DocumentProperties
    clauses: list[NumberedClause]
    blocks: list[Block]


def bookmark_for(clause_id: str) -> str:
    """A stable Word bookmark name (hidden `_Ref` style, <= 40 chars) for a clause."""
    return f"_Ref{zlib.crc32(clause_id.encode()):010d}"


# --- revisions: a redline (tracked changes) of one document against another ---

AUTHOR = "dpa-engine"


class Segment(BaseModel):
    """Runs of a changed paragraph that are kept, inserted or deleted."""

    model_config = ConfigDict(frozen=True)
    change: Literal["equal", "insert", "delete"]
    runs: list[Run]


class ParagraphRevision(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["paragraph"] = "paragraph"
    change: Literal["equal", "insert", "delete", "modify"]
    paragraph: Paragraph  # the negotiated paragraph (the standard one when deleted)
    old_number: str | None = None  # modify: the standard's number, when it differs
    prefix: list[Segment] = Field(default_factory=list)  # modify: the title's changes
    segments: list[Segment] = Field(default_factory=list)  # modify: the text, word by word


class BlockRevision(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["block"] = "block"
    change: Literal["equal", "insert", "delete"]
    block: Block


Revision = Annotated[ParagraphRevision | BlockRevision, Field(discriminator="kind")]


class RedlineModel(BaseModel):
    model_config = ConfigDict(frozen=True)

    document: DocumentModel  # the negotiated agreement (header, properties)
    revisions: list[Revision]
    author: str = AUTHOR
    date: datetime.datetime

    @property
    def changed(self) -> bool:
        return any(r.change != "equal" for r in self.revisions)
