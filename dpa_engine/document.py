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
    CLAUSE_LIST = "ClauseList"  # a lettered item of a clause: (a), (b) ...
    RECITAL = "Recital"  # a lettered recital: (A), (B) ...
    BULLET = "ListBullet"
    TABLE_TEXT = "TableText"
    TABLE_HEADING = "TableHeading"  # the header row of a table
    TABLE_LABEL = "TableLabel"  # the label cells of an annex table
    TABLE_LABEL_DETAIL = "TableLabelDetail"  # further lines of a label cell (a legal entity)
    SIGNATURE = "Signature"


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
    page_break_before: bool = False  # starts a new page (an annex): no empty page-break paragraph


class Table(BaseModel):
    """A table; each cell is a list of paragraphs of plain text.

    The header row (one label per cell; a single label spans the table) repeats on every page
    the table runs over; with `label_column` the first column holds labels, set off from the
    values."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["table"] = "table"
    header: list[str] | None = None
    rows: list[list[list[str]]]
    widths: list[int]  # percent of the text width, one per column
    borders: bool = True
    label_column: bool = False


class SignatureField(BaseModel):
    """One line of a signature block: `label value` (the label carries its colon, French
    typography included), or a line to fill in when there is no value."""

    model_config = ConfigDict(frozen=True)
    label: str
    value: str = ""


class SignatureParty(BaseModel):
    """One party's block: who signs for it, the room to sign, and the signatory below."""

    model_config = ConfigDict(frozen=True)
    heading: str  # "For <party>"
    above: list[SignatureField]  # place and date of signing
    sign_label: str  # "Signature:", printed over the room to sign
    below: list[SignatureField]  # the signatory's name and title, under the line


class SignatureBlock(BaseModel):
    """The parties' signature blocks side by side, kept together on one page."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["signatures"] = "signatures"
    parties: list[SignatureParty]


class PageBreak(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: Literal["page_break"] = "page_break"


Block = Annotated[Paragraph | Table | SignatureBlock | PageBreak, Field(discriminator="kind")]


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


def letter(index: int, *, upper: bool = False) -> str:
    """The label of the index-th (from 1) lettered item: (a) ... (z), (aa), (ab) ..."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return f"({letters.upper() if upper else letters})"


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
