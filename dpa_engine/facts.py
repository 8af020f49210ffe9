"""The vocabulary shared by the clause library and the rules: fact names, types, values.

Declared here, below both the library loader (which type-checks `when:` conditions against
it) and the rules (which compute the values from a deal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .models import TERM_NAMES, Terms

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
