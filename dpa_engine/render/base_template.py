"""Builds templates/agreement.docx with python-docx: Word styles, A4, header and footer.

The .docx it writes is the base template; brand owners may restyle it in Word as long as the
style names and the placeholders ({{p body }}, {{ header_title }}, ...) stay.
Run: python -m dpa_engine.render.base_template templates/agreement.docx
"""

from __future__ import annotations

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


def build(path: Path) -> None:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.5))
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.2)

    styles = doc.styles
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

    def paragraph_style(name: str, base: str) -> object:
        style = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles[base]
        style.quick_style = True
        return style

    clause = paragraph_style("Clause", "Normal")
    clause.paragraph_format.left_indent = Cm(1.1)  # type: ignore[attr-defined]
    clause.paragraph_format.first_line_indent = Cm(-1.1)  # type: ignore[attr-defined]
    clause.paragraph_format.tab_stops.add_tab_stop(Cm(1.1))  # type: ignore[attr-defined]
    clause.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY  # type: ignore[attr-defined]
    continuation = paragraph_style("Clause Continuation", "Normal")
    continuation.paragraph_format.left_indent = Cm(1.1)  # type: ignore[attr-defined]
    continuation.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY  # type: ignore[attr-defined]
    bullet = paragraph_style("Clause Bullet", "List Bullet")
    bullet.paragraph_format.left_indent = Cm(1.7)  # type: ignore[attr-defined]
    bullet.paragraph_format.first_line_indent = Cm(-0.6)  # type: ignore[attr-defined]
    table_text = paragraph_style("Table Text", "Normal")
    table_text.font.size = Pt(9)  # type: ignore[attr-defined]
    table_text.paragraph_format.space_after = Pt(2)  # type: ignore[attr-defined]
    draft = paragraph_style("Draft Marker", "Header")
    draft.font.bold = True  # type: ignore[attr-defined]
    draft.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)  # type: ignore[attr-defined]

    # Body: one placeholder the engine replaces with the numbered agreement.
    doc.paragraphs[0]._p.getparent().remove(doc.paragraphs[0]._p) if doc.paragraphs else None
    doc.add_paragraph("{{p body }}")

    header = section.header
    header.paragraphs[0].text = "{{ header_title }}"
    header.paragraphs[0].style = styles["Header"]
    header.add_paragraph("{%p if draft %}")
    header.add_paragraph("{{ draft_marker }}", style=styles["Draft Marker"])
    header.add_paragraph("{%p endif %}")

    footer = section.footer
    line = footer.paragraphs[0]
    line.style = styles["Footer"]
    line.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    line.add_run("{{ page_label }} ")
    _field(line, "PAGE", "1")
    line.add_run(" {{ page_of_label }} ")
    _field(line, "NUMPAGES", "1")

    core = doc.core_properties
    core.author = "dpa-engine"
    core.title = "{{ title }}"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "templates/agreement.docx"))
