"""What clause texts are rendered with: the parties, terms and names in the agreement's
language, and the label lookup and localiser the rest of the assembly shares."""

from __future__ import annotations

from typing import Any

from .. import locale
from ..errors import InputError
from ..library import Library
from ..library.localnames import court_seat, legal_form, register_label
from ..library.textenv import ref_marker
from ..models import Language, LocalizedText, Party, Period, Person, text_in
from ..yamlsource import YamlDocument
from .deals import LoadedDeal
from .rules import Decision


class Localizer:
    """Provider/deal texts in the agreement's language; a missing language is an error."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, value: LocalizedText, doc: YamlDocument, loc: tuple[str | int, ...]) -> str:
        text = text_in(value, self.language)
        if text is None:
            raise InputError(
                f"no '{self.language}' text", path=doc.path, line=doc.line_of(loc),
                field=".".join(map(str, loc)),
                fix=f"add a '{self.language}:' entry (the agreement is in {self.language})")
        return text


# French typography puts a narrow no-break space before a colon; label texts are stripped
# when loaded, so the colon is the engine's.
_COLON: dict[Language, str] = {"nl": ":", "fr": "\u202f:", "en": ":"}


def labeller(library: Library, language: Language) -> Any:
    """`label(key)`: the library's label in the agreement's language ("colon" included)."""
    def label(key: str) -> str:
        return _COLON[language] if key == "colon" else library.label(key, language)

    return label


def party_context(party: Party, signatory: Person | None, language: Language,
                  not_applicable: str) -> dict[str, str]:
    """A party for clause texts. A missing signatory gives empty strings, never 'n/a': the
    texts then name the party's authorised representative(s)."""
    contact = party.privacy_contact
    country = party.registered_office.country
    return {
        "name": party.name,
        "legal_form": legal_form(party.legal_form, country, language),
        "register_label": register_label(country, language),
        "enterprise_number": party.enterprise_number,
        "vat_number": party.vat_number or not_applicable,
        "address": f"{party.registered_office.one_line()}, "
                   f"{locale.country_name(party.registered_office.country, language)}",
        "city": party.registered_office.city,
        "country": locale.country_name(party.registered_office.country, language),
        "signatory_name": signatory.name if signatory else "",
        "signatory_title": str(signatory.title) if signatory else "",
        "contact": (f"{contact.name}" + (f" ({contact.email})" if contact.email else ""))
        if contact else "",
    }


def signatories(loaded: LoadedDeal, localize: Localizer) -> tuple[Person, Person | None]:
    """The customer's and the provider's signatory, their titles in the agreement's language."""
    def titled(person: Person | None, doc: YamlDocument, loc: tuple[str | int, ...]
               ) -> Person | None:
        if person is None or isinstance(person.title, str):
            return person
        return person.model_copy(update={"title": localize(person.title, doc, (*loc, "title"))})

    deal = loaded.deal
    customer = titled(deal.customer.signatory, loaded.deal_doc, ("customer", "signatory"))
    assert customer is not None
    provider = (titled(deal.provider_signatory, loaded.deal_doc, ("provider_signatory",))
                if deal.provider_signatory else
                titled(loaded.provider.signatory, loaded.provider_doc, ("signatory",)))
    return customer, provider


def service_names(loaded: LoadedDeal, localize: Localizer) -> list[str]:
    provider = loaded.provider
    index = {s.id: i for i, s in enumerate(provider.services)}
    return [
        localize(provider.services[index[s]].name, loaded.provider_doc,
                 ("services", index[s], "name"))
        for s in loaded.deal.services
    ]


def text_context(loaded: LoadedDeal, library: Library, decision: Decision,
                 localize: Localizer) -> dict[str, Any]:
    language = decision.language
    na = library.label("not_applicable", language)
    terms: dict[str, Any] = decision.terms.model_dump()
    customer_signatory, provider_signatory = signatories(loaded, localize)
    return {
        **terms,
        "language": language,
        "customer": party_context(loaded.deal.customer, customer_signatory, language, na),
        "provider": party_context(loaded.provider, provider_signatory, language, na),
        "authority": library.label(f"authority_{decision.authority}", language),
        "courts_city": _court_name(decision.courts_city, language),
        "backup_retention": period_text(loaded.provider.backup_retention, language),
        "services_list": ", ".join(service_names(loaded, localize)),
        "prevailing_language_name": locale.language_name(decision.terms.prevailing_language,
                                                         language),
        "ref": ref_marker,
    }


def _court_name(seat_name: str, language: Language) -> str:
    seat = court_seat(seat_name)
    return seat.name(language) if seat else seat_name


def period_text(period: Period | None, language: Language) -> str:
    return locale.duration(period.count, period.unit, language) if period else ""
