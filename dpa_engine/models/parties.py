"""Parties to an agreement: addresses, persons and companies, with their identity numbers
checked the way a Belgian/Dutch lawyer would, with python-stdnum: KBO/BCE numbers and Belgian
VAT numbers by their mod-97 check digits, Dutch BTW numbers by theirs, KvK numbers (which have
no check digit) by length."""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator
from stdnum import exceptions as stdnum_errors
from stdnum.be import vat as be_vat
from stdnum.nl import btw as nl_btw

from .common import CountryCode, Language, NonEmptyText, StrictModel

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

