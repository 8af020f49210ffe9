"""A change's letters and its evidence pack as bytes, for a download (the staff web app):
what `dpa change letters` and `dpa audit export CHANGE` write to disk, written to a private
temporary folder and read back, so the files are exactly the commands' files."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ..audit.chain import AuditVerification
from ..mail import SmtpSettings
from ..render import DocxRenderer
from ..storage import Database
from .delivery import letters
from .evidence import export_checked
from .texts import NoticeTexts

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    """A file name any system (and any zip tool) takes as it is: letters, digits, '.', '_'
    and '-' only, no leading dot, at most 120 characters."""
    return _UNSAFE.sub("-", name).strip("-.")[:120] or "file"


class Pack(BaseModel):
    """A .zip to hand over: its bytes, a safe file name, and what it holds."""

    model_config = ConfigDict(frozen=True)
    filename: str
    data: bytes
    files: list[str]


def letters_pack(db: Database, change_id: int, *, renderer: DocxRenderer, texts: NoticeTexts,
                 settings: SmtpSettings | None = None, only_unnotified: bool = False) -> Pack:
    """The change's .docx letters (`dpa change letters`, with `--unnotified` when
    `only_unnotified`) in one .zip; the library's refusal (a NoticeError) when there is none."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="dpa-letters-") as folder:
        written = letters(db, change_id, Path(folder), renderer=renderer, texts=texts,
                          settings=settings, only_unnotified=only_unnotified)
        names = [safe_file_name(path.name) for path in written]
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
            for path, name in zip(written, names, strict=True):
                pack.writestr(name, path.read_bytes())
    suffix = "-not-notified" if only_unnotified else ""
    return Pack(filename=f"change-{change_id}-letters{suffix}.zip", data=buffer.getvalue(),
                files=names)


def evidence_pack(db: Database, change_id: int, *, renderer: DocxRenderer
                  ) -> tuple[Pack, AuditVerification]:
    """The evidence pack of one change (`dpa audit export CHANGE`) and its verification (a
    pack whose log does not verify is still evidence: it says BROKEN, the caller tells)."""
    with tempfile.TemporaryDirectory(prefix="dpa-evidence-") as folder:
        path, verification = export_checked(db, Path(folder) / "evidence.zip",
                                            renderer=renderer, change_id=change_id)
        data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as pack:
        files = pack.namelist()
    return Pack(filename=f"change-{change_id}-evidence.zip", data=data, files=files), verification


__all__ = ["Pack", "evidence_pack", "letters_pack", "safe_file_name"]
