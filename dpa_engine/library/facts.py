"""The facts clause conditions test: each declared (name, type, values) and computed here.

Below both the library loader (which type-checks `when:` conditions against the
declarations) and the rules (which ask for the values of one deal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, get_args

from ..models import TERM_NAMES, Deal, ProviderProfile, SubProcessor, Terms

FactValue = str | float | bool | list[str]
FactType = Literal["text", "number", "boolean", "text-list"]


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: FactType
    description: str
    values: tuple[str, ...] = ()  # the allowed values of a text fact, when enumerable


def _term_spec(name: str) -> FactSpec:
    annotation = Terms.model_fields[name].annotation
    values = tuple(str(v) for v in get_args(annotation))
    if values:
        return FactSpec(name, "text", f"term '{name}'", values)
    return FactSpec(name, "number", f"term '{name}'")


FACTS: dict[str, FactSpec] = {
    spec.name: spec
    for spec in (
        FactSpec("language", "text", "language of the agreement", ("nl", "fr", "en")),
        *(_term_spec(name) for name in TERM_NAMES),
        FactSpec("has_special_categories", "boolean", "art. 9 data in any processing"),
        FactSpec("has_criminal_data", "boolean", "art. 10 data in any processing"),
        FactSpec("has_subprocessors", "boolean",
                 "an active and systematic sub-processor serves a bought service"),
        FactSpec("has_incidental_subprocessors", "boolean",
                 "an incidental sub-processor serves a bought service"),
        FactSpec("has_transfers", "boolean", "an authorised sub-processor processes outside the EEA"),
        FactSpec("has_group_entities", "boolean", "a group entity of the provider serves the deal"),
        FactSpec("has_legal_disclosures", "boolean",
                 "a bought service passes data to a recipient because the law requires it"),
        FactSpec("services", "text-list", "ids of the services bought"),
        FactSpec("customer_country", "text", "customer's registered office country (ISO code)"),
        FactSpec("provider_country", "text", "provider's registered office country (ISO code)"),
    )
}

# Names a clause text may use besides the term parameters (see clauses/README.md).
PARTY_FIELDS = (
    "name", "legal_form", "enterprise_number", "vat_number", "address", "city", "country",
    "signatory_name", "signatory_title", "contact", "register_label",
)
TEXT_NAMES: tuple[str, ...] = (
    *TERM_NAMES,
    "language", "customer", "provider", "authority", "courts_city", "services_list",
    "prevailing_language_name", "backup_retention", "ref",
)


def used_subprocessors(deal: Deal, provider: ProviderProfile) -> list[SubProcessor]:
    """Sub-processors that process this deal's data: they serve a bought service and, for a
    group entity limited to some countries, the customer is established in one of them."""
    return subprocessors_for(provider.subprocessors, deal.services,
                             deal.customer.registered_office.country)


def subprocessors_for(register: Iterable[SubProcessor], services: Iterable[str],
                      customer_country: str) -> list[SubProcessor]:
    """The rule shared by the agreement (Annex IV) and the change-notice planning."""
    bought = set(services)
    return [s for s in register if bought & set(s.services) and s.serves(customer_country)]


def compute_facts(deal: Deal, provider: ProviderProfile, terms: Terms) -> dict[str, FactValue]:
    """The value of every fact in FACTS for one deal under the agreed terms."""
    categories = [c for p in deal.processing for c in p.categories()]
    subs = used_subprocessors(deal, provider)
    facts: dict[str, FactValue] = {"language": deal.language}
    for name in TERM_NAMES:
        value = getattr(terms, name)
        facts[name] = float(value) if isinstance(value, (int, Decimal)) else str(value)
    facts.update(
        has_special_categories=any(c.sensitive == "art9" for c in categories),
        has_criminal_data=any(c.sensitive == "art10" for c in categories),
        has_subprocessors=any(s.engagement == "systematic" for s in subs),
        has_incidental_subprocessors=any(s.engagement == "incidental" for s in subs),
        has_transfers=any(s.outside_eea for s in subs),
        has_group_entities=any(s.group_entity for s in subs),
        has_legal_disclosures=any(
            provider.service(service).legal_disclosures for service in deal.services),
        services=list(deal.services),
        customer_country=deal.customer.registered_office.country,
        provider_country=provider.registered_office.country,
    )
    return facts
