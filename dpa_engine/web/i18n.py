"""The interface in nl, fr and en: gettext catalogs compiled by dpa_engine.locale."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from ..locale import load_catalog

CATALOGS = Path(__file__).resolve().parent / "locale"
DOMAIN = "web"
LANGUAGE_NAMES = {"nl": "Nederlands", "fr": "Français", "en": "English"}


@cache
def translator(language: str) -> Callable[[str], str]:
    """gettext for `language` (English, the source language, needs no catalog)."""
    if language == "en" or language not in LANGUAGE_NAMES:
        return _identity
    return load_catalog(CATALOGS, DOMAIN, language).gettext


def _identity(message: str) -> str:
    return message
