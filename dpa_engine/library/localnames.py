"""Names that change with the agreement's language: court seats, Belgian legal forms, the name
of a company register. Tables, not translations: a French text names Anvers, not Antwerpen.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from ..models import Language


@dataclass(frozen=True)
class CourtSeat:
    """A city where courts of first instance sit, with its official name per language."""

    country: str
    nl: str
    fr: str
    en: str

    def name(self, language: Language) -> str:
        return str(getattr(self, language))


# Belgian seats of the courts of first instance and enterprise courts (divisions included),
# and the seats of the Dutch district courts (rechtbanken, with their usual locations).
COURT_SEATS: tuple[CourtSeat, ...] = (
    CourtSeat("BE", "Brussel", "Bruxelles", "Brussels"),
    CourtSeat("BE", "Antwerpen", "Anvers", "Antwerp"),
    CourtSeat("BE", "Mechelen", "Malines", "Mechelen"),
    CourtSeat("BE", "Turnhout", "Turnhout", "Turnhout"),
    CourtSeat("BE", "Leuven", "Louvain", "Leuven"),
    CourtSeat("BE", "Gent", "Gand", "Ghent"),
    CourtSeat("BE", "Dendermonde", "Termonde", "Dendermonde"),
    CourtSeat("BE", "Oudenaarde", "Audenarde", "Oudenaarde"),
    CourtSeat("BE", "Brugge", "Bruges", "Bruges"),
    CourtSeat("BE", "Kortrijk", "Courtrai", "Kortrijk"),
    CourtSeat("BE", "Ieper", "Ypres", "Ypres"),
    CourtSeat("BE", "Veurne", "Furnes", "Veurne"),
    CourtSeat("BE", "Oostende", "Ostende", "Ostend"),
    CourtSeat("BE", "Hasselt", "Hasselt", "Hasselt"),
    CourtSeat("BE", "Tongeren", "Tongres", "Tongeren"),
    CourtSeat("BE", "Luik", "Liège", "Liège"),
    CourtSeat("BE", "Hoei", "Huy", "Huy"),
    CourtSeat("BE", "Verviers", "Verviers", "Verviers"),
    CourtSeat("BE", "Bergen", "Mons", "Mons"),
    CourtSeat("BE", "Charleroi", "Charleroi", "Charleroi"),
    CourtSeat("BE", "Doornik", "Tournai", "Tournai"),
    CourtSeat("BE", "Namen", "Namur", "Namur"),
    CourtSeat("BE", "Dinant", "Dinant", "Dinant"),
    CourtSeat("BE", "Nijvel", "Nivelles", "Nivelles"),
    CourtSeat("BE", "Aarlen", "Arlon", "Arlon"),
    CourtSeat("BE", "Neufchâteau", "Neufchâteau", "Neufchâteau"),
    CourtSeat("BE", "Marche-en-Famenne", "Marche-en-Famenne", "Marche-en-Famenne"),
    CourtSeat("BE", "Eupen", "Eupen", "Eupen"),
    CourtSeat("NL", "Amsterdam", "Amsterdam", "Amsterdam"),
    CourtSeat("NL", "Rotterdam", "Rotterdam", "Rotterdam"),
    CourtSeat("NL", "Den Haag", "La Haye", "The Hague"),
    CourtSeat("NL", "Utrecht", "Utrecht", "Utrecht"),
    CourtSeat("NL", "Haarlem", "Haarlem", "Haarlem"),
    CourtSeat("NL", "Alkmaar", "Alkmaar", "Alkmaar"),
    CourtSeat("NL", "Lelystad", "Lelystad", "Lelystad"),
    CourtSeat("NL", "Arnhem", "Arnhem", "Arnhem"),
    CourtSeat("NL", "Nijmegen", "Nimègue", "Nijmegen"),
    CourtSeat("NL", "Zutphen", "Zutphen", "Zutphen"),
    CourtSeat("NL", "Zwolle", "Zwolle", "Zwolle"),
    CourtSeat("NL", "Almelo", "Almelo", "Almelo"),
    CourtSeat("NL", "Groningen", "Groningue", "Groningen"),
    CourtSeat("NL", "Leeuwarden", "Leeuwarden", "Leeuwarden"),
    CourtSeat("NL", "Assen", "Assen", "Assen"),
    CourtSeat("NL", "'s-Hertogenbosch", "Bois-le-Duc", "'s-Hertogenbosch"),
    CourtSeat("NL", "Eindhoven", "Eindhoven", "Eindhoven"),
    CourtSeat("NL", "Breda", "Bréda", "Breda"),
    CourtSeat("NL", "Middelburg", "Middelbourg", "Middelburg"),
    CourtSeat("NL", "Maastricht", "Maastricht", "Maastricht"),
    CourtSeat("NL", "Roermond", "Ruremonde", "Roermond"),
    CourtSeat("NL", "Dordrecht", "Dordrecht", "Dordrecht"),
)


def _key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.casefold() if c.isalnum())


_SEATS_BY_NAME: dict[str, CourtSeat] = {
    _key(name): seat for seat in COURT_SEATS for name in (seat.nl, seat.fr, seat.en)
}


def court_seat(name: str) -> CourtSeat | None:
    """The court seat a city name (in Dutch, French or English, any case) refers to."""
    return _SEATS_BY_NAME.get(_key(name))


def court_seat_names(country: str) -> list[str]:
    return [seat.nl if seat.nl == seat.fr else f"{seat.nl}/{seat.fr}"
            for seat in COURT_SEATS if seat.country == country]


# Belgian legal forms have an official name in each national language (Code of Companies
# and Associations); English texts use the Dutch abbreviation. Forms of other countries
# (a Dutch B.V., a German GmbH) stay as written.
_BELGIAN_FORMS: tuple[tuple[str, str], ...] = (
    ("NV", "SA"), ("BV", "SRL"), ("CV", "SC"), ("CommV", "SComm"), ("VOF", "SNC"),
    ("VZW", "ASBL"), ("IVZW", "AISBL"), ("ESV", "GIE"), ("SE", "SE"),
)
_FORM_KEYS: dict[str, tuple[str, str]] = {
    _key(name): pair for pair in _BELGIAN_FORMS for name in pair
}


def legal_form(form: str, country: str, language: Language) -> str:
    """The official abbreviation of a Belgian legal form in `language`; others unchanged."""
    pair = _FORM_KEYS.get(_key(form)) if country == "BE" else None
    if pair is None:
        return form
    return pair[1] if language == "fr" else pair[0]


_REGISTER_LABELS: dict[str, dict[Language, str]] = {
    "BE": {"nl": "ondernemingsnummer", "fr": "numéro d'entreprise", "en": "enterprise number"},
    "NL": {"nl": "KvK-nummer", "fr": "numéro KvK (Chambre de commerce néerlandaise)",
           "en": "KvK number (Netherlands Chamber of Commerce)"},
}
_OTHER_REGISTER: dict[Language, str] = {
    "nl": "registratienummer", "fr": "numéro d'enregistrement", "en": "registration number",
}


def register_label(country: str, language: Language) -> str:
    """What the company register number is called for a party of `country`, lower case."""
    return _REGISTER_LABELS.get(country, _OTHER_REGISTER)[language]
