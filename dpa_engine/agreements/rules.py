"""Rules: a deal's facts -> which clauses apply, with which parameters, and what deviates.

Clause conditions are evaluated by rule-engine (type-checked when the library loads); the
rules below that cannot be a clause condition (required annex content) raise RuleError.
Every decision is kept in a trace so `dpa explain` can say why.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import InputError, RuleError
from ..library import Library, LoadedClause
from ..library.facts import FactValue, compute_facts, used_subprocessors
from ..models import TERM_NAMES, Language, Terms
from .deals import LoadedDeal


class ClauseDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    title: str
    family: str
    included: bool
    rule: str
    facts: dict[str, FactValue]
    parameters: dict[str, Any]


class Deviation(BaseModel):
    model_config = ConfigDict(frozen=True)

    parameter: str
    standard: Any
    agreed: Any
    clauses: list[str]


class Decision(BaseModel):
    """Everything the rules decided for one deal."""

    model_config = ConfigDict(frozen=True)

    language: Language
    facts: dict[str, FactValue]
    terms: Terms
    standard_terms: Terms
    courts_city: str
    clauses: list[ClauseDecision]
    deviations: list[Deviation]

    @property
    def included_ids(self) -> list[str]:
        return [c.id for c in self.clauses if c.included]


def standard_terms(loaded: LoadedDeal, library: Library) -> Terms:
    """The library's defaults overridden by the provider profile's standard terms."""
    return Terms.model_validate({**library.defaults, **loaded.provider.standard_terms.given()})


def agreed_terms(loaded: LoadedDeal, library: Library) -> Terms:
    standard = standard_terms(loaded, library)
    return Terms.model_validate({**standard.model_dump(), **loaded.deal.deviations.given()})


def courts_city(loaded: LoadedDeal, terms: Terms) -> str:
    """The city whose courts have jurisdiction: provider's seat under Belgian law; under Dutch
    law the Dutch party's seat (the provider's first). An explicit `courts_city` wins."""
    derived = _derived_courts_city(loaded, terms)
    if loaded.deal.courts_city:
        return loaded.deal.courts_city
    if derived is None:
        raise loaded.deal_error(
            ("deviations", "governing_law"),
            "Dutch law is agreed but neither party has its registered office in the Netherlands,"
            " so the competent Dutch court cannot be derived",
            "add 'courts_city: <Dutch city>' to the deal")
    return derived


def _derived_courts_city(loaded: LoadedDeal, terms: Terms) -> str | None:
    provider, customer = loaded.provider, loaded.deal.customer
    if terms.governing_law == "BE":
        return provider.registered_office.city
    for party in (provider, customer):
        if party.registered_office.country == "NL":
            return party.registered_office.city
    return None


def _check_required_annex_content(loaded: LoadedDeal, facts: dict[str, FactValue]) -> None:
    provider, doc = loaded.provider, loaded.provider_doc
    if (facts["has_special_categories"] or facts["has_criminal_data"]) and not any(
        m.for_sensitive_data for m in provider.measures
    ):
        raise RuleError(
            "the deal processes art. 9/10 data but the provider profile has no extra measures "
            "for such data (Annex III)",
            path=doc.path, line=doc.line_of(("measures",)), field="measures",
            fix="add a measure with 'for_sensitive_data: true' to the provider profile")
    for sub in used_subprocessors(loaded.deal, loaded.provider):
        if sub.outside_eea and sub.transfer is None:
            index = provider.subprocessors.index(sub)
            raise RuleError(
                f"sub-processor '{sub.id}' processes outside the EEA but has no transfer "
                "mechanism (Annex IV)",
                path=doc.path, line=doc.line_of(("subprocessors", index)),
                field=f"subprocessors[{index}].transfer",
                fix="add 'transfer: {kind: scc, scc_module: 3}' (or adequacy / bcr)")


def _decide_clause(item: LoadedClause, facts: dict[str, FactValue], terms: Terms,
                   language: Language) -> ClauseDecision:
    clause = item.clause
    included = True if item.condition is None else bool(item.condition.matches(facts))
    return ClauseDecision(
        id=clause.id, version=clause.version, title=clause.title[language], family=item.family,
        included=included, rule=clause.when or "always",
        facts={name: facts[name] for name in item.facts_used},
        parameters={name: getattr(terms, name) for name in clause.parameters},
    )


def decide(loaded: LoadedDeal, library: Library) -> Decision:
    """Apply the library's rules to one deal."""
    standard = standard_terms(loaded, library)
    terms = agreed_terms(loaded, library)
    for name in loaded.deal.deviations.given():
        if name not in library.negotiable and getattr(terms, name) != getattr(standard, name):
            raise InputError(
                f"'{name}' is not negotiable in the clause library",
                path=loaded.deal_path, line=loaded.deal_doc.line_of(("deviations", name)),
                field=f"deviations.{name}",
                fix="remove this deviation, or ask legal to mark the parameter negotiable")
    facts = compute_facts(loaded.deal, loaded.provider, terms)
    _check_required_annex_content(loaded, facts)
    city = courts_city(loaded, terms)
    language = loaded.deal.language
    decisions = [
        _decide_clause(item, facts, terms, language)
        for article in library.articles for item in article.clauses
    ]
    included = {d.id for d in decisions if d.included}
    deviations = [
        Deviation(
            parameter=name, standard=getattr(standard, name), agreed=getattr(terms, name),
            clauses=sorted(d.id for d in decisions if d.included and name in d.parameters),
        )
        for name in TERM_NAMES
        if getattr(terms, name) != getattr(standard, name)
    ]
    derived = _derived_courts_city(loaded, terms)
    if loaded.deal.courts_city and derived and loaded.deal.courts_city != derived:
        deviations.append(Deviation(
            parameter="courts_city", standard=derived, agreed=loaded.deal.courts_city,
            clauses=sorted(i for i in included if i.startswith("final.")),
        ))
    return Decision(
        language=language, facts=facts, terms=terms, standard_terms=standard,
        courts_city=city, clauses=decisions, deviations=deviations,
    )
