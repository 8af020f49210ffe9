"""The provider profile: the provider's identity, services, sub-processor register, security
measures and standard terms."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import (
    EEA_COUNTRIES,
    CountryCode,
    DataCategory,
    Language,
    LocalizedText,
    Period,
    Slug,
    StrictModel,
    text_in,
)
from .parties import Address, Party
from .terms import TermOverrides


class ServiceDefaults(StrictModel):
    """The processing a service usually involves, pre-filled in the web app's guided form."""

    purpose: str = Field(min_length=1)
    nature: str = Field(min_length=1)
    data_subjects: list[str] = Field(min_length=1)
    personal_data: list[DataCategory | str] = Field(min_length=1)
    retention: str = Field(min_length=1)
    duration: str = Field(min_length=1)


class LegalDisclosure(StrictModel):
    """Data the provider must pass to a third party by law (e.g. a social secretariat to the
    Crossroads Bank for Social Security): not a sub-processor, never a change notice."""

    recipient: LocalizedText
    legal_basis: LocalizedText
    data: LocalizedText


class Service(StrictModel):
    id: Slug
    name: LocalizedText
    description: LocalizedText | None = None
    defaults: dict[Language, ServiceDefaults] = Field(
        default_factory=dict, description="Usual processing per language (web form pre-fill)")
    legal_disclosures: list[LegalDisclosure] = Field(
        default_factory=list, description="Disclosures required by law for this service (Annex II)")


class TransferMechanism(StrictModel):
    kind: Literal["adequacy", "scc", "bcr"]
    scc_module: Literal[2, 3] | None = Field(
        default=None, description="SCC 2021/914 module (2 controller-processor, 3 processor-processor)"
    )
    detail: LocalizedText | None = Field(default=None,
                                         description="e.g. 'EU-US Data Privacy Framework'")

    def detail_in(self, language: Language) -> str | None:
        return None if self.detail is None else text_in(self.detail, language)

    @model_validator(mode="after")
    def _module_for_scc(self) -> TransferMechanism:
        if self.kind == "scc" and self.scc_module is None:
            raise ValueError(
                "standard contractual clauses need a module — fix: add 'scc_module: 3' "
                "(processor to processor) or 2"
            )
        return self


class Location(StrictModel):
    """A place of processing finer than a country: a city or a data-centre region."""

    country: CountryCode
    place: LocalizedText = Field(description="city or region, e.g. 'Frankfurt am Main'")


class SubProcessor(StrictModel):
    id: Slug
    name: str = Field(min_length=1)
    legal_entity: str = Field(min_length=1)
    country: CountryCode = Field(description="Country of establishment")
    address: Address | None = Field(default=None, description="The legal entity's address")
    locations: list[CountryCode] = Field(min_length=1, description="Where the data is processed")
    places: list[Location] = Field(
        default_factory=list,
        description="Cities or data-centre regions within `locations`, shown in Annex IV")
    purpose: LocalizedText
    services: list[Slug] = Field(min_length=1, description="Services that use it")
    engagement: Literal["systematic", "incidental"] = "systematic"
    transfer: TransferMechanism | None = None
    group_entity: bool = Field(default=False, description="An entity of the provider's group")
    serves_countries: list[CountryCode] = Field(
        default_factory=list,
        description="Group entity used only for customers established in these countries")

    @model_validator(mode="after")
    def _countries_only_for_group_entities(self) -> SubProcessor:
        for place in self.places:
            if place.country not in self.locations:
                raise ValueError(
                    f"place in {place.country}, which is not among the locations — fix: add "
                    f"{place.country} to 'locations'")
        if self.serves_countries and not self.group_entity:
            raise ValueError(
                "serves_countries is only for group entities — fix: add 'group_entity: true' "
                "or remove serves_countries")
        return self

    @property
    def outside_eea(self) -> bool:
        return any(c not in EEA_COUNTRIES for c in (self.country, *self.locations))

    def serves(self, customer_country: str) -> bool:
        """Whether this sub-processor processes data of a customer established there."""
        return not self.serves_countries or customer_country in self.serves_countries


class Measure(StrictModel):
    category: LocalizedText
    description: LocalizedText
    for_sensitive_data: bool = Field(
        default=False, description="Extra measure for art. 9/10 data (required when such data is processed)"
    )


class AccessCategory(StrictModel):
    """Who may access art. 9/10 data, and in what capacity (Belgian Act of 30 July 2018,
    art. 9 and 10 §2)."""

    category: LocalizedText = Field(description="e.g. 'agents of the medical team'")
    capacity: LocalizedText = Field(description="their role towards the processing")


class DataProtectionOfficer(StrictModel):
    """The provider's data protection officer: a person, or an external firm."""

    name: str = Field(min_length=1)
    external: bool = Field(default=False, description="an external firm or person")
    address: Address | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ().\-/]{6,25}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ProviderProfile(Party):
    """One provider company: identity, services, sub-processor register, measures, terms."""

    supervisory_authority: Literal["BE", "NL"] | None = Field(
        default=None, description="Lead authority; defaults to the registered office's country"
    )
    services: list[Service] = Field(min_length=1)
    subprocessors: list[SubProcessor] = Field(default_factory=list)
    measures: list[Measure] = Field(min_length=1, description="Annex III")
    sensitive_data_access: list[AccessCategory] = Field(
        default_factory=list,
        description="Categories of persons with access to art. 9/10 data (required for such data)")
    backup_retention: Period | None = Field(
        default=None, description="Back-up copies are overwritten within this period")
    dpo: DataProtectionOfficer | None = Field(default=None, description="Annex I")
    standard_terms: TermOverrides = Field(default_factory=TermOverrides)

    def service(self, service_id: str) -> Service:
        return next(s for s in self.services if s.id == service_id)
