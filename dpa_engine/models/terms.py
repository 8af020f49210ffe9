"""The negotiable terms: the full set in force for one agreement, and the overrides a provider
profile or a deal gives."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field

from .common import Language, StrictModel


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
