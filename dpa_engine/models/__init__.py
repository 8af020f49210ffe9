"""pydantic models for every input (provider profile, deal) and the negotiable terms.

`common` holds the shared types, `parties` the companies and persons with their identity
numbers, `terms` the negotiable terms, `provider` the provider profile, `deal` the deal.
Import from here: `from dpa_engine.models import Deal`.
"""

from __future__ import annotations

from .common import (
    EEA_COUNTRIES,
    LANGUAGES,
    CountryCode,
    DataCategory,
    Language,
    LocalizedText,
    NonEmptyText,
    Period,
    Slug,
    StrictModel,
    text_in,
)
from .deal import Customer, Deal, Processing, RetentionRule
from .parties import Address, Party, Person, belgian_enterprise_number, dutch_kvk_number, vat_number
from .provider import (
    AccessCategory,
    DataProtectionOfficer,
    LegalDisclosure,
    Location,
    Measure,
    ProviderProfile,
    Service,
    ServiceDefaults,
    SubProcessor,
    TransferMechanism,
)
from .terms import TERM_NAMES, TermOverrides, Terms

__all__ = [
    "EEA_COUNTRIES", "LANGUAGES", "TERM_NAMES", "AccessCategory", "Address", "CountryCode",
    "Customer", "DataCategory", "DataProtectionOfficer", "Deal", "Language", "LegalDisclosure",
    "LocalizedText", "Location", "Measure", "NonEmptyText", "Party", "Period", "Person",
    "Processing", "ProviderProfile", "RetentionRule", "Service", "ServiceDefaults", "Slug",
    "StrictModel", "SubProcessor", "TermOverrides", "Terms", "TransferMechanism",
    "belgian_enterprise_number", "dutch_kvk_number", "text_in", "vat_number",
]
