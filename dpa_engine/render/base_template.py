"""Builds templates/agreement.docx with python-docx: Word styles, A4, header and footer.

The .docx it writes is the base template; brand owners may restyle it in Word as long as the
style names and the placeholders ({{p body }}, {{ header_title }}, ...) stay.
Run: python -m dpa_engine.render.base_template templates/agreement.docx
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.text.paragraph import Paragraph

INK = RGBColor(0x1F, 0x2A, 0x44)
# Indents, in cm: clause text starts at CLAUSE_TEXT; a list item's text LIST_HANG further.
CLAUSE_TEXT = 1.1
LIST_HANG = 0.8
BULLET_HANG = 0.6


def _field(paragraph: Paragraph, instruction: str, placeholder: str) -> None:
    """Append a complex field (e.g. PAGE) to a paragraph."""
    def run_with(child: Any) -> None:
        run = OxmlElement("w:r")
        run.append(child)
        paragraph._p.append(run)

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run_with(begin)
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    separate = OxmlElement("w:fldChar")
    separate.set(qn("w:fldCharType"), "separate")
    run_with(separate)
    text = OxmlElement("w:t")
    text.text = placeholder
    run_with(text)
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run_with(end)


def _twips(cm: float) -> str:
    return str(round(cm * 567))


def _hyphenation(doc: Any) -> None:
    """Automatic hyphenation (justified Dutch and French lines without wide gaps), not of
    words in capitals. The language that picks the hyphenation patterns is set per agreement
    (word.py writes it into the document defaults)."""
    settings = doc.settings.element
    anchor = settings.find(qn("w:defaultTabStop"))
    elements = []
    for tag, value in (("w:autoHyphenation", "true"), ("w:consecutiveHyphenLimit", "2"),
                       ("w:hyphenationZone", "357"), ("w:doNotHyphenateCaps", "true")):
        element = OxmlElement(tag)
        element.set(qn("w:val"), value)
        elements.append(element)
    for element in reversed(elements):  # schema order: right after w:defaultTabStop
        anchor.addnext(element)


def _bullet_level(abstract: Any, left_cm: float) -> None:
    """Bullet glyph at left - BULLET_HANG, text at left, in the numbering level itself (Word
    and LibreOffice weigh the level's indent and the style's differently: both agree now)."""
    level = abstract.find(qn("w:lvl"))
    props = level.find(qn("w:pPr"))
    level.remove(props)
    props = OxmlElement("w:pPr")
    tabs, tab, ind = OxmlElement("w:tabs"), OxmlElement("w:tab"), OxmlElement("w:ind")
    tab.set(qn("w:val"), "num")
    tab.set(qn("w:pos"), _twips(left_cm))
    tabs.append(tab)
    ind.set(qn("w:left"), _twips(left_cm))
    ind.set(qn("w:hanging"), _twips(BULLET_HANG))
    props.extend([tabs, ind])
    level.find(qn("w:lvlJc")).addnext(props)


def _bullets(doc: Any, clause_bullet: Any) -> None:
    """List Bullet: glyph on the text's left edge; Clause Bullet: glyph on the clause text's."""
    numbering = doc.part.numbering_part.element
    body_num = doc.styles["List Bullet"].element.pPr.numPr.numId.val
    num = next(n for n in numbering.findall(qn("w:num")) if n.get(qn("w:numId")) == str(body_num))
    abstract_id = num.find(qn("w:abstractNumId")).get(qn("w:val"))
    abstract = next(a for a in numbering.findall(qn("w:abstractNum"))
                    if a.get(qn("w:abstractNumId")) == abstract_id)
    clause_abstract = copy.deepcopy(abstract)
    _bullet_level(abstract, BULLET_HANG)
    _bullet_level(clause_abstract, CLAUSE_TEXT + BULLET_HANG)
    ids = [int(a.get(qn("w:abstractNumId"))) for a in numbering.findall(qn("w:abstractNum"))]
    clause_abstract.set(qn("w:abstractNumId"), str(max(ids) + 1))
    clause_abstract.find(qn("w:nsid")).set(qn("w:val"), "0D0A0C1B")
    for style_link in clause_abstract.iter(qn("w:pStyle")):
        style_link.set(qn("w:val"), "ClauseBullet")
    numbering.findall(qn("w:abstractNum"))[-1].addnext(clause_abstract)
    clause_num = numbering.add_num(max(ids) + 1)
    clause_bullet.paragraph_format.left_indent = Cm(CLAUSE_TEXT + BULLET_HANG)
    clause_bullet.paragraph_format.first_line_indent = Cm(-BULLET_HANG)
    clause_bullet.element.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = \
        clause_num.numId
    body = doc.styles["List Bullet"]
    body.paragraph_format.left_indent = Cm(BULLET_HANG)
    body.paragraph_format.first_line_indent = Cm(-BULLET_HANG)


_AFTER_SUPPRESS_HYPHENS = (
    "w:kinsoku", "w:wordWrap", "w:overflowPunct", "w:topLinePunct", "w:autoSpaceDE",
    "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing", "w:ind",
    "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection",
    "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr",
    "w:sectPr", "w:pPrChange")


def _no_hyphens(style: Any) -> None:
    """Headings, titles and signature lines are not hyphenated (in schema order)."""
    style.element.get_or_add_pPr().insert_element_before(
        OxmlElement("w:suppressAutoHyphens"), *_AFTER_SUPPRESS_HYPHENS)


def build(path: Path) -> None:
    doc = Document()
    section = doc.sections[0]
    _page_setup(section)
    styles = doc.styles
    _text_styles(styles)
    _clause_styles(doc, styles)
    _table_and_signature_styles(styles)
    for name in ("Title", "Subtitle", "Heading 1", "Heading 2", "Header", "Footer"):
        _no_hyphens(styles[name])
    _hyphenation(doc)
    draft = _paragraph_style(styles, "Draft Marker", "Header")
    draft.font.bold = True
    draft.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
    _body(doc)
    _header(section, styles)
    _footer(section, styles)
    core = doc.core_properties
    core.author = "dpa-engine"
    core.title = "{{ title }}"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))


def _page_setup(section: Any) -> None:
    """A4, margins of 2.5 cm (2.2 cm at the bottom, above the footer)."""
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.5))
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.2)


def _paragraph_style(styles: Any, name: str, base: str) -> Any:
    style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = styles[base]
    style.quick_style = True
    return style


def _text_styles(styles: Any) -> None:
    """Normal text, the title and the headings."""
    normal = styles["Normal"]
    normal.font.name = "Calibri"
    normal.font.size = Pt(10.5)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.1
    for name, size, before in (("Title", 20, 0), ("Heading 1", 12.5, 14), ("Heading 2", 11, 10)):
        style = styles[name]
        style.font.name = "Calibri"
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.color.rgb = INK
        style.paragraph_format.space_before = Pt(before)
        style.paragraph_format.space_after = Pt(6)
        style.paragraph_format.keep_with_next = True
    styles["Subtitle"].font.size = Pt(11)
    styles["Subtitle"].font.color.rgb = INK
    styles["Body Text"].paragraph_format.space_after = Pt(6)


def _clause_styles(doc: Any, styles: Any) -> None:
    """Numbered clauses, their continuation paragraphs, bullets, lettered items, recitals."""
    clause = _paragraph_style(styles, "Clause", "Normal")
    clause.paragraph_format.left_indent = Cm(1.1)
    clause.paragraph_format.first_line_indent = Cm(-1.1)
    clause.paragraph_format.tab_stops.add_tab_stop(Cm(1.1))
    clause.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    continuation = _paragraph_style(styles, "Clause Continuation", "Normal")
    continuation.paragraph_format.left_indent = Cm(1.1)
    continuation.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    bullet = _paragraph_style(styles, "Clause Bullet", "List Bullet")
    bullet.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    _bullets(doc, bullet)
    # Lettered items, (a) on the clause text's left edge, their text LIST_HANG further.
    lettered = _paragraph_style(styles, "Clause List", "Normal")
    lettered.paragraph_format.left_indent = Cm(CLAUSE_TEXT + LIST_HANG)
    lettered.paragraph_format.first_line_indent = Cm(-LIST_HANG)
    lettered.paragraph_format.tab_stops.add_tab_stop(Cm(CLAUSE_TEXT + LIST_HANG))
    lettered.paragraph_format.space_after = Pt(4)
    lettered.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    # Recitals, (A) on the margin and their text where clause text starts.
    recital = _paragraph_style(styles, "Recital", "Normal")
    recital.paragraph_format.left_indent = Cm(CLAUSE_TEXT)
    recital.paragraph_format.first_line_indent = Cm(-CLAUSE_TEXT)
    recital.paragraph_format.tab_stops.add_tab_stop(Cm(CLAUSE_TEXT))
    recital.paragraph_format.space_after = Pt(4)
    recital.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    styles["Body Text"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY


def _table_and_signature_styles(styles: Any) -> None:
    """Annex tables (text, labels, header cells) and the signature block's lines."""
    table_text = _paragraph_style(styles, "Table Text", "Normal")
    table_text.font.size = Pt(9)
    table_text.paragraph_format.space_after = Pt(2)
    table_text.paragraph_format.line_spacing = 1.0
    table_label = _paragraph_style(styles, "Table Label", "Table Text")
    table_label.font.bold = True
    table_label.font.color.rgb = INK
    _no_hyphens(table_label)
    _no_hyphens(_paragraph_style(styles, "Table Label Detail", "Table Text"))  # names
    table_heading = _paragraph_style(styles, "Table Heading", "Table Label")
    table_heading.font.size = Pt(8.5)
    signature = _paragraph_style(styles, "Signature", "Normal")
    signature.paragraph_format.space_after = Pt(3)
    _no_hyphens(signature)


def _body(doc: Any) -> None:
    """Body: one placeholder the engine replaces with the numbered agreement."""
    if doc.paragraphs:
        doc.paragraphs[0]._p.getparent().remove(doc.paragraphs[0]._p)
    doc.add_paragraph("{{p body }}")


def _header(section: Any, styles: Any) -> None:
    """The agreement's title, and the draft marker while it is a draft."""
    header = section.header
    header.paragraphs[0].text = "{{ header_title }}"
    header.paragraphs[0].style = styles["Header"]
    header.add_paragraph("{%p if draft %}")
    header.add_paragraph("{{ draft_marker }}", style=styles["Draft Marker"])
    header.add_paragraph("{%p endif %}")


def _footer(section: Any, styles: Any) -> None:
    """The page number: "Page X of Y", right-aligned."""
    line = section.footer.paragraphs[0]
    line.style = styles["Footer"]
    line.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    line.add_run("{{ page_label }} ")
    _field(line, "PAGE", "1")
    line.add_run(" {{ page_of_label }} ")
    _field(line, "NUMPAGES", "1")


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "templates/agreement.docx"))
