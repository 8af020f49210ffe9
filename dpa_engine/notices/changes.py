"""Sub-processor changes: what a change is, and proposing one.

A change adds, replaces or removes one sub-processor. It goes proposed → planned (who is
affected: planning.py) → sending → sent (delivery/) → closed (closing.py), or is withdrawn
(withdrawal.py). Objections, consents, bounces and posted letters: answers.py.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.chain import append_event
from ..errors import InputError
from ..models import EEA_COUNTRIES, LANGUAGES, SubProcessor, text_in
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import ChangeRow
from ..yamlsource import load_yaml, validate
from .compose import Action
from .deadlines import brussels_day
from .errors import NoticeError
from .provider import current_list, list_entries, provider_snapshot
from .register import now_utc

# A change in one of these states no longer stands in the way of a new proposal.
FINISHED = ("closed", "withdrawn")

class ChangeSummary(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)
    id: int
    action: Action
    subprocessor: SubProcessor | None
    previous: SubProcessor | None
    effective_on: datetime.date
    status: str
    proposed_at: datetime.datetime
    proposed_by: str

    @property
    def subject(self) -> SubProcessor:
        """The sub-processor the notice is about: the new one, or the removed one."""
        found = self.subprocessor or self.previous
        assert found is not None
        return found



def summary(row: ChangeRow) -> ChangeSummary:
    return ChangeSummary.model_validate(row)


def get_change(session: Session, change_id: int) -> ChangeRow:
    row = session.get(ChangeRow, change_id)
    if row is None:
        known = [str(i) for i in session.execute(select(ChangeRow.id).order_by(ChangeRow.id))
                 .scalars()]
        raise NoticeError(f"there is no change {change_id}", field="change",
                          fix=("known changes: " + ", ".join(known)) if known
                          else "propose one first: dpa change propose --add ...")
    return row



# --- propose ---------------------------------------------------------------------------------

class Proposal(BaseModel):
    """What `dpa change propose` asks for (validated before anything is written)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    action: Action
    subprocessor: SubProcessor | None = None
    target: str | None = None  # id of the replaced / removed sub-processor
    effective_on: datetime.date


def _check_new_entry(session: Session, sub: SubProcessor, existing: dict[str, SubProcessor],
                     replacing: str | None) -> None:
    provider = provider_snapshot(session)
    if sub.id in existing and sub.id != replacing:
        raise NoticeError(f"sub-processor '{sub.id}' is already on the list", field="id",
                          fix="give the new sub-processor another id, or use --replace")
    if sub.id == replacing:
        raise NoticeError(f"'{sub.id}' cannot replace itself", field="id",
                          fix="give the new sub-processor its own id")
    for service in sub.services:
        if service not in provider.services:
            raise NoticeError(f"unknown service '{service}'", field="services",
                              fix="use one of " + ", ".join(sorted(provider.services)))
    if any(c not in EEA_COUNTRIES for c in (sub.country, *sub.locations)) and sub.transfer is None:
        raise NoticeError(f"'{sub.id}' processes outside the EEA but has no transfer mechanism",
                          field="transfer", fix="add --transfer scc:3 (or adequacy / bcr)")
    for language in LANGUAGES:
        if text_in(sub.purpose, language) is None:
            raise NoticeError(f"the purpose has no '{language}' text", field="purpose",
                              fix="give the purpose in nl, fr and en (notices go out in all three)")


def _open_change_on(session: Session, ids: set[str]) -> ChangeRow | None:
    for row in session.execute(select(ChangeRow).where(ChangeRow.status.not_in(FINISHED))
                               ).scalars():
        touched = {row.target_id} | ({str(row.subprocessor["id"])} if row.subprocessor else set())
        if touched & ids:
            return row
    return None


def propose_change(db: Database, proposal: Proposal, *, actor: str,
                   now: datetime.datetime | None = None) -> ChangeSummary:
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    if proposal.effective_on < brussels_day(moment):
        raise NoticeError(f"the effective date {proposal.effective_on} is in the past",
                          field="--effective", fix="give today's date or a later one")
    with db.transaction() as session:
        listed = current_list(session)
        existing = {s.id: s for s in list_entries(listed)}
        previous: SubProcessor | None = None
        if proposal.action in ("replace", "remove"):
            if not proposal.target or proposal.target not in existing:
                raise NoticeError(f"'{proposal.target}' is not on the sub-processor list",
                                  field=f"--{proposal.action}",
                                  fix="use one of " + ", ".join(sorted(existing)))
            previous = existing[proposal.target]
        if proposal.action in ("add", "replace"):
            if proposal.subprocessor is None:
                raise NoticeError("the new sub-processor is missing", fix="give --id, --name, "
                                  "--entity, --country, --locations, --purpose, --services")
            _check_new_entry(session, proposal.subprocessor, existing, proposal.target)
        elif proposal.subprocessor is not None:
            raise NoticeError("a removal takes no new sub-processor",
                              fix="give only --remove ID and --effective")
        touched = {s.id for s in (proposal.subprocessor, previous) if s is not None}
        clash = _open_change_on(session, touched)
        if clash is not None:
            raise NoticeError(f"change {clash.id} ({clash.status}) already concerns "
                              f"{', '.join(sorted(touched))}",
                              fix=f"close change {clash.id} first (dpa change close {clash.id}) "
                              f"or withdraw it (dpa change withdraw {clash.id} --reason ...)")
        row = ChangeRow(
            action=proposal.action,
            subprocessor=proposal.subprocessor.model_dump(mode="json", exclude_none=True)
            if proposal.subprocessor else None,
            previous=previous.model_dump(mode="json", exclude_none=True) if previous else None,
            target_id=previous.id if previous else None, effective_on=proposal.effective_on,
            status="proposed", base_list_number=listed.number, proposed_at=moment,
            proposed_by=actor)
        session.add(row)
        session.flush()
        append_event(session, "proposed", actor=actor, at=moment, change_id=row.id,
                     data={"action": row.action, "subprocessor": row.subprocessor,
                           "previous": row.previous, "effective_on": str(row.effective_on),
                           "list_version": listed.number})
        return summary(row)



def subprocessor_from_options(options: dict[str, str | None]) -> SubProcessor:
    """The new sub-processor of `dpa change propose`, from its options by name (`id`, `name`,
    `entity`, `country`, `locations`, `purpose` or `purpose-nl/fr/en`, `services`,
    `engagement`, `transfer`); errors name the option to fix."""
    per_language = {language: options.get(f"purpose-{language}") for language in LANGUAGES}
    values = {"id": options.get("id"), "name": options.get("name"),
              "legal_entity": options.get("entity"), "country": options.get("country"),
              "locations": _split(options.get("locations")),
              "purpose": options.get("purpose")
              or {k: v for k, v in per_language.items() if v} or None,
              "services": _split(options.get("services")),
              "engagement": options.get("engagement") or "systematic",
              "transfer": _transfer(options.get("transfer"))}
    missing = [f"--{k.replace('legal_entity', 'entity').replace('_', '-')}"
               for k, v in values.items() if v is None and k != "transfer"]
    if missing:
        raise NoticeError(f"missing {', '.join(missing)}", field="change propose",
                          fix="describe the new sub-processor, or give --from-file")
    return parse_subprocessor({k: v for k, v in values.items() if v is not None})


def subprocessor_from_file(path: Path) -> SubProcessor:
    """The new sub-processor from a YAML file in the provider profile's format."""
    return validate(SubProcessor, load_yaml(path), error=InputError)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _transfer(value: str | None) -> dict[str, Any] | None:
    """`scc:3[:detail]`, `scc:2`, `adequacy[:detail]` or `bcr[:detail]`."""
    if value is None:
        return None
    kind, _, rest = value.partition(":")
    if kind == "scc":
        module, _, detail = rest.partition(":")
        if module not in ("2", "3"):
            raise NoticeError(f"'{value}' names no SCC module", field="--transfer",
                              fix="write scc:3 (processor to processor) or scc:2")
        return {"kind": "scc", "scc_module": int(module), "detail": detail or None}
    if kind in ("adequacy", "bcr"):
        return {"kind": kind, "detail": rest or None}
    raise NoticeError(f"unknown transfer mechanism '{value}'", field="--transfer",
                      fix="use scc:3, scc:2, adequacy or bcr (optionally ':detail')")


def parse_subprocessor(values: dict[str, Any]) -> SubProcessor:
    """A SubProcessor from CLI values; errors name the option to fix."""
    try:
        return SubProcessor.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).replace("_", "-") if first["loc"] else "input"
        message = str(first["msg"]).removeprefix("Value error, ")
        what, _, fix = message.partition(" — fix: ")
        raise NoticeError(what, field=option, fix=fix or "correct this value") from None


__all__ = ["FINISHED", "ChangeSummary", "Proposal", "get_change", "parse_subprocessor",
           "propose_change", "subprocessor_from_file", "subprocessor_from_options", "summary"]
