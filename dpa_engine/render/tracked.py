"""A redline as WordprocessingML tracked changes: w:ins / w:del revisions (with w:delText),
and inserted or deleted paragraph marks, which Word and LibreOffice show as changes to accept
or reject — not coloured text.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

from ..document import (
    Block,
    BlockRevision,
    Paragraph,
    ParagraphRevision,
    RedlineModel,
    RefRun,
    Run,
    Segment,
    TextRun,
)
from .wordml import (
    BookmarkIds,
    after_table,
    block_xml,
    paragraph_properties,
    paragraph_xml,
    ref_field_xml,
    text_xml,
)


class _Revisions:
    """Revision attributes: a unique id per revision, one author and date."""

    def __init__(self, author: str, date: str, ids: BookmarkIds) -> None:
        self.author = author
        self.date = date
        self.ids = ids

    def attrs(self) -> str:
        return (f'w:id="{self.ids.take() + 10000}" w:author={quoteattr(self.author)} '
                f'w:date="{self.date}"')

    def wrap(self, tag: str, runs: str) -> str:
        return f"<w:{tag} {self.attrs()}>{runs}</w:{tag}>" if runs else ""

    def mark(self, tag: str) -> str:
        """A paragraph mark inserted or deleted (inside w:pPr/w:rPr)."""
        return f"<w:rPr><w:{tag} {self.attrs()}/></w:rPr>"


def _deleted_text(text: str, *, bold: bool = False) -> str:
    props = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return f'<w:r>{props}<w:delText xml:space="preserve">{escape(text)}</w:delText></w:r>'


def _runs(runs: list[Run], *, deleted: bool) -> str:
    parts = []
    for run in runs:
        if isinstance(run, RefRun):
            # A deleted cross-reference is shown as its deleted number, not a live field.
            parts.append(_deleted_text(run.number) if deleted else ref_field_xml(run))
        elif deleted:
            parts.append(_deleted_text(run.text, bold=run.bold))
        else:
            parts.append(text_xml(run.text, bold=run.bold))
    return "".join(parts)


def _segments(segments: list[Segment], rev: _Revisions) -> str:
    parts = []
    for segment in segments:
        if segment.change == "equal":
            parts.append(_runs(segment.runs, deleted=False))
        elif segment.change == "insert":
            parts.append(rev.wrap("ins", _runs(segment.runs, deleted=False)))
        else:
            parts.append(rev.wrap("del", _runs(segment.runs, deleted=True)))
    return "".join(parts)


def _heading(paragraph: Paragraph, ids: BookmarkIds) -> str:
    """Number (with its bookmark) and bold title, as the normal renderer writes them."""
    xml = paragraph_xml(paragraph.model_copy(update={"runs": []}), ids)
    return xml[xml.index("</w:pPr>") + len("</w:pPr>"):-len("</w:p>")]


def _whole_paragraph(paragraph: Paragraph, change: str, rev: _Revisions, ids: BookmarkIds) -> str:
    tag = "ins" if change == "insert" else "del"
    pprops = paragraph_properties(paragraph, rev.mark(tag))
    if change == "insert":
        content = rev.wrap("ins", _heading(paragraph, ids) + _runs(paragraph.runs, deleted=False))
    else:  # no bookmark: nothing may refer to a deleted clause
        heading = []
        if paragraph.number is not None:
            heading.append(_deleted_text(paragraph.number))
            heading.append("<w:r><w:tab/></w:r>")
        if paragraph.title:
            heading.append(_deleted_text(paragraph.title + ". ", bold=True))
        content = rev.wrap("del", "".join(heading) + _runs(paragraph.runs, deleted=True))
    return f"<w:p>{pprops}{content}</w:p>"


def _modified_paragraph(revision: ParagraphRevision, rev: _Revisions, ids: BookmarkIds) -> str:
    paragraph = revision.paragraph
    if revision.old_number is None and not revision.prefix:
        heading = _heading(paragraph.model_copy(update={"runs": []}), ids)
    else:
        # The new number keeps its bookmark (cross-references point at it); a changed number
        # and the title's changes are shown as revisions.
        number = _heading(paragraph.model_copy(update={"runs": [], "title": None}), ids)
        if revision.old_number is not None:
            old = _deleted_text(revision.old_number) + "<w:r><w:tab/></w:r>"
            number = rev.wrap("del", old) + rev.wrap("ins", number)
        title = revision.prefix or ([] if not paragraph.title else [
            Segment(change="equal", runs=[TextRun(text=paragraph.title + ". ", bold=True)])])
        heading = number + _segments(title, rev)
    return (f"<w:p>{paragraph_properties(paragraph)}{heading}"
            f"{_segments(revision.segments, rev)}</w:p>")


def _revised_table(xml: str, change: str, rev: _Revisions) -> str:
    """A whole table inserted or deleted: every row and run carries the revision."""
    tag = "ins" if change == "insert" else "del"
    xml = re.sub(r"</w:trPr>", lambda _: f"<w:{tag} {rev.attrs()}/></w:trPr>", xml)
    if tag == "del":
        xml = xml.replace("<w:t ", "<w:delText ").replace("</w:t>", "</w:delText>")
    return re.sub(r"(<w:r>.*?</w:r>)", lambda m: rev.wrap(tag, m.group(1)), xml)


def _block(revision: ParagraphRevision | BlockRevision) -> Block:
    return revision.paragraph if isinstance(revision, ParagraphRevision) else revision.block


def redline_body_xml(model: RedlineModel) -> str:
    ids = BookmarkIds()
    rev = _Revisions(model.author, model.date.strftime("%Y-%m-%dT%H:%M:%SZ"), BookmarkIds())
    parts: list[str] = []
    revisions = model.revisions
    for index, revision in enumerate(revisions):
        if isinstance(revision, ParagraphRevision):
            if revision.change == "equal":
                parts.append(paragraph_xml(revision.paragraph, ids))
            elif revision.change == "modify":
                parts.append(_modified_paragraph(revision, rev, ids))
            else:
                parts.append(_whole_paragraph(revision.paragraph, revision.change, rev, ids))
            continue
        block = revision.block
        if isinstance(block, Paragraph):  # not made by redline.compare; shown as it is
            parts.append(paragraph_xml(block, ids))
            continue
        xml = block_xml(block, ids)
        if revision.change != "equal" and xml.startswith("<w:tbl>"):
            xml = _revised_table(xml, revision.change, rev)
        parts.append(xml)
        parts.append(after_table(
            block, _block(revisions[index + 1]) if index + 1 < len(revisions) else None))
    return "".join(parts)
