"""PDF conversion with headless LibreOffice (Debian package libreoffice-writer)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import RenderError
from ..files import write_atomically

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


SYSTEM_PYTHON = "/usr/bin/python3"


def uno_available() -> bool:
    """Debian's python3-uno lets one LibreOffice process convert many documents."""
    if find_soffice() is None or not Path(SYSTEM_PYTHON).is_file():
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True)
    return probe.returncode == 0


class WarmLibreOffice:
    """One long-lived headless LibreOffice, driven over UNO by uno_bridge.py.

    Converting in a warm process costs a fraction of a cold start per document; batch workers
    keep one each. Falls back to nothing: callers check `uno_available()` first.
    """

    def __init__(self, timeout: float = 120) -> None:
        soffice = find_soffice()
        if soffice is None:
            raise RenderError("LibreOffice is not installed, so no PDF can be made",
                              fix="apt-get install libreoffice-writer-nogui python3-uno")
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="dpa-lo-warm-")
        bridge = Path(__file__).with_name("uno_bridge.py")
        self._process = subprocess.Popen(
            [SYSTEM_PYTHON, str(bridge), soffice, self._profile.name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "HOME": self._profile.name},
        )
        hello = self._read()
        if not hello.get("ready"):
            self.close()
            raise RenderError(f"LibreOffice could not be started ({hello.get('error', '?')})",
                              fix="check the LibreOffice installation (soffice --headless)")

    def _read(self) -> dict[str, object]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            return {"ok": False, "ready": False, "error": "the LibreOffice bridge stopped"}
        result: dict[str, object] = json.loads(line)
        return result

    def convert(self, docx: Path, pdf: Path) -> None:
        assert self._process.stdin is not None
        with tempfile.TemporaryDirectory(prefix="dpa-pdf-", dir=pdf.parent) as work:
            produced = Path(work) / (pdf.stem + ".pdf")
            request = {"docx": str(docx.resolve()), "pdf": str(produced.resolve())}
            try:
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            except BrokenPipeError:
                raise RenderError("the LibreOffice bridge stopped", path=docx) from None
            answer = self._read()
            if not answer.get("ok") or not produced.is_file():
                raise RenderError(f"LibreOffice could not convert the document to PDF "
                                  f"({answer.get('error', 'no PDF produced')})", path=docx,
                                  fix="open the .docx in LibreOffice to see the problem")
            os.replace(produced, pdf)

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._profile.cleanup()
