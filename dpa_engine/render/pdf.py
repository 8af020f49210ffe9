"""PDF conversion with headless LibreOffice (Debian package libreoffice-writer)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import RenderError
from .word import write_atomically

_CANDIDATES = ("soffice", "libreoffice", "/usr/lib/libreoffice/program/soffice")


def find_soffice() -> str | None:
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class LibreOfficeConverter:
    """Converts .docx files to PDF; one private LibreOffice profile per converter."""

    def __init__(self, soffice: str | None = None, timeout: float = 180) -> None:
        binary = soffice or find_soffice()
        if binary is None:
            raise RenderError(
                "LibreOffice is not installed, so no PDF can be made",
                fix="apt-get install libreoffice-writer-nogui (or run without --pdf)")
        self.soffice = binary
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="dpa-lo-profile-")

    def convert(self, docx: Path, pdf: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="dpa-pdf-") as work:
            command = [
                self.soffice, "--headless", "--norestore", "--nolockcheck",
                f"-env:UserInstallation=file://{self._profile.name}",
                "--convert-to", "pdf:writer_pdf_Export", "--outdir", work, str(docx),
            ]
            try:
                result = subprocess.run(command, capture_output=True, text=True,
                                        timeout=self.timeout, env={**os.environ, "HOME": work})
            except subprocess.TimeoutExpired:
                raise RenderError(f"LibreOffice did not finish within {self.timeout:.0f} s",
                                  path=docx, fix="retry; check that no LibreOffice hangs") from None
            produced = Path(work) / (docx.stem + ".pdf")
            if result.returncode != 0 or not produced.is_file():
                detail = (result.stderr or result.stdout).strip().splitlines()
                raise RenderError(
                    "LibreOffice could not convert the document to PDF"
                    + (f" ({detail[-1]})" if detail else ""), path=docx,
                    fix="open the .docx in LibreOffice to see the problem")
            write_atomically(pdf, produced.read_bytes())

    def close(self) -> None:
        self._profile.cleanup()


def convert_to_pdf(docx: Path, pdf: Path) -> None:
    converter = LibreOfficeConverter()
    try:
        converter.convert(docx, pdf)
    finally:
        converter.close()
