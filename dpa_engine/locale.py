"""The only module that imports babel: money, dates and language names per agreement language."""

from __future__ import annotations

import datetime
import gettext
import io
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime
from babel.numbers import format_currency
from babel.units import format_unit

from .models import Language

# Belgian locales for nl/fr; British English writes "23 November 2026" and "€2,500.00".
LOCALES: dict[Language, str] = {"nl": "nl_BE", "fr": "fr_BE", "en": "en_GB"}


def money(amount: Decimal | int | float, language: Language, currency: str = "EUR") -> str:
    return str(format_currency(amount, currency, locale=LOCALES[language]))


@lru_cache(maxsize=4096)  # a fan-out formats the same few dates thousands of times
def long_date(day: datetime.date, language: Language) -> str:
    return str(_format_date(day, format="long", locale=LOCALES[language]))


def datetime_text(moment: datetime.datetime, language: Language) -> str:
    """A date and time for notices, e.g. '30 november 2026 om 23:59'."""
    return str(format_datetime(moment, format="long", locale=LOCALES[language], tzinfo=moment.tzinfo))


def language_name(code: str, language: Language) -> str:
    """The name of language `code` written in `language`: ('nl', 'fr') -> 'néerlandais'."""
    return str(Locale.parse(LOCALES[language]).languages[code])


@lru_cache(maxsize=1024)
def country_name(code: str, language: Language) -> str:
    return str(Locale.parse(LOCALES[language]).territories.get(code, code))


def load_catalog(folder: Path, domain: str, language: str) -> gettext.NullTranslations:
    """The gettext catalog `folder/<language>/LC_MESSAGES/<domain>.po`, compiled in memory
    with babel (no .mo files to build or ship); a missing catalog translates nothing."""
    # imported here, for start-up time: only the web app reads catalogs, and every agreement
    # command imports this module
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    source = folder / language / "LC_MESSAGES" / f"{domain}.po"
    if not source.is_file():
        return gettext.NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


_DURATION_UNITS = {"days": "duration-day", "weeks": "duration-week", "months": "duration-month",
                   "years": "duration-year"}


@lru_cache(maxsize=1024)
def duration(count: int, unit: str, language: Language) -> str:
    """A period in words: (6, 'months') -> '6 maanden' / '6 mois' / '6 months'."""
    return str(format_unit(count, _DURATION_UNITS[unit], length="long",
                           locale=LOCALES[language]))
