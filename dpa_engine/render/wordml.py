"""The document model -> WordprocessingML (the body of word/document.xml).

Every piece of text goes through `_text`, which XML-escapes it: customer names such as
`<w:p>` or `{{ 7*7 }}` end up as literal text, never as markup or template code.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

from ..document import (
    Block,
    DocumentModel,
    PageBreak,
    Paragraph,
    RefRun,
    SignatureBlock,
    SignatureField,
    Style,
    Table,
    TextRun,
)

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


def paragraph_properties(paragraph: Paragraph, extra: str = "") -> str:
    """The w:pPr of a paragraph; `extra` goes last (a revision mark's w:rPr)."""
    props = f"<w:pStyle w:val={quoteattr(paragraph.style)}/>"
    if paragraph.keep_with_next:
        props += "<w:keepNext/>"
    if paragraph.page_break_before:
        props += "<w:pageBreakBefore/>"
    return f"<w:pPr>{props}{extra}</w:pPr>"


def paragraph_xml(paragraph: Paragraph, ids: BookmarkIds) -> str:
    parts = [f"<w:p>{paragraph_properties(paragraph)}"]
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


# Cell margins are Word's default 0.19 cm (108 twips) on each side.
_CELL_MARGINS = 2 * 108
HEADER_FILL = "DCE3EE"  # the header row of an annex table
LABEL_FILL = "F1F3F7"  # the label column of an annex table
PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'


def _spacer(height: int) -> str:
    """An empty paragraph exactly `height` twips high (its exact line height clips the mark)."""
    return (f'<w:p><w:pPr><w:spacing w:before="0" w:after="0" w:line="{height}" '
            'w:lineRule="exact"/></w:pPr></w:p>')


# Word needs a paragraph after a table that ends the body: one point high, so that it never
# spills onto a page of its own. Before further text or a table, the paragraph is the 6 pt of
# space after the table.
_END_OF_BODY = _spacer(20)
_SPACE_AFTER_TABLE = _spacer(120)


def _cell(lines: list[str], width: int, *, style: str = Style.TABLE_TEXT, bold: bool = False,
          fill: str | None = None, span: int = 1, keep_next: bool = False,
          first_style: str | None = None) -> str:
    """A table cell; `first_style` styles its first line only (a label over its detail)."""
    keep = "<w:keepNext/>" if keep_next else ""
    paragraphs = "".join(
        f'<w:p><w:pPr><w:pStyle w:val="{first_style if first_style and index == 0 else style}"/>'
        f"{keep}</w:pPr>{text_xml(line, bold=bold)}</w:p>"
        for index, line in enumerate(lines or [""])
    )
    props = f'<w:tcW w:w="{width}" w:type="dxa"/>'
    if span > 1:
        props += f'<w:gridSpan w:val="{span}"/>'
    if fill:
        props += f'<w:shd w:val="clear" w:color="auto" w:fill="{fill}"/>'
    return f"<w:tc><w:tcPr>{props}</w:tcPr>{paragraphs}</w:tc>"


_NO_BORDERS = "<w:tblBorders>" + "".join(
    f'<w:{side} w:val="nil"/>' for side in ("top", "left", "bottom", "right", "insideH", "insideV")
) + "</w:tblBorders>"


def _table(widths: list[int], rows: list[str], *, borders: bool) -> str:
    grid = "".join(f'<w:gridCol w:w="{w}"/>' for w in widths)
    return (
        '<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/>'
        f'<w:tblW w:w="{sum(widths)}" w:type="dxa"/>{"" if borders else _NO_BORDERS}'
        '<w:tblLayout w:type="fixed"/>'
        '<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" '
        'w:lastColumn="0" w:noHBand="0" w:noVBand="1"/></w:tblPr>'
        f"<w:tblGrid>{grid}</w:tblGrid>{''.join(rows)}</w:tbl>"
    )


def table_xml(table: Table) -> str:
    widths = [TEXT_WIDTH_TWIPS * pct // 100 for pct in table.widths]
    rows = []
    if table.header is not None:
        if len(table.header) == 1 < len(widths):  # one label over the whole table
            cells = _cell([table.header[0]], sum(widths), style=Style.TABLE_HEADING,
                          fill=HEADER_FILL, span=len(widths), keep_next=True)
        else:
            cells = "".join(_cell(h.split("\n"), w, style=Style.TABLE_HEADING, fill=HEADER_FILL,
                                  keep_next=True)
                            for h, w in zip(table.header, widths, strict=True))
        rows.append(f'<w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>{cells}</w:tr>')
    for row in table.rows:
        cells = "".join(
            _cell(c, w, style=Style.TABLE_LABEL_DETAIL, first_style=Style.TABLE_LABEL,
                  fill=LABEL_FILL)
            if table.label_column and column == 0 else _cell(c, w)
            for column, (c, w) in enumerate(zip(row, widths, strict=True)))
        rows.append(f"<w:tr><w:trPr><w:cantSplit/></w:trPr>{cells}</w:tr>")
    return _table(widths, rows, borders=table.borders)


# --- signature blocks ------------------------------------------------------------------------

_GAP_PCT = 6  # between two parties' blocks
_SIGN_HEIGHT = 1400  # room to sign, in twips (about 2.5 cm)
_SIGN_LINE = '<w:tcBorders><w:bottom w:val="single" w:sz="6" w:space="0" w:color="1F2A44"/>' \
             "</w:tcBorders>"


def _signature_paragraph(content: str, *, keep_next: bool, extra: str = "") -> str:
    keep = "<w:keepNext/>" if keep_next else ""
    return (f'<w:p><w:pPr><w:pStyle w:val="{Style.SIGNATURE}"/>{keep}{extra}</w:pPr>'
            f"{content}</w:p>")


def _field_xml(field: SignatureField | None, width: int, *, keep_next: bool) -> str:
    if field is None:
        return _signature_paragraph("", keep_next=keep_next)
    if field.value:
        return _signature_paragraph(text_xml(f"{field.label} {field.value}"),
                                    keep_next=keep_next)
    # No value: a dotted line to fill in by hand, up to the cell's right edge. The zero-width
    # space after the tab makes LibreOffice draw the leader of a tab that ends the paragraph.
    tabs = (f'<w:tabs><w:tab w:val="right" w:leader="dot" '
            f'w:pos="{width - _CELL_MARGINS - 57}"/></w:tabs>')
    return _signature_paragraph(text_xml(f"{field.label} ") + "<w:r><w:tab/><w:t>\u200b</w:t></w:r>",
                                keep_next=keep_next, extra=tabs)


def signature_xml(block: SignatureBlock) -> str:
    """The parties side by side: heading, place and date, room to sign over a line, then the
    signatory's name and title. Rows do not split and every line keeps with the next, so the
    block stays on one page."""
    count = len(block.parties)
    column = (100 - _GAP_PCT * (count - 1)) // max(count, 1)
    pcts: list[int] = []
    for index in range(count):
        pcts.extend([column] if index == 0 else [_GAP_PCT, column])
    widths = [TEXT_WIDTH_TWIPS * pct // 100 for pct in pcts]
    party_width = widths[0]
    gap = _cell([], widths[1]) if count > 1 else ""

    def row(cells: list[str], props: str = "") -> str:
        return f"<w:tr><w:trPr><w:cantSplit/>{props}</w:trPr>{gap.join(cells)}</w:tr>"

    def plain_cell(content: str, extra_props: str = "") -> str:
        return (f'<w:tc><w:tcPr><w:tcW w:w="{party_width}" w:type="dxa"/>{extra_props}'
                f"</w:tcPr>{content}</w:tc>")

    rows = [row([plain_cell(_signature_paragraph(text_xml(p.heading, bold=True), keep_next=True,
                                                 extra='<w:spacing w:before="240"/>'))
                 for p in block.parties])]
    above = max((len(p.above) for p in block.parties), default=0)
    for index in range(above):
        rows.append(row([plain_cell(_field_xml(p.above[index] if index < len(p.above) else None,
                                               party_width, keep_next=True))
                         for p in block.parties]))
    rows.append(row(
        [plain_cell(_signature_paragraph(text_xml(p.sign_label), keep_next=True),
                    _SIGN_LINE) for p in block.parties],
        f'<w:trHeight w:val="{_SIGN_HEIGHT}" w:hRule="atLeast"/>'))
    below = max((len(p.below) for p in block.parties), default=0)
    for index in range(below):
        last = index == below - 1
        rows.append(row([plain_cell(_field_xml(p.below[index] if index < len(p.below) else None,
                                               party_width, keep_next=not last))
                         for p in block.parties]))
    return _table(widths, rows, borders=False)


def block_xml(block: Block, ids: BookmarkIds) -> str:
    if isinstance(block, Paragraph):
        return paragraph_xml(block, ids)
    if isinstance(block, Table):
        return table_xml(block)
    if isinstance(block, SignatureBlock):
        return signature_xml(block)
    return PAGE_BREAK


def after_table(block: Block, following: Block | None) -> str:
    """The paragraph after a table: none before a new page (an empty paragraph there could
    make a blank page), a thin one at the end of the body, else 6 pt of space."""
    if not isinstance(block, Table | SignatureBlock):
        return ""
    if following is None:
        return _END_OF_BODY
    if isinstance(following, PageBreak) or (
            isinstance(following, Paragraph) and following.page_break_before):
        return ""
    return _SPACE_AFTER_TABLE


def _blocks(blocks: list[Block], ids: BookmarkIds) -> Iterator[str]:
    for index, block in enumerate(blocks):
        yield block_xml(block, ids)
        yield after_table(block, blocks[index + 1] if index + 1 < len(blocks) else None)


def body_xml(model: DocumentModel) -> str:
    """The agreement's body paragraphs and tables as one WordprocessingML fragment."""
    return "".join(_blocks(model.blocks, BookmarkIds()))
