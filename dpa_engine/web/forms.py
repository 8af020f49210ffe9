"""The guided form's state (what the account manager typed, step by step) and the deal file
made from it: the same YAML format as the command line's deal files.

Form values stay text until the deal is validated, so a wrong value is shown back as typed,
with the library's error message next to its field.
"""

from __future__ import annotations

import io
import re
import typing
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from ruamel.yaml import YAML

from dpa_engine import Deal, ProviderProfile

from .library import (
    LANGUAGES,
    Language,
    LocalizedText,
    RetentionRule,
    Terms,
    belgian_enterprise_number,
    dutch_kvk_number,
    text_in,
)

STEPS: tuple[str, ...] = ("customer", "language", "services", "processing", "deviations")
CUSTOMER_FIELDS: tuple[str, ...] = (
    "name", "legal_form", "enterprise_number", "vat_number", "street", "postal_code", "city",
    "country", "signatory_name", "signatory_title", "notice_emails")
OFFICE_FIELDS = ("street", "postal_code", "city", "country")
SENSITIVE_CHOICES = ("", "art9", "art10")
EMPTY_CATEGORY_ROWS = 2


class Category(BaseModel):
    name: str = ""
    sensitive: str = ""


class ProcessingForm(BaseModel):
    purpose: str = ""
    nature: str = ""
    data_subjects: str = ""  # one per line
    categories: list[Category] = Field(default_factory=list)
    retention: str = ""
    duration: str = ""


class AgreementForm(BaseModel):
    """Everything the guided form has collected so far."""

    customer: dict[str, str] = Field(default_factory=dict)
    reference: str = ""
    agreement_date: str = ""
    language: str = ""
    version: int = 1
    services: list[str] = Field(default_factory=list)
    processing: dict[str, ProcessingForm] = Field(default_factory=dict)
    deviations: dict[str, str] = Field(default_factory=dict)
    courts_city: str = ""

    def field(self, name: str) -> str:
        return self.customer.get(name, "")


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _number(text: str) -> int | str:
    """An amount or count as typed: 25000 stays an integer, 2500.50 exact text."""
    cleaned = text.strip().replace(" ", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return text.strip()
    return int(value) if value == value.to_integral_value() else format(value, "f")


def deviation_value(parameter: str, text: str) -> Any:
    annotation = Terms.model_fields[parameter].annotation
    return _number(text) if annotation in (int, Decimal) else text.strip()


def deal_data(form: AgreementForm, provider_ref: str) -> dict[str, Any]:
    """The deal file's content for this form (keys in the order of the command line's files)."""
    c = form.customer
    customer: dict[str, Any] = {"name": c.get("name", ""), "legal_form": c.get("legal_form", ""),
                                "enterprise_number": c.get("enterprise_number", "")}
    if c.get("vat_number", "").strip():
        customer["vat_number"] = c["vat_number"]
    customer["registered_office"] = {k: c.get(k, "") for k in OFFICE_FIELDS}
    customer["signatory"] = {"name": c.get("signatory_name", "")}
    if c.get("signatory_title", "").strip():
        customer["signatory"]["title"] = c["signatory_title"]
    customer["notice_emails"] = lines(c.get("notice_emails", "").replace(",", "\n"))
    data: dict[str, Any] = {"provider": provider_ref}
    if form.reference.strip():
        data["reference"] = form.reference.strip()
    if form.version != 1:
        data["version"] = form.version
    if form.agreement_date.strip():
        data["agreement_date"] = form.agreement_date.strip()
    data |= {"customer": customer, "language": form.language, "services": list(form.services)}
    data["processing"] = [_processing(service, form.processing.get(service, ProcessingForm()))
                          for service in form.services]
    deviations = {k: deviation_value(k, v) for k, v in form.deviations.items() if v.strip()}
    if deviations:
        data["deviations"] = deviations
    if form.courts_city.strip():
        data["courts_city"] = form.courts_city.strip()
    return data


def _processing(service: str, p: ProcessingForm) -> dict[str, Any]:
    categories: list[Any] = []
    for category in p.categories:
        if not category.name.strip():
            continue
        categories.append({"name": category.name.strip(), "sensitive": category.sensitive}
                          if category.sensitive else category.name.strip())
    return {"service": service, "purpose": p.purpose, "nature": p.nature,
            "data_subjects": lines(p.data_subjects), "personal_data": categories,
            "retention": p.retention, "duration": p.duration}


def deal_yaml(data: dict[str, Any]) -> str:
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    stream = io.StringIO()
    stream.write("# Deal file made with the dpa-engine web app; `dpa generate` reads it as is.\n")
    yaml.dump(data, stream)
    return stream.getvalue()


# --- errors next to their field ------------------------------------------------------------

def form_field(loc: tuple[str | int, ...]) -> str:
    """The form field an error location of the Deal model belongs to."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["customer"]:
        if len(parts) >= 3 and parts[1] == "registered_office":
            return f"customer.{parts[2]}"
        if len(parts) >= 3 and parts[1] == "signatory":
            return f"customer.signatory_{parts[2]}"
        return "customer." + (parts[1] if len(parts) > 1 else "name")
    if parts[:1] == ["processing"] and len(parts) >= 3:
        return f"processing.{parts[1]}.{parts[2]}"
    if parts[:1] == ["deviations"] and len(parts) >= 2:
        return f"deviations.{parts[1]}"
    return parts[0] if parts else ""


def _message(error: Any) -> str:
    if error["type"] in ("string_too_short", "missing", "too_short"):
        return "required — fill this in"
    text = str(error["msg"])
    return text.removeprefix("Value error, ")


def enterprise_number_error(number: str, country: str) -> str | None:
    """The check the form runs as you type: KBO/BCE (BE) check digits, KvK (NL) length."""
    try:
        if country == "BE":
            belgian_enterprise_number(number)
        elif country == "NL":
            dutch_kvk_number(number)
        elif not number.strip():
            return "required — fill this in"
    except ValueError as exc:
        return str(exc)
    return None


def validation_errors(form: AgreementForm, provider: ProviderProfile, provider_ref: str,
                      steps: tuple[str, ...] = STEPS) -> dict[str, str]:
    """Field -> message for every problem of the given steps (later steps are ignored)."""
    errors: dict[str, str] = {}
    data = deal_data(form, provider_ref)
    try:
        Deal.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            name = form_field(loc)
            if loc and loc[0] == "processing" and len(loc) > 1 and isinstance(loc[1], int) \
                    and loc[1] < len(form.services):
                name = name.replace(f"processing.{loc[1]}.", f"processing.{form.services[loc[1]]}.")
            if _step_of(name) in steps:
                errors.setdefault(name, _message(error))
    if "services" in steps:
        offered = {s.id for s in provider.services}
        if not form.services:
            errors["services"] = "choose at least one service"
        elif unknown := [s for s in form.services if s not in offered]:
            errors["services"] = f"unknown service {unknown[0]}: choose among the provider's services"
    if "language" in steps and form.language not in LANGUAGES:
        errors["language"] = "choose the agreement's language: nl, fr or en"
    if "customer" in steps and (problem := enterprise_number_error(
            form.field("enterprise_number"), form.field("country").strip().upper())):
        errors["customer.enterprise_number"] = problem
    if "customer" in steps and not data["customer"]["notice_emails"]:
        errors["customer.notice_emails"] = ("give at least one e-mail address for sub-processor "
                                            "notices")
    return errors


def _step_of(field: str) -> str:
    head = field.split(".")[0]
    if head in ("customer", "processing", "deviations", "services", "language"):
        return head
    if head == "courts_city":
        return "deviations"
    return "language" if head in ("reference", "agreement_date", "version") else "customer"


# --- starting points -------------------------------------------------------------------------

def defaults_for(provider: ProviderProfile, service_id: str, language: str) -> ProcessingForm:
    """The provider's usual processing for a service in this language (empty if none)."""
    service = next((s for s in provider.services if s.id == service_id), None)
    defaults = service.defaults.get(typing.cast(Any, language)) if service else None
    if defaults is None:
        return ProcessingForm(categories=[Category() for _ in range(EMPTY_CATEGORY_ROWS)])
    categories = [Category(name=c) if isinstance(c, str)
                  else Category(name=c.name, sensitive=c.sensitive or "")
                  for c in defaults.personal_data]
    return ProcessingForm(purpose=defaults.purpose, nature=defaults.nature,
                          data_subjects="\n".join(defaults.data_subjects),
                          categories=categories, retention=defaults.retention,
                          duration=defaults.duration)


def form_from_deal(deal: Deal) -> AgreementForm:
    """The form filled in from an uploaded deal file (or a previous version)."""
    c = deal.customer
    customer = {"name": c.name, "legal_form": c.legal_form,
                "enterprise_number": c.enterprise_number, "vat_number": c.vat_number or "",
                "street": c.registered_office.street, "postal_code": c.registered_office.postal_code,
                "city": c.registered_office.city, "country": c.registered_office.country,
                "signatory_name": c.signatory.name,
                "signatory_title": text_in(c.signatory.title, deal.language) or "",
                "notice_emails": "\n".join(c.notice_emails)}
    processing = {}
    language = deal.language

    def plain(value: LocalizedText) -> str:
        return text_in(value, language) or ""

    for p in deal.processing:
        processing[p.service] = ProcessingForm(
            purpose=plain(p.purpose), nature=plain(p.nature),
            data_subjects="\n".join(plain(d) for d in p.data_subjects),
            categories=[Category(name=plain(x.name), sensitive=x.sensitive or "")
                        for x in p.categories()],
            retention=_retention_text(p.retention, language), duration=plain(p.duration))
    deviations = {k: _text(v) for k, v in deal.deviations.given().items()}
    return AgreementForm(customer=customer, reference=deal.reference or "",
                         agreement_date=deal.agreement_date.isoformat() if deal.agreement_date else "",
                         language=deal.language, version=deal.version, services=list(deal.services),
                         processing=processing, deviations=deviations,
                         courts_city=deal.courts_city or "")


def _retention_text(retention: LocalizedText | list[RetentionRule], language: Language) -> str:
    """Retention as the form's one text field; a per-category schedule becomes one line per
    category (the form edits it as text)."""
    if not isinstance(retention, list):
        return text_in(retention, language) or ""
    lines = []
    for rule in retention:
        period = f"{rule.period.count} {rule.period.unit}" if rule.period else ""
        after = (" after the end of the agreement" if rule.after_end else
                 f" after {text_in(rule.after, language) or ''}" if rule.after else "")
        lines.append(f"{text_in(rule.data, language) or ''}: {period}{after}".strip())
    return "\n".join(lines)


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def parameter_choices(parameter: str) -> list[str]:
    """The allowed values of a negotiable parameter with a fixed set of values (else [])."""
    annotation = Terms.model_fields[parameter].annotation
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return []


def is_number(parameter: str) -> bool:
    return Terms.model_fields[parameter].annotation in (int, Decimal)


def slug_of(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "agreement"
