"""How `dpa` shows tables and deviations on a terminal.

Tables fold long cells instead of cutting them (an id or an e-mail address is never shortened
with an ellipsis); deviations show money, days, dates, countries and languages the way the
agreement writes them (dpa_engine.locale), not as raw numbers.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.table import Table
from rich.text import Text

from .. import locale
from ..agreements.rules import Deviation
from ..models import LANGUAGES, Language

DAYS: dict[Language, str] = {"nl": "dagen", "fr": "jours", "en": "days"}


def folded_table(*columns: str, title: str | None = None) -> Table:
    """A table whose cells wrap (and break long words) rather than lose characters."""
    table = Table(title=Text(title) if title else None)
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    return table


def keep_whole(table: Table, *columns: int) -> None:
    """Columns of ids or e-mail addresses: never wrapped, so the other columns fold instead."""
    for column in columns:
        table.columns[column].no_wrap = True


def add_text_row(table: Table, *cells: str) -> None:
    """Cells are data: never parsed as Rich markup."""
    table.add_row(*(Text(cell) for cell in cells))


def term_value(parameter: str, value: Any, language: str) -> str:
    """A term's value as the agreement in `language` writes it: € 2.500,00, 14 dagen, …"""
    lang: Language = language if language in LANGUAGES else "en"
    if value is None:
        return "-"
    if parameter.startswith("liability_cap"):
        try:
            return locale.money(Decimal(str(value)), lang)
        except InvalidOperation:
            return str(value)
    if parameter.endswith("_days") and isinstance(value, int):
        return f"{value} {DAYS[lang]}"
    if parameter == "governing_law" and isinstance(value, str):
        return locale.country_name(value, lang)
    if parameter.endswith("_language") and isinstance(value, str) and value in LANGUAGES:
        return locale.language_name(value, lang)
    if isinstance(value, datetime.date):
        return locale.long_date(value, lang)
    return str(value)


def deviation_text(deviation: Deviation, language: str) -> str:
    """'liability_cap_total: standard € 2.500,00 → agreed € 25.000,00 (clauses: liability.cap)'"""
    return (f"{deviation.parameter}: standard "
            f"{term_value(deviation.parameter, deviation.standard, language)} → agreed "
            f"{term_value(deviation.parameter, deviation.agreed, language)} "
            f"(clauses: {', '.join(deviation.clauses) or '-'})")
