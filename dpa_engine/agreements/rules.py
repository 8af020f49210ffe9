"""Rules: a deal's facts -> which clauses apply, with which parameters, and what deviates.

Clause conditions are evaluated by rule-engine (type-checked when the library loads); the
rules below that cannot be a clause condition (required annex content) raise RuleError.
Every decision is kept in a trace so `dpa explain` can say why.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import InputError, RuleError
from ..library import Library, LoadedClause
from ..library.facts import FactValue, compute_facts, used_subprocessors
from ..library.localnames import court_seat, court_seat_names
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
    authority: Literal["BE", "NL"] = "BE"
    clauses: list[ClauseDecision]
    deviations: list[Deviation]
    warnings: list[str] = []

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
    """The court seat (its Dutch name) with jurisdiction. An explicit `courts_city` must be a
    seat in the governing law's country. Otherwise: under Belgian law the provider's seat
    when it is a Belgian court seat, Brussels for a provider established outside Belgium;
    under Dutch law the Dutch party's seat (the provider's first)."""
    law = terms.governing_law
    if loaded.deal.courts_city:
        seat = court_seat(loaded.deal.courts_city)
        if seat is None or seat.country != law:
            what = ("is not a Belgian or Dutch court seat" if seat is None else
                    f"is a {_COUNTRY_ADJECTIVE[seat.country]} court seat, but the agreement is "
                    f"governed by {_COUNTRY_ADJECTIVE[law]} law")
            raise loaded.deal_error(
                ("courts_city",), f"courts_city '{loaded.deal.courts_city}' {what}",
                f"name a {_COUNTRY_ADJECTIVE[law]} court seat (one of "
                f"{', '.join(court_seat_names(law))}), or agree the other governing law")
        return seat.nl
    derived = _derived_courts_city(loaded, terms)
    if derived is None:
        office = loaded.provider.registered_office
        if law == "BE":
            raise loaded.deal_error(
                ("courts_city",),
                f"the provider's registered office ({office.city}) is not a Belgian court seat,"
                " so the competent Belgian court cannot be derived",
                "add 'courts_city: <Belgian court seat>' to the deal (e.g. the seat of the "
                "provider's judicial district)")
        raise loaded.deal_error(
            ("deviations", "governing_law"),
            "Dutch law is agreed but neither party has its registered office in a Dutch court "
            "seat, so the competent Dutch court cannot be derived",
            "add 'courts_city: <Dutch court seat>' to the deal")
    return derived


_COUNTRY_ADJECTIVE = {"BE": "Belgian", "NL": "Dutch"}


def _derived_courts_city(loaded: LoadedDeal, terms: Terms) -> str | None:
    provider, customer = loaded.provider, loaded.deal.customer
    if terms.governing_law == "BE":
        if provider.registered_office.country != "BE":
            return court_seat("Brussel").nl  # type: ignore[union-attr]
        seat = court_seat(provider.registered_office.city)
        return seat.nl if seat and seat.country == "BE" else None
    for party in (provider, customer):
        if party.registered_office.country == "NL":
            seat = court_seat(party.registered_office.city)
            if seat and seat.country == "NL":
                return seat.nl
    return None


def supervisory_authority(loaded: LoadedDeal) -> Literal["BE", "NL"]:
    """The profile's `supervisory_authority`, else the provider's main establishment's."""
    provider = loaded.provider
    if provider.supervisory_authority:
        return provider.supervisory_authority
    country = provider.registered_office.country
    if country in ("BE", "NL"):
        return country  # type: ignore[return-value]
    raise InputError(
        f"the provider is established in {country}, so its supervisory authority cannot be "
        "derived", path=loaded.provider_path, line=loaded.provider_doc.line_of(("name",)),
        field="supervisory_authority",
        fix="add 'supervisory_authority: BE' or 'NL' to the provider profile")


def warnings_for(loaded: LoadedDeal) -> list[str]:
    """Things a lawyer must see before signature that do not stop generation."""
    found: list[str] = []
    provider = loaded.provider
    if loaded.deal.provider_signatory is None and provider.signatory is None:
        found.append(
            f"no signatory for {provider.name}: the agreement says it is represented by its "
            "authorised representative(s) and leaves the name and title lines blank — add "
            "'provider_signatory:' to the deal or 'signatory:' to the provider profile")
    if provider.backup_retention is None:
        found.append(
            "the provider profile has no 'backup_retention': the agreement cannot say when "
            "copies in back-ups are overwritten — add e.g. 'backup_retention: {count: 35, "
            "unit: days}'")
    return found


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
    if (facts["has_special_categories"] or facts["has_criminal_data"]) \
            and not provider.sensitive_data_access:
        raise RuleError(
            "the deal processes art. 9/10 data but the provider profile does not list the "
            "categories of persons with access to such data (Belgian Act of 30 July 2018, "
            "art. 9 and 10 §2; Annex III)",
            path=doc.path, line=doc.line_of(("measures",)), field="sensitive_data_access",
            fix="add 'sensitive_data_access:' with entries {category: ..., capacity: ...} "
                "to the provider profile")
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
    if loaded.deal.courts_city and derived and city != derived:
        deviations.append(Deviation(
            parameter="courts_city", standard=derived, agreed=loaded.deal.courts_city,
            clauses=sorted(i for i in included if i.startswith("final.")),
        ))
    return Decision(
        language=language, facts=facts, terms=terms, standard_terms=standard,
        courts_city=city, authority=supervisory_authority(loaded), clauses=decisions,
        deviations=deviations, warnings=warnings_for(loaded),
    )
