"""What the guided form's pages show: the step's fields, the provider's services, the
negotiable parameters with their standard values, and the live explanation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dpa_engine import DpaError, ProviderProfile

from .forms import STEPS, AgreementForm, is_number, parameter_choices, validation_errors
from .library import Terms
from .steps import with_empty_rows
from .workflow import WebContext, public_message


def service_name(provider: ProviderProfile, service_id: str, language: str) -> str:
    service = next(s for s in provider.services if s.id == service_id)
    if isinstance(service.name, str):
        return service.name
    names: dict[str, str] = {str(k): v for k, v in service.name.items()}
    return names.get(language) or names.get("en") or next(iter(names.values()))


def standard_terms(context: WebContext) -> dict[str, str]:
    """The provider's standard terms (library defaults, then the profile's standard terms)."""
    terms = Terms.model_validate({**context.engine.library.defaults,
                                  **context.provider.standard_terms.given()})
    return {k: _text(v) for k, v in terms.model_dump().items()}


def _text(value: object) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def negotiable_parameters(context: WebContext) -> list[dict[str, Any]]:
    standard = standard_terms(context)
    return [{"name": name, "standard": standard.get(name, ""), "choices": parameter_choices(name),
             "number": is_number(name)} for name in sorted(context.engine.library.negotiable)]


def explanation_context(context: WebContext, form: AgreementForm, approvals: str | None
                        ) -> dict[str, Any]:
    """`dpa explain` for the form as it stands, or why it cannot be explained yet."""
    if validation_errors(form, context.provider, context.provider_ref):
        return {"explanation": None,
                "problem": "Fill in the customer, language, services and processing to see "
                           "which clauses apply."}
    try:
        return {"explanation": context.explain(form, approvals), "problem": None}
    except DpaError as exc:
        return {"explanation": None, "problem": public_message(exc)}


def step_context(context: WebContext, agreement_id: int, form: AgreementForm, step: str,
                 errors: dict[str, str]) -> dict[str, Any]:
    language = form.language or "en"
    services = [{"id": s.id, "name": service_name(context.provider, s.id, language),
                 "chosen": s.id in form.services} for s in context.provider.services]
    processing = [{"id": s, "name": service_name(context.provider, s, language),
                   "form": form.processing[s], "rows": with_empty_rows(form.processing[s])}
                  for s in form.services if s in form.processing]
    page: dict[str, Any] = {
        "agreement_id": agreement_id, "step": step, "steps": STEPS, "form": form,
        "errors": errors, "services": services, "processing": processing,
        "parameters": negotiable_parameters(context) if step == "deviations" else [],
        "explanation": None, "problem": None,
    }
    if step in ("processing", "deviations"):
        page |= explanation_context(context, form, None)
    return page
