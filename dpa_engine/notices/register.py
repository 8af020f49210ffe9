"""The register of customers: who they are and the agreement versions they signed.

Filled from deal files by importing.py; the provider's snapshot and the sub-processor list
are in provider.py.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..errors import did_you_mean
from ..storage import Database
from ..storage.schema import AgreementRow, ChangeRow, CustomerRow, TargetRow
from .errors import NoticeError

# Outcomes after which a new sub-processor may not process that customer's data.
BLOCKING_OUTCOMES = frozenset({"objected", "refused", "no-consent", "not-notified"})


def slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60] or "customer"


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def current_agreement(customer: CustomerRow) -> AgreementRow:
    return max(customer.agreements, key=lambda a: a.version)


def all_customers(session: Session, *, with_agreements: bool = False) -> list[CustomerRow]:
    """Every customer by key; `with_agreements` loads all their agreements in one more query
    (instead of one query per customer when `current_agreement` is asked for each)."""
    query = select(CustomerRow).order_by(CustomerRow.key)
    if with_agreements:
        query = query.options(selectinload(CustomerRow.agreements))
    return list(session.execute(query).scalars())


def find_customer(session: Session, ref: str) -> CustomerRow:
    """A customer by key (e.g. bakkerij-peeters), enterprise number or exact name."""
    wanted = ref.strip()
    digits = re.sub(r"[\s.\-]", "", wanted).removeprefix("BE")
    customers = all_customers(session)
    for customer in customers:
        if wanted in (customer.key, customer.name) or wanted.lower() == customer.name.lower() \
                or (digits and digits == re.sub(r"[.\s]", "", customer.enterprise_number)):
            return customer
    keys = {c.key for c in customers}
    raise NoticeError(f"unknown customer '{ref}'", field="--customer",
                      fix=did_you_mean(slug(ref), keys) or (
                          "use a customer key from 'dpa customers list'" if keys
                          else "import the deal files first: dpa customers import <folder>"))


def blocked_subprocessors(session: Session, customer: CustomerRow) -> set[str]:
    """Sub-processors a closed change brought in that may not process this customer's data."""
    added = session.execute(
        select(ChangeRow.subprocessor).join(TargetRow, TargetRow.change_id == ChangeRow.id)
        .where(TargetRow.customer_id == customer.id, ChangeRow.status == "closed",
               TargetRow.outcome.in_(BLOCKING_OUTCOMES), TargetRow.kind != "informational")
    ).scalars()
    return {str(sub["id"]) for sub in added if sub}


class CustomerSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    name: str
    enterprise_number: str
    agreement_version: int
    reference: str | None
    language: str
    window_days: int
    window_unit: str
    authorisation: str
    services: list[str]
    notice_emails: list[str]
    fallback_contact: str | None


def list_customers(db: Database) -> list[CustomerSummary]:
    with db.transaction() as session:
        result = []
        for customer in all_customers(session, with_agreements=True):
            agreement = current_agreement(customer)
            result.append(CustomerSummary(
                key=customer.key, name=customer.name, enterprise_number=customer.enterprise_number,
                agreement_version=agreement.version, reference=agreement.reference,
                language=agreement.language, window_days=agreement.window_days,
                window_unit=agreement.window_unit, authorisation=agreement.authorisation,
                services=list(agreement.services), notice_emails=list(agreement.notice_emails),
                fallback_contact=customer.fallback_contact))
        return result


__all__ = ["BLOCKING_OUTCOMES", "CustomerSummary", "all_customers", "blocked_subprocessors",
           "current_agreement", "find_customer", "list_customers", "now_utc", "slug"]
