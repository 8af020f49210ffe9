"""Deviation approvals: who approved which deviations from the standard terms, and when.

Approvals are stored with the deal, as `<deal>.approvals.yaml` next to the deal file. Each
record holds the deviation set it approved and the sha256 of that set; each record also
carries the hash of the record before it, so an edited or removed record is detected
(tamper-evident log). A deal's deviations count as approved only while the current deviation
set hashes to the latest record's hash: changing, adding or removing a deviation after the
approval brings the DRAFT marking back.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML

from ..errors import InputError
from ..files import write_atomically
from ..yamlsource import load_yaml, validation_error
from .rules import Decision, Deviation

APPROVALS_SUFFIX = ".approvals.yaml"
_HEADER = (
    "# Deviation approvals for this deal, written by `dpa approve`. Do not edit by hand:\n"
    "# every record is protected by the hash of its deviation set and of the record before it.\n"
)


class ApprovedDeviation(BaseModel):
    """One deviation as it was approved (values as canonical text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    parameter: str
    standard: str
    agreed: str


class ApprovalRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approved_by: str = Field(min_length=1)
    approved_at: datetime.datetime
    note: str
    deviations: list[ApprovedDeviation]
    deviations_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    previous_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    record_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ApprovalsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals: list[ApprovalRecord] = Field(default_factory=list)


ApprovalState = Literal["not-needed", "unapproved", "approved", "changed-since-approval",
                        "tampered"]


class ApprovalStatus(BaseModel):
    """Whether a deal's current deviations are approved, for `dpa explain` and generation."""

    model_config = ConfigDict(frozen=True)

    state: ApprovalState
    deviations_sha256: str
    approved_by: str | None = None
    approved_at: datetime.datetime | None = None
    note: str | None = None
    message: str

    @property
    def approved(self) -> bool:
        return self.state in ("approved", "not-needed")


def approvals_path(deal_path: Path) -> Path:
    return deal_path.with_name(deal_path.stem + APPROVALS_SUFFIX)


def _canonical(value: Any) -> str:
    """One text per value: 25000, 25000.00 and Decimal('25000') are the same amount."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value)).normalize()
        return format(number, "f")
    return str(value)


def approved_form(deviations: list[Deviation]) -> list[ApprovedDeviation]:
    return sorted(
        (ApprovedDeviation(parameter=d.parameter, standard=_canonical(d.standard),
                           agreed=_canonical(d.agreed)) for d in deviations),
        key=lambda d: d.parameter,
    )


def _sha256(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def deviation_set_hash(form: list[ApprovedDeviation]) -> str:
    """sha256 of a deviation set (order-independent)."""
    return _sha256([d.model_dump() for d in sorted(form, key=lambda d: d.parameter)])


def _record_hash(record: ApprovalRecord | dict[str, Any]) -> str:
    data = record.model_dump(mode="json") if isinstance(record, ApprovalRecord) else dict(record)
    data.pop("record_sha256", None)
    return _sha256(data)


def read_approvals(deal_path: Path) -> tuple[ApprovalsFile, Path]:
    path = approvals_path(deal_path)
    if not path.is_file():
        return ApprovalsFile(), path
    doc = load_yaml(path)
    if doc.data is None:
        return ApprovalsFile(), path
    try:
        return ApprovalsFile.model_validate(doc.data), path
    except ValidationError as exc:
        raise validation_error(exc, doc, ApprovalsFile, error=InputError) from None


def _broken_record(approvals: ApprovalsFile) -> int | None:
    """Index of the first record whose hashes do not add up, or None."""
    previous: str | None = None
    for index, record in enumerate(approvals.approvals):
        if (record.previous_sha256 != previous
                or record.deviations_sha256 != deviation_set_hash(record.deviations)
                or record.record_sha256 != _record_hash(record)):
            return index
        previous = record.record_sha256
    return None


def approval_status(deal_path: Path, decision: Decision) -> ApprovalStatus:
    current = deviation_set_hash(approved_form(decision.deviations))
    approvals, path = read_approvals(deal_path)
    broken = _broken_record(approvals)
    if broken is not None:
        return ApprovalStatus(
            state="tampered", deviations_sha256=current,
            message=f"{path}: approval record {broken + 1} does not match its hashes (edited by "
                    "hand?) — the deviations count as unapproved; ask legal to approve again "
                    "with `dpa approve`")
    if not decision.deviations:
        return ApprovalStatus(state="not-needed", deviations_sha256=current,
                              message="no deviations from the standard terms: nothing to approve")
    if not approvals.approvals:
        return ApprovalStatus(state="unapproved", deviations_sha256=current,
                              message="deviations not approved yet — legal approves them with "
                                      "`dpa approve DEAL --by NAME --note TEXT`")
    latest = approvals.approvals[-1]
    details = {"approved_by": latest.approved_by, "approved_at": latest.approved_at,
               "note": latest.note}
    if latest.deviations_sha256 != current:
        approved = {d.parameter: d for d in latest.deviations}
        now = {d.parameter: d for d in approved_form(decision.deviations)}
        changed = sorted(p for p in approved.keys() | now.keys() if approved.get(p) != now.get(p))
        return ApprovalStatus(
            state="changed-since-approval", deviations_sha256=current, **details,
            message=f"deviations changed since {latest.approved_by} approved them "
                    f"({', '.join(changed)}) — approve again with `dpa approve`")
    return ApprovalStatus(state="approved", deviations_sha256=current, **details,
                          message=f"deviations approved by {latest.approved_by} on "
                                  f"{latest.approved_at:%Y-%m-%d %H:%M} UTC")


def approved_deviation_names(deal_path: Path, decision: Decision) -> frozenset[str]:
    """The deviations to print without DRAFT marking: all of them if the stored approval's
    hash matches the current deviation set, none otherwise."""
    if not decision.deviations:
        return frozenset()
    status = approval_status(deal_path, decision)
    return frozenset(d.parameter for d in decision.deviations) if status.approved else frozenset()


def approve(deal_path: Path, decision: Decision, *, by: str, note: str,
            at: datetime.datetime | None = None) -> ApprovalRecord:
    """Record that `by` approved the deal's current deviation set; returns the new record."""
    if not by.strip():
        raise InputError("the approver's name is empty", fix="pass --by 'First Last'")
    if not decision.deviations:
        raise InputError("the deal has no deviations from the standard terms: nothing to approve",
                         path=deal_path, fix="only deals with deviations need approval")
    approvals, path = read_approvals(deal_path)
    broken = _broken_record(approvals)
    if broken is not None:
        raise InputError(f"approval record {broken + 1} does not match its hashes (edited by "
                         "hand?)", path=path,
                         fix="restore the file from version control, or move it away and "
                             "approve again")
    form = approved_form(decision.deviations)
    data: dict[str, Any] = {
        "approved_by": by.strip(),
        "approved_at": (at or datetime.datetime.now(datetime.UTC)).replace(microsecond=0),
        "note": note.strip(),
        "deviations": form,
        "deviations_sha256": deviation_set_hash(form),
        "previous_sha256": approvals.approvals[-1].record_sha256 if approvals.approvals else None,
    }
    as_json = ApprovalRecord.model_construct(**data, record_sha256="0" * 64).model_dump(mode="json")
    record = ApprovalRecord.model_validate({**data, "record_sha256": _record_hash(as_json)})
    updated = ApprovalsFile(approvals=[*approvals.approvals, record])
    write_atomically(path, _dump(updated))
    return record


def _dump(approvals: ApprovalsFile) -> bytes:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    stream = io.StringIO()
    stream.write(_HEADER)
    yaml.dump(approvals.model_dump(mode="json"), stream)
    return stream.getvalue().encode("utf-8")
