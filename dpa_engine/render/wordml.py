"""The document model -> WordprocessingML (the body of word/document.xml).

Every piece of text goes through `_text`, which XML-escapes it: customer names such as
`<w:p>` or `{{ 7*7 }}` end up as literal text, never as markup or template code.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

from ..document import Block, DocumentModel, PageBreak, Paragraph, RefRun, Style, Table, TextRun

# A4 with 2.5 cm side margins: 16 cm of text width, in twentieths of a point.
TEXT_WIDTH_TWIPS = 9072


def text_xml(text: str, *, bold: bool = False) -> str:
    props = "<w:rPr><w:b/></w:rPr>" if bold else ""
    return f'<w:r>{props}<w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def ref_field_xml(run: RefRun) -> str:
    """A Word REF field to the target clause's bookmark, showing the current number."""
    return (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> REF {run.bookmark} \\h </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        f"<w:r><w:t>{escape(run.number)}</w:t></w:r>"
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
    )


class BookmarkIds:
    def __init__(self) -> None:
        self.next = 0

    def take(self) -> int:
        self.next += 1
        return self.next


def paragraph_xml(paragraph: Paragraph, ids: BookmarkIds) -> str:
    props = f"<w:pStyle w:val={quoteattr(paragraph.style)}/>"
    if paragraph.keep_with_next:
        props += "<w:keepNext/>"
    parts = [f"<w:p><w:pPr>{props}</w:pPr>"]
    if paragraph.number is not None:
        if paragraph.bookmark:
            mark = ids.take()
            parts.append(f'<w:bookmarkStart w:id="{mark}" w:name={quoteattr(paragraph.bookmark)}/>')
            parts.append(text_xml(paragraph.number))
            parts.append(f'<w:bookmarkEnd w:id="{mark}"/>')
        else:
            parts.append(text_xml(paragraph.number))
        parts.append("<w:r><w:tab/></w:r>")
    if paragraph.title:
        parts.append(text_xml(paragraph.title + ". ", bold=True))
    for run in paragraph.runs:
        parts.append(ref_field_xml(run) if isinstance(run, RefRun) else
                     text_xml(run.text, bold=isinstance(run, TextRun) and run.bold))
    parts.append("</w:p>")
    return "".join(parts)


def _cell(lines: list[str], width: int, *, bold: bool) -> str:
    paragraphs = "".join(
        f'<w:p><w:pPr><w:pStyle w:val="{Style.TABLE_TEXT}"/></w:pPr>{text_xml(line, bold=bold)}</w:p>'
        for line in (lines or [""])
    )
    return f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/></w:tcPr>{paragraphs}</w:tc>'


_NO_BORDERS = "<w:tblBorders>" + "".join(
    f'<w:{side} w:val="nil"/>' for side in ("top", "left", "bottom", "right", "insideH", "insideV")
) + "</w:tblBorders>"


def table_xml(table: Table) -> str:
    widths = [TEXT_WIDTH_TWIPS * pct // 100 for pct in table.widths]
    grid = "".join(f'<w:gridCol w:w="{w}"/>' for w in widths)
    rows = []
    if table.header is not None:
        cells = "".join(_cell(h.split("\n"), w, bold=True)
                        for h, w in zip(table.header, widths, strict=True))
        rows.append(f'<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>{cells}</w:tr>')
    for row in table.rows:
        cells = "".join(_cell(c, w, bold=False) for c, w in zip(row, widths, strict=True))
        rows.append(f"<w:tr><w:trPr><w:cantSplit/></w:trPr>{cells}</w:tr>")
    return (
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/>'
        f'<w:tblW w:w="{sum(widths)}" w:type="dxa"/>{"" if table.borders else _NO_BORDERS}'
        '<w:tblLayout w:type="fixed"/>'
        '<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" '
        'w:lastColumn="0" w:noHBand="0" w:noVBand="1"/></w:tblPr>'
        f"<w:tblGrid>{grid}</w:tblGrid>{''.join(rows)}</w:tbl>"
        # Word needs a paragraph between two tables and after a table that ends a cell.
        '<w:p><w:pPr><w:spacing w:after="0"/></w:pPr></w:p>'
    )


def _blocks(blocks: list[Block], ids: BookmarkIds) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, Paragraph):
            yield paragraph_xml(block, ids)
        elif isinstance(block, Table):
            yield table_xml(block)
        elif isinstance(block, PageBreak):
            yield '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'


def body_xml(model: DocumentModel) -> str:
    """The agreement's body paragraphs and tables as one WordprocessingML fragment."""
    return "".join(_blocks(model.blocks, BookmarkIds()))
