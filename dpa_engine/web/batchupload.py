"""Batch upload: several deal files (or one .zip of them) become agreements at once, each
exactly as a single upload followed by *Generate* makes it; one bad file never stops the
others. A .zip is checked whole before anything is made: member count, sizes as declared
and as read, no unsafe member names (they are only shown, never used as paths)."""

from __future__ import annotations

import io
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass
from typing import Literal

from dpa_engine import DpaError, InputError

from . import workflow
from .forms import slug_of
from .library import WebAgreementRow
from .users import User

MAX_BATCH_FILES = 200
MAX_ZIP_UNPACKED = 50_000_000  # all members together, as declared in the .zip
LIMIT_FIX = f"upload at most {MAX_BATCH_FILES} deal files per batch"
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DealUpload:
    """One deal file of the batch: its name as uploaded (data to show, never a path)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Outcome:
    name: str
    result: Literal["final", "awaiting-approval", "refused"]
    agreement_id: int | None = None
    customer: str = ""
    error: str = ""


def collect(files: list[DealUpload]) -> list[DealUpload]:
    """The deal files of the upload: each .zip replaced by its members. Raises InputError
    (nothing is made) for a .zip that cannot be read safely or more than MAX_BATCH_FILES."""
    deals: list[DealUpload] = []
    for upload in files:
        if upload.name.lower().endswith(".zip"):
            deals.extend(read_zip(upload))
        else:
            deals.append(upload)
        if len(deals) > MAX_BATCH_FILES:
            raise InputError(f"more than {MAX_BATCH_FILES} deal files in one batch",
                             fix=f"{LIMIT_FIX}; split the rest into another batch")
    if not deals:
        raise InputError("no deal files in the upload",
                         fix="choose one or more deal .yaml files, or a .zip of them")
    return deals


def read_zip(upload: DealUpload) -> list[DealUpload]:
    """The members of a .zip, read in memory after checking them all."""
    name = _shown(upload.name)
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except (zipfile.BadZipFile, zlib.error, ValueError):
        raise InputError("not a readable .zip file", path=name,
                         fix="make the .zip again, or upload the deal files themselves") from None
    with archive:
        members = [i for i in archive.infolist()
                   if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        _check_members(name, members)
        try:
            return [DealUpload(m.filename, _read_member(archive, name, m)) for m in members]
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError
                ) as exc:
            raise InputError(f"a member cannot be unpacked ({exc})", path=name,
                             fix="make the .zip again with ordinary compression") from None


def _check_members(name: str, members: list[zipfile.ZipInfo]) -> None:
    if len(members) > MAX_BATCH_FILES:
        raise InputError(f"the .zip holds {len(members)} files, more than {MAX_BATCH_FILES}",
                         path=name, fix=f"{LIMIT_FIX}; split the .zip")
    for member in members:
        if unsafe_name(member.filename):
            raise InputError(f"the member name '{_shown(member.filename)}' is not a plain "
                             "relative name", path=name,
                             fix="make the .zip again from a folder of deal files")
        if member.flag_bits & 0x1:
            raise InputError(f"the member '{_shown(member.filename)}' is encrypted", path=name,
                             fix="make the .zip again without a password")
        if member.file_size > workflow.MAX_DEAL_FILE:
            raise InputError(f"the member '{_shown(member.filename)}' unpacks to "
                             f"{member.file_size:,} bytes; a deal file is at most 1 MB",
                             path=name, fix="put only deal .yaml files in the .zip")
    if sum(m.file_size for m in members) > MAX_ZIP_UNPACKED:
        raise InputError("the .zip unpacks to more than 50 MB", path=name,
                         fix="put only deal .yaml files in the .zip")


def _read_member(archive: zipfile.ZipFile, name: str, member: zipfile.ZipInfo) -> bytes:
    with archive.open(member) as handle:
        data = handle.read(workflow.MAX_DEAL_FILE + 1)
    if len(data) > workflow.MAX_DEAL_FILE:  # more than the header declared
        raise InputError(f"the member '{_shown(member.filename)}' unpacks to more than 1 MB",
                         path=name, fix="put only deal .yaml files in the .zip")
    return data


def unsafe_name(member: str) -> bool:
    """Absolute, drive-lettered, with `..`, backslashes or control characters."""
    return (member.startswith("/") or "\\" in member or bool(_DRIVE.match(member))
            or ".." in member.split("/") or bool(_CONTROL.search(member)))


def _shown(name: str) -> str:
    return _CONTROL.sub("?", name)[:200]


def run(context: workflow.WebContext, files: list[DealUpload], user: User) -> list[Outcome]:
    """Every deal file of the batch made into an agreement and generated, in upload order."""
    return [make_one(context, deal, user) for deal in collect(files)]


def make_one(context: workflow.WebContext, deal: DealUpload, user: User) -> Outcome:
    name = _shown(deal.name)
    try:
        form = workflow.form_from_upload(context, deal.data, deal.name)
        made = workflow.add_generated(context, form, user)
    except DpaError as exc:
        return Outcome(name, "refused", error=workflow.public_message(exc))
    except Exception as exc:  # isolate the unexpected too: one file must not stop the batch
        log.exception("batch upload: %s failed", name)
        return Outcome(name, "refused", error=f"internal error ({type(exc).__name__}): "
                                              "report it with the deal file")
    result: Literal["final", "awaiting-approval"] = (
        "final" if made.status == "final" else "awaiting-approval")
    return Outcome(name, result, agreement_id=made.agreement_id, customer=made.customer)


def docx_stem(row: WebAgreementRow) -> str:
    """A safe file name (without suffix) for the agreement's .docx in the batch's .zip."""
    stem = f"{slug_of(row.reference or row.customer_name)}-v{row.version}"
    return stem + ("-draft" if row.draft_marking else "")


def docx_zip(documents: list[tuple[str, bytes]]) -> bytes:
    """(stem, .docx) pairs in one .zip, under distinct names."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for stem, docx in documents:
            name, number = f"{stem}.docx", 1
            while name in used:
                number += 1
                name = f"{stem}-{number}.docx"
            used.add(name)
            archive.writestr(name, docx)
    return buffer.getvalue()
