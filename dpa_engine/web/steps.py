"""One step of the guided form: which posted fields it reads and how they change the form."""

from __future__ import annotations

from starlette.datastructures import FormData

from dpa_engine import ProviderProfile

from .forms import (
    CUSTOMER_FIELDS,
    EMPTY_CATEGORY_ROWS,
    SENSITIVE_CHOICES,
    AgreementForm,
    Category,
    ProcessingForm,
    defaults_for,
)
from .webform import text_field, text_list

MAX_CATEGORIES = 30


def apply_step(form: AgreementForm, step: str, posted: FormData, provider: ProviderProfile,
               negotiable: list[str]) -> AgreementForm:
    """The form with this step's posted fields applied (the stored form is not changed)."""
    updated = form.model_copy(deep=True)
    if step == "customer":
        updated.customer = {name: text_field(posted, f"customer.{name}") for name in CUSTOMER_FIELDS}
        updated.customer["country"] = updated.customer["country"].strip().upper()
    elif step == "language":
        updated.language = text_field(posted, "language")
        updated.reference = text_field(posted, "reference")
        updated.agreement_date = text_field(posted, "agreement_date")
    elif step == "services":
        offered = [s.id for s in provider.services]
        chosen = set(text_list(posted, "services"))
        updated.services = [s for s in offered if s in chosen]
        updated.processing = {s: form.processing.get(s) or defaults_for(provider, s, form.language)
                              for s in updated.services}
    elif step == "processing":
        updated.processing = {s: _processing(posted, s) for s in form.services}
    elif step == "deviations":
        updated.deviations = {p: text_field(posted, f"deviations.{p}") for p in negotiable
                              if text_field(posted, f"deviations.{p}").strip()}
        updated.courts_city = text_field(posted, "courts_city")
    return updated


def _processing(posted: FormData, service: str) -> ProcessingForm:
    prefix = f"processing.{service}."
    categories = []
    for index in range(MAX_CATEGORIES):
        name = text_field(posted, f"{prefix}categories.{index}.name")
        sensitive = text_field(posted, f"{prefix}categories.{index}.sensitive")
        if name.strip():
            categories.append(Category(name=name, sensitive=sensitive
                                       if sensitive in SENSITIVE_CHOICES else ""))
    return ProcessingForm(purpose=text_field(posted, prefix + "purpose"),
                          nature=text_field(posted, prefix + "nature"),
                          data_subjects=text_field(posted, prefix + "data_subjects"),
                          categories=categories,
                          retention=text_field(posted, prefix + "retention"),
                          duration=text_field(posted, prefix + "duration"))


def with_empty_rows(processing: ProcessingForm) -> list[Category]:
    """The category rows shown: those filled in plus a few empty ones to add more."""
    return [*processing.categories, *(Category() for _ in range(EMPTY_CATEGORY_ROWS))]
