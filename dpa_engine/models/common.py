"""Types shared by every input: languages, countries, texts per language, the strict base model,
and the small value types both a provider profile and a deal use (periods, data categories)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..safetext import UNSAFE_FIX, first_unsafe

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


class Period(StrictModel):
    count: int = Field(ge=1, le=1200)
    unit: Literal["days", "weeks", "months", "years"]


class DataCategory(StrictModel):
    name: LocalizedText
    sensitive: Literal["art9", "art10"] | None = Field(
        default=None, description="art9 = special categories, art10 = criminal convictions/offences"
    )
