"""The deal: one customer agreement — who, which services, what processing, what was negotiated."""

from __future__ import annotations

import datetime
from typing import Annotated

from pydantic import Field, model_validator

from .common import DataCategory, Language, LocalizedText, Period, Slug, StrictModel
from .parties import Party, Person
from .terms import TermOverrides


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
