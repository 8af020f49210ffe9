"""Checks on every file the product writes, before it is moved into place.

Input is checked where it enters, yet a file a client cannot open must never be reported as
written: each XML part of a .docx and each XML feed is parsed once more (expat, the parser
Python ships) before the file replaces anything.
"""

from __future__ import annotations

import io
import xml.parsers.expat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import RenderError

_XML_SUFFIXES = (".xml", ".rels")


def check_xml(data: bytes, *, what: str, path: Path | None = None) -> None:
    """Raise a RenderError when `data` is not well-formed XML."""
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise RenderError(
            f"internal check failed: {what} is not well-formed XML ({exc}); nothing was written",
            path=path, fix="report this with the input that produced it") from None


def check_parts(parts: Iterable[tuple[str, bytes]], *, path: Path | None = None) -> None:
    """Every XML part (name, raw bytes) of a package is well-formed."""
    for name, data in parts:
        if name.endswith(_XML_SUFFIXES):
            check_xml(data, what=f"the part {name}", path=path)


def check_docx(data: bytes, *, path: Path | None = None) -> None:
    """A complete .docx: a readable ZIP whose every XML part is well-formed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_parts(((info.filename, archive.read(info)) for info in archive.infolist()),
                        path=path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise RenderError(f"internal check failed: not a readable .docx ({exc}); nothing was "
                          "written", path=path, fix="report this with the input that produced it"
                          ) from None
