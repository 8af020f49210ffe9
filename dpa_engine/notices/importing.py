"""Filling the register from deal files: who signed what.

`import_deals` reads deal files (with their provider profile), lets the rules decide the
agreed terms, and stores what each customer signed: language, objection window (days, unit,
holiday calendar), authorisation type, remedy, services and notice addresses. Later notices
use these stored terms, never today's standard. All or nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..agreements.deals import LoadedDeal, ProviderCache, load_deal, scan_deal_folder
from ..agreements.rules import Decision, decide
from ..audit.chain import append_event
from ..library import Library
from ..safetext import safe_fields
from ..storage import Database
from ..storage.schema import AgreementRow, CustomerRow, Meta
from .errors import NoticeError
from .provider import ProviderSnapshot, current_list, installation_id, list_entries, publish_list
from .register import now_utc, slug


class ImportedAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)
    customer: str
    name: str
    version: int
    language: str
    window: str
    authorisation: str
    services: list[str]
    status: Literal["new", "unchanged", "contacts-updated"]


class ImportFailure(BaseModel):
    """An entry of a deals folder that could not be read (a folder, a dangling link ...)."""

    model_config = ConfigDict(frozen=True)
    path: str
    error: str


class ImportReport(BaseModel):
    model_config = ConfigDict(frozen=True)
    provider: str
    agreements: list[ImportedAgreement]
    notes: list[str]
    failed: list[ImportFailure] = []


def expand_deal_paths(paths: list[Path]) -> tuple[list[Path], list[ImportFailure]]:
    """Deal files given directly, in a folder (YAML files with a `customer:` key, as batch
    generation finds them), or listed as generated in a batch summary (batch-summary.json);
    and the entries of a folder that cannot be read (each one failure, the rest goes on)."""
    found: list[Path] = []
    failed: list[ImportFailure] = []
    for path in paths:
        if path.is_dir():
            scan = scan_deal_folder(path)
            failed.extend(ImportFailure(path=str(item), error=exc.message)
                          for item, exc in scan.unreadable)
            if not scan.deals and not scan.unreadable:
                raise NoticeError("no deal files in this folder", path=path,
                                  fix="give deal files, a folder of deal YAML files, or a "
                                  "batch-summary.json")
            found.extend(scan.deals)
        elif path.is_file() and path.suffix.lower() == ".json":
            found.extend(_deals_from_manifest(path))
        elif path.is_file():
            found.append(path)
        else:
            raise NoticeError("file or folder not found", path=path, fix="check the path")
    return found, failed


def _deals_from_manifest(path: Path) -> list[Path]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = [item for item in data["items"] if item.get("status") == "ok"]
        deals = [Path(str(item["deal"])) for item in items]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise NoticeError("not a batch summary (batch-summary.json) of generated agreements",
                          path=path, fix="give the batch-summary.json that 'dpa batch' wrote"
                          ) from None
    resolved = []
    for deal in deals:
        candidates = [deal] if deal.is_absolute() else [Path.cwd() / deal, path.parent / deal]
        match = next((c for c in candidates if c.is_file()), None)
        if match is None:
            raise NoticeError(f"deal file '{deal}' listed in the batch summary was not found",
                              path=path, fix="run the import from the folder the batch ran in")
        resolved.append(match)
    return resolved


def _agreement_values(loaded: LoadedDeal, decision: Decision) -> dict[str, Any]:
    deal, terms = loaded.deal, decision.terms
    if not _notice_emails(loaded):
        raise loaded.deal_error(("customer",), "the customer has no address for sub-processor "
                                "notices", "add 'notice_emails: [privacy@customer.example]' "
                                "under customer:")
    return {
        "reference": deal.reference,
        "language": deal.language,
        "window_days": terms.objection_window_days,
        "window_unit": terms.objection_window_unit,
        "authorisation": terms.subprocessor_authorisation,
        "governing_law": terms.governing_law,
        # 'business days' follow the public holidays of the law that governs the agreement
        "holiday_country": terms.governing_law,
        "remedy": "terminate-service" if terms.subprocessor_authorisation == "general"
        else "terminate-either",
        "services": list(deal.services),
        "clause_versions": {c.id: c.version for c in decision.clauses
                            if c.included and c.family == "subprocessors"},
        "signed_on": deal.agreement_date,
    }


def _fallback_contact(loaded: LoadedDeal) -> str | None:
    customer = loaded.deal.customer
    for person in (customer.privacy_contact, customer.signatory):
        if person and person.email and person.email not in customer.notice_emails:
            return f"{person.name} <{person.email}>"
    if customer.signatory:
        return f"{customer.signatory.name} (by post: {customer.registered_office.one_line()})"
    return None


def import_deals(db: Database, paths: list[Path], library: Library, *, actor: str,
                 now: datetime.datetime | None = None) -> ImportReport:
    """Register the customers and agreements of deal files; all or nothing."""
    safe_fields({"actor": actor}, error=NoticeError)
    moment = now or now_utc()
    prepared = []
    providers_loaded = ProviderCache()  # deals sharing one profile parse it once
    deal_paths, failed = expand_deal_paths(paths)
    if not deal_paths and failed:
        raise NoticeError(f"no deal file could be read ({len(failed)} unreadable; the first: "
                          f"{failed[0].error})", fix="give deal files that can be read")
    for path in deal_paths:
        loaded = load_deal(path, providers_loaded)
        decision = decide(loaded, library)
        prepared.append((loaded, _agreement_values(loaded, decision)))
    providers = {p[0].provider.name for p in prepared}
    if len(providers) > 1:
        raise NoticeError(f"the deal files name different providers ({', '.join(sorted(providers))})",
                          fix="keep one register (database) per provider: import them with "
                          "different --db")
    notes: list[str] = []
    imported: list[ImportedAgreement] = []
    with db.transaction() as session:
        installation_id(session)
        provider_name = ""
        last_profile: object = None
        for loaded, values in prepared:
            if loaded.provider is not last_profile:  # the same profile again changes nothing
                provider_name = _ensure_provider(session, loaded, moment, actor, notes)
                last_profile = loaded.provider
            imported.append(_import_one(session, loaded, values, moment, actor))
    return ImportReport(provider=provider_name, agreements=imported, notes=sorted(set(notes)),
                        failed=failed)


def _ensure_provider(session: Session, loaded: LoadedDeal, moment: datetime.datetime, actor: str,
                     notes: list[str]) -> str:
    provider = loaded.provider
    snapshot = ProviderSnapshot(
        name=provider.name,
        privacy_email=provider.privacy_contact.email if provider.privacy_contact else None,
        services={s.id: s.name for s in provider.services},
        source=str(loaded.provider_path))
    row = session.get(Meta, "provider")
    if row is None:
        session.add(Meta(key="provider", value=snapshot.model_dump(mode="json")))
        session.flush()
        append_event(session, "register-created", actor=actor, at=moment,
                     data={"provider": snapshot.model_dump(mode="json")})
        publish_list(session, list(provider.subprocessors), at=moment, actor=actor,
                     note=f"initial list from {loaded.provider_path.name}")
        return provider.name
    stored = ProviderSnapshot.model_validate(row.value)
    if stored.name != provider.name:
        raise NoticeError(f"this register belongs to provider '{stored.name}', the deal names "
                          f"'{provider.name}'", path=loaded.deal_path,
                          fix="use another database (--db) for another provider")
    if stored.services != snapshot.services or stored.privacy_email != snapshot.privacy_email:
        row.value = snapshot.model_dump(mode="json")
        append_event(session, "provider-updated", actor=actor, at=moment,
                     data={"provider": row.value})
    registered = {s.id for s in list_entries(current_list(session))}
    profile = {s.id for s in provider.subprocessors}
    if registered != profile:
        notes.append(f"{loaded.provider_path.name} lists sub-processors "
                     f"{', '.join(sorted(profile)) or '-'} but the register has "
                     f"{', '.join(sorted(registered)) or '-'}: the register is kept; changes go "
                     "through 'dpa change propose'")
    return provider.name


def _import_one(session: Session, loaded: LoadedDeal, values: dict[str, Any],
                moment: datetime.datetime, actor: str) -> ImportedAgreement:
    deal = loaded.deal
    source_hash = hashlib.sha256(loaded.deal_path.read_bytes()).hexdigest()
    customer = session.execute(select(CustomerRow).where(
        CustomerRow.enterprise_number == deal.customer.enterprise_number)).scalar_one_or_none()
    if customer is None:
        key = base = slug(deal.customer.name)
        suffix = 2
        while session.execute(select(CustomerRow).where(CustomerRow.key == key)
                              ).scalar_one_or_none():
            key, suffix = f"{base}-{suffix}", suffix + 1
        customer = CustomerRow(key=key, enterprise_number=deal.customer.enterprise_number,
                               country=deal.customer.registered_office.country,
                               created_at=moment)
        session.add(customer)
    customer.name = deal.customer.name
    customer.fallback_contact = _fallback_contact(loaded)
    customer.contact_name = _contact_name(loaded)
    session.flush()
    emails = _notice_emails(loaded)
    agreement = session.execute(select(AgreementRow).where(
        AgreementRow.customer_id == customer.id, AgreementRow.version == deal.version)
    ).scalar_one_or_none()
    status: Literal["new", "unchanged", "contacts-updated"] = "new"
    if agreement is None:
        agreement = AgreementRow(customer_id=customer.id, version=deal.version,
                                 notice_emails=emails, source=str(loaded.deal_path),
                                 source_hash=source_hash, imported_at=moment, **values)
        session.add(agreement)
        session.flush()
        session.refresh(customer)
    else:
        differing = [k for k, v in values.items() if getattr(agreement, k) != v]
        if differing:
            raise loaded.deal_error(
                ("version",), f"version {deal.version} of the agreement with {deal.customer.name} "
                f"is already registered with other terms ({', '.join(differing)})",
                "a signed agreement does not change: give the new terms a higher 'version:'")
        if agreement.notice_emails != emails:
            agreement.notice_emails = emails
            status = "contacts-updated"
        else:
            status = "unchanged"
    if status != "unchanged":
        append_event(session, "customer-imported" if status == "new" else "contacts-updated",
                     actor=actor, at=moment, customer_key=customer.key,
                     data={"version": deal.version, "source": str(loaded.deal_path),
                           "source_sha256": source_hash, "notice_emails": emails, **values,
                           "signed_on": str(values["signed_on"]) if values["signed_on"] else None})
    window = f"{values['window_days']} {values['window_unit']} days"
    return ImportedAgreement(customer=customer.key, name=customer.name, version=deal.version,
                             language=values["language"], window=window,
                             authorisation=values["authorisation"], services=values["services"],
                             status=status)


def _contact_name(loaded: LoadedDeal) -> str | None:
    """Whom a notice greets: the privacy contact, else the signatory (a person's name)."""
    customer = loaded.deal.customer
    person = customer.privacy_contact or customer.signatory
    return person.name if person else None


def _notice_emails(loaded: LoadedDeal) -> list[str]:
    """The addresses notices go to: the deal's notice_emails, else the privacy contact's."""
    customer = loaded.deal.customer
    if customer.notice_emails:
        return list(customer.notice_emails)
    contact = customer.privacy_contact
    return [contact.email] if contact and contact.email else []


__all__ = ["ImportFailure", "ImportReport", "ImportedAgreement", "expand_deal_paths",
           "import_deals"]
