"""The facts clause conditions test: each declared (name, type, values) and computed here.

Below both the library loader (which type-checks `when:` conditions against the
declarations) and the rules (which ask for the values of one deal).
"""

from __future__ import annotations

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
        FactSpec("services", "text-list", "ids of the services bought"),
        FactSpec("customer_country", "text", "customer's registered office country (ISO code)"),
        FactSpec("provider_country", "text", "provider's registered office country (ISO code)"),
    )
}

# Names a clause text may use besides the term parameters (see clauses/README.md).
PARTY_FIELDS = (
    "name", "legal_form", "enterprise_number", "vat_number", "address", "city", "country",
    "signatory_name", "signatory_title", "contact",
)
TEXT_NAMES: tuple[str, ...] = (
    *TERM_NAMES,
    "language", "customer", "provider", "authority", "courts_city", "services_list",
    "prevailing_language_name", "ref",
)


def used_subprocessors(deal: Deal, provider: ProviderProfile) -> list[SubProcessor]:
    """Sub-processors that serve at least one of the services the deal buys."""
    bought = set(deal.services)
    return [s for s in provider.subprocessors if bought & set(s.services)]


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
        services=list(deal.services),
        customer_country=deal.customer.registered_office.country,
        provider_country=provider.registered_office.country,
    )
    return facts
