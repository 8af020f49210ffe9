"""pydantic models for every input (provider profile, deal) and the negotiable terms.

Identity fields are checked the way a Belgian/Dutch lawyer would, with python-stdnum: KBO/BCE
numbers and Belgian VAT numbers by their mod-97 check digits, Dutch BTW numbers by theirs,
KvK numbers (which have no check digit) by length.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from stdnum import exceptions as stdnum_errors
from stdnum.be import vat as be_vat
from stdnum.nl import btw as nl_btw

from .safetext import UNSAFE_FIX, first_unsafe

Language = Literal["nl", "fr", "en"]
LANGUAGES: tuple[Language, ...] = ("nl", "fr", "en")
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="lower-case id")]

# EU member states plus Iceland, Liechtenstein and Norway.
EEA_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})


class StrictModel(BaseModel):
    """Unknown keys are errors; values are immutable once loaded; text no document can hold
    (control characters, U+FFFE/U+FFFF) is refused, also inside lists and per-language texts."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_control_characters(cls, value: object) -> object:
        found = first_unsafe(value)
        if found is not None:
            raise ValueError(f"{found[1]} — fix: {UNSAFE_FIX}")
        return value


# Text supplied by a provider that must exist in the agreement's language:
# either one string for every language, or a mapping per language.
NonEmptyText = Annotated[str, Field(min_length=1)]
LocalizedText = NonEmptyText | dict[Language, NonEmptyText]


def text_in(value: LocalizedText, language: Language) -> str | None:
    """The text for `language`, or None when a per-language mapping lacks it."""
    if isinstance(value, str):
        return value
    return value.get(language)


# --- identity numbers ---------------------------------------------------------------------

def _digits(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value)


def belgian_enterprise_number(value: str) -> str:
    """Validate a KBO/BCE number (mod-97) and return it as 0xxx.xxx.xxx."""
    digits = _digits(value).upper().removeprefix("BE")
    if not re.fullmatch(r"[01]\d{9}", digits):
        raise ValueError(
            f"'{value}' is not a Belgian enterprise number — fix: write 10 digits starting "
            "with 0 or 1, e.g. 0xxx.xxx.xxx"
        )
    try:
        be_vat.validate(digits)
    except stdnum_errors.ValidationError:
        raise ValueError(
            f"'{value}' fails the KBO/BCE check digits (mod 97) — fix: copy the number "
            "exactly from the Crossroads Bank for Enterprises"
        ) from None
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def dutch_kvk_number(value: str) -> str:
    digits = _digits(value)
    if not re.fullmatch(r"\d{8}", digits):
        raise ValueError(
            f"'{value}' is not a Dutch KvK number — fix: write the 8 digits of the "
            "Handelsregister number"
        )
    return digits


def vat_number(value: str, country: str) -> str:
    compact = _digits(value).upper()
    if country == "BE":
        if not compact.startswith("BE"):
            raise ValueError(f"'{value}' is not a Belgian VAT number — fix: write BE0xxxxxxxxx")
        return "BE" + belgian_enterprise_number(compact[2:]).replace(".", "")
    if country == "NL":
        if not re.fullmatch(r"NL\d{9}B\d{2}", compact):
            raise ValueError(f"'{value}' is not a Dutch VAT number — fix: write NLxxxxxxxxxB01")
        try:
            return "NL" + nl_btw.validate(compact)
        except stdnum_errors.ValidationError:
            raise ValueError(
                f"'{value}' fails the Dutch BTW check digits — fix: copy the number exactly "
                "from the invoice or the KvK extract") from None
    if not re.fullmatch(r"[A-Z]{2}[0-9A-Z]{2,13}", compact):
        raise ValueError(f"'{value}' is not a VAT number — fix: country prefix then the number")
    return compact


# --- parties --------------------------------------------------------------------------------

class Address(StrictModel):
    street: str = Field(min_length=1)
    postal_code: str = Field(min_length=1)
    city: str = Field(min_length=1)
    country: CountryCode

    def one_line(self) -> str:
        return f"{self.street}, {self.postal_code} {self.city}"


class Person(StrictModel):
    name: str = Field(min_length=1)
    title: str | dict[Language, NonEmptyText] = Field(
        default="", description="the person's function, one text or one per language")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Party(StrictModel):
    """A company party to the agreement (customer/controller or provider/processor)."""

    name: str = Field(min_length=1, description="Legal name as registered")
    legal_form: str = Field(min_length=1, description="e.g. BV, NV, SRL, B.V.")
    registered_office: Address
    enterprise_number: str = Field(description="KBO/BCE (BE), KvK (NL) or local registry number")
    vat_number: str | None = None
    privacy_contact: Person | None = Field(default=None, description="DPO or privacy contact")
    signatory: Person | None = None

    @staticmethod
    def _country(info: ValidationInfo) -> str | None:
        office = info.data.get("registered_office")
        return office.country if isinstance(office, Address) else None

    @field_validator("enterprise_number")
    @classmethod
    def _check_enterprise_number(cls, value: str, info: ValidationInfo) -> str:
        country = cls._country(info)
        if country == "BE":
            return belgian_enterprise_number(value)
        if country == "NL":
            return dutch_kvk_number(value)
        if not value.strip():
            raise ValueError("enterprise number is empty — fix: give the registry number")
        return value

    @field_validator("vat_number")
    @classmethod
    def _check_vat_number(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = cls._country(info)
        return None if value is None else vat_number(value, country or "")


# --- provider profile -----------------------------------------------------------------------

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


class Period(StrictModel):
    count: int = Field(ge=1, le=1200)
    unit: Literal["days", "weeks", "months", "years"]


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


class TermOverrides(StrictModel):
    """Negotiable terms; unset fields keep the standard. Used by profiles and deals."""

    objection_window_days: int | None = Field(default=None, ge=1, le=90)
    objection_window_unit: Literal["calendar", "business"] | None = None
    subprocessor_authorisation: Literal["general", "specific"] | None = None
    liability_cap_total: Decimal | None = Field(default=None, ge=0)
    liability_cap_other: Decimal | None = Field(default=None, ge=0)
    governing_law: Literal["BE", "NL"] | None = None
    prevailing_language: Language | None = None
    assistance_costs: Literal["customer", "provider"] | None = None
    audit_costs: Literal["customer", "provider"] | None = None
    audit_notice_days: int | None = Field(default=None, ge=1, le=365)
    audit_frequency_per_year: int | None = Field(default=None, ge=1, le=12)
    breach_notification_hours: int | None = Field(default=None, ge=0, le=720)

    def given(self) -> dict[str, object]:
        return self.model_dump(exclude_none=True)


class Terms(StrictModel):
    """The full set of term parameters in force for one agreement."""

    objection_window_days: int = Field(ge=1, le=90)
    objection_window_unit: Literal["calendar", "business"]
    subprocessor_authorisation: Literal["general", "specific"]
    liability_cap_total: Decimal = Field(ge=0)
    liability_cap_other: Decimal = Field(ge=0)
    governing_law: Literal["BE", "NL"]
    prevailing_language: Language
    assistance_costs: Literal["customer", "provider"]
    audit_costs: Literal["customer", "provider"]
    audit_notice_days: int = Field(ge=1, le=365)
    audit_frequency_per_year: int = Field(ge=1, le=12)
    breach_notification_hours: int = Field(
        default=0, ge=0, le=720,
        description="optional term: 0 (the product's standard) states no fixed number of hours")


TERM_NAMES: tuple[str, ...] = tuple(Terms.model_fields)


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


# --- deal -----------------------------------------------------------------------------------

class DataCategory(StrictModel):
    name: LocalizedText
    sensitive: Literal["art9", "art10"] | None = Field(
        default=None, description="art9 = special categories, art10 = criminal convictions/offences"
    )


class RetentionRule(StrictModel):
    """How long one category of data is kept: a period, counted from an event or from the
    end of the agreement (`after_end: true`); `after_end` alone means until the end."""

    data: LocalizedText = Field(description="the category of data, e.g. 'access logs'")
    period: Period | None = None
    after: LocalizedText | None = Field(default=None,
                                        description="the event the period runs from, e.g. 'the decision'")
    after_end: bool = Field(default=False, description="counted from the end of the agreement")

    @model_validator(mode="after")
    def _period_or_end(self) -> RetentionRule:
        if self.period is None and not self.after_end:
            raise ValueError("give a 'period: {count: 12, unit: months}', or "
                             "'after_end: true' to keep the data until the end of the agreement")
        if self.after_end and self.after is not None:
            raise ValueError("'after' and 'after_end' exclude each other — fix: keep one")
        return self


class Processing(StrictModel):
    service: Slug
    purpose: LocalizedText
    nature: LocalizedText
    data_subjects: list[LocalizedText] = Field(min_length=1)
    personal_data: list[DataCategory | LocalizedText] = Field(min_length=1)
    retention: LocalizedText | list[RetentionRule] = Field(
        description="free text, or a list of periods per category of data")
    duration: LocalizedText

    def categories(self) -> list[DataCategory]:
        return [c if isinstance(c, DataCategory) else DataCategory(name=c)
                for c in self.personal_data]


class Customer(Party):
    signatory: Person
    notice_emails: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]] = Field(
        default_factory=list, description="Where sub-processor notices go"
    )


class Deal(StrictModel):
    """One customer agreement: who, which services, what processing, what was negotiated."""

    provider: str = Field(description="Path to the provider profile, relative to the deal file")
    reference: str | None = Field(default=None, description="Agreement reference, e.g. DPA-2026-001")
    version: int = Field(default=1, ge=1, le=1_000_000)
    agreement_date: datetime.date | None = None
    customer: Customer
    provider_signatory: Person | None = None
    language: Language
    services: list[Slug] = Field(min_length=1)
    processing: list[Processing] = Field(min_length=1)
    deviations: TermOverrides = Field(default_factory=TermOverrides)
    courts_city: str | None = Field(
        default=None, description="City of the competent courts, when it cannot be derived"
    )
