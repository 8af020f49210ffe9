"""Reading generated .docx files in tests (python-docx and the raw XML parts)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import docx


def parts(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n).decode("utf-8") for n in archive.namelist()
                if n.endswith(".xml") or n.endswith(".rels")}


def body_text(path: Path) -> str:
    """All paragraph text of the body, tables included, one paragraph per line."""
    document = docx.Document(str(path))
    lines = []
    for block in document.element.body.iter():
        if block.tag.endswith("}p"):
            lines.append("".join(
                "\t" if t.tag.endswith("}tab") else (t.text or "")
                for t in block.iter() if t.tag.endswith(("}t", "}tab"))))
    # Babel separates amount and currency with a no-break space; compare as plain spaces.
    return "\n".join(lines).replace("\u00a0", " ").replace("\u202f", " ")


def bookmarks(document_xml: str) -> dict[str, str]:
    """Bookmark name -> the text inside it."""
    found = {}
    for match in re.finditer(r'<w:bookmarkStart w:id="(\d+)" w:name="([^"]+)"/>(.*?)'
                             r'<w:bookmarkEnd w:id="\1"/>', document_xml):
        found[match.group(2)] = "".join(re.findall(r"<w:t[^>]*>([^<]*)</w:t>", match.group(3)))
    return found


def ref_fields(document_xml: str) -> list[tuple[str, str]]:
    """(bookmark, displayed result) for every REF field."""
    pattern = (r'<w:instrText xml:space="preserve"> REF (\S+) \\h </w:instrText></w:r>'
               r'<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>([^<]*)</w:t>')
    return re.findall(pattern, document_xml)
