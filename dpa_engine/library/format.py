"""The clause file format legal edits (see clauses/README.md), as pydantic models."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator

from ..models import LANGUAGES, Language, StrictModel

ClauseId = Annotated[str, Field(pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$", description="<family>.<name>")]

_GDPR = [
    "9", "10", "28(1)", "28(2)", "28(3)", *(f"28(3)({c})" for c in "abcdefgh"), "28(4)",
    "28(9)", "29", "32", "33", "33(2)", "34", "35", "36", "82(2)", "Chapter III", "Chapter V",
]
_SCC_2021_915 = [
    *(f"2021/915 7.{n}" for n in range(1, 9)), "2021/915 8", "2021/915 9", "2021/915 10",
    *(f"2021/915 Annex {n}" for n in ("I", "II", "III", "IV")),
]
_STANDARD_TERMS = [f"terms {n}" for n in range(1, 14)]
LEGAL_REFERENCES: tuple[str, ...] = (*_GDPR, *_SCC_2021_915, *_STANDARD_TERMS)

# art. 28 elements every agreement must cover (issue: legal correctness is tested).
REQUIRED_REFERENCES: tuple[str, ...] = (
    *(f"28(3)({c})" for c in "abcdefgh"), "28(2)", "28(4)", "33(2)",
)

# The labels the renderer needs; labels.yaml must give each one in every language.
LABEL_KEYS: tuple[str, ...] = (
    "document_title", "reference", "version", "article", "draft_marker", "page", "page_of", "annex",
    "annex_1_title", "annex_2_title", "annex_3_title", "annex_4_title",
    "role_controller", "role_processor",
    "party_name", "party_legal_form", "party_enterprise_number", "party_vat_number",
    "party_registered_office", "party_privacy_contact", "party_signatory",
    "service", "purpose", "nature", "data_subjects", "personal_data", "retention", "duration",
    "sensitive_art9", "sensitive_art10",
    "measures_general", "measures_sensitive",
    "sub_name", "sub_entity", "sub_country", "sub_locations", "sub_purpose", "sub_services",
    "sub_transfer", "transfer_none", "transfer_adequacy", "transfer_scc", "transfer_bcr",
    "no_subprocessors", "incidental_note",
    "signature_for", "signature_name", "signature_title", "signature_date", "signature_sign",
    "authority_BE", "authority_NL", "not_applicable",
    "authorised_representative", "party_dpo", "dpo_external", "phone", "email",
    "retention_until_end", "retention_after_end", "retention_after", "legal_disclosures",
    "disclosure_data", "disclosure_basis", "disclosures_note", "access_categories",
    "group_entity",
)
# Labels added later: a library snapshot kept in an older manifest may lack them.
OPTIONAL_LABEL_KEYS: tuple[str, ...] = ("signature_place",)


def _all_languages(value: dict[Language, str]) -> dict[Language, str]:
    missing = [lang for lang in LANGUAGES if not (value.get(lang) or "").strip()]
    if missing:
        raise ValueError(
            f"missing translation: {', '.join(missing)} — fix: add the "
            f"{', '.join(missing)} text (every language is required; there is no fallback)"
        )
    return value


class ParameterSpec(StrictModel):
    default: str | int | Decimal
    negotiable: bool = False


class Clause(StrictModel):
    id: ClauseId
    version: int = Field(ge=1)
    effective: datetime.date
    title: dict[Language, str]
    satisfies: list[str]  # empty: lint reports `no-legal-reference`
    when: str | None = None
    parameters: dict[str, ParameterSpec] = Field(default_factory=dict)
    text: dict[Language, str]

    @field_validator("title", "text")
    @classmethod
    def _every_language(cls, value: dict[Language, str]) -> dict[Language, str]:
        return _all_languages(value)


class ArticleHeader(StrictModel):
    order: int
    numbered: bool = True
    title: dict[Language, str]

    @field_validator("title")
    @classmethod
    def _every_language(cls, value: dict[Language, str]) -> dict[Language, str]:
        return _all_languages(value)


class ClauseFile(StrictModel):
    article: ArticleHeader
    clauses: list[Clause] = Field(min_length=1)


class LabelsFile(StrictModel):
    labels: dict[str, dict[Language, str]]
