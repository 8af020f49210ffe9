"""The interface in nl, fr and en: complete catalogs, and each user's language remembered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from fastapi import FastAPI

from dpa_engine.web.i18n import CATALOGS
from dpa_engine.web.users import Role

from .conftest import Browserless

TEMPLATES = Path(__file__).resolve().parents[2] / "dpa_engine" / "web" / "templates"
_MESSAGE = re.compile(r"""_\((?:"([^"]+)"|'([^']+)')\)""")
# msgids that reach _() as values: statuses, roles, steps, coverage states, refusals
DYNAMIC = ["draft", "awaiting approval", "approved", "final", "signed", "account-manager",
           "legal", "admin", "customer", "language", "services", "processing", "deviations",
           "covered", "gap", "not-applicable", "your role may not open this page",
           "the form's security token is missing or out of date: reload the page and send it again",
           "Wrong e-mail address or password.",
           "Too many failed logins. Wait 15 minutes and try again.",
           "Fill in the customer, language, services and processing to see which clauses apply.",
           "no such change"]


def template_messages() -> set[str]:
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        for double, single in _MESSAGE.findall(template.read_text(encoding="utf-8")):
            found.add(double or single)
    return found


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_every_message_is_translated(language: str) -> None:
    path = CATALOGS / language / "LC_MESSAGES" / "web.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted((template_messages() | set(DYNAMIC)) - translated)
    assert not missing, f"{path}: no translation for {missing}"


def test_a_user_chooses_a_language_and_keeps_it(app: FastAPI, am: Browserless) -> None:
    assert ">Agreements<" in am.get("/agreements").text
    response = am.post("/account/language", {"language": "nl", "next": "/agreements"})
    assert response.headers["location"] == "/agreements"
    page = am.get("/agreements").text
    assert '<html lang="nl">' in page and ">Overeenkomsten<" in page
    later = Browserless(app, Role.account_manager)  # a new session of the same user
    assert ">Nieuwe overeenkomst<" in later.get("/agreements").text
    french = Browserless(app, Role.legal)
    moved = french.post("/account/language", {"language": "fr", "next": "//evil.example"})
    assert moved.headers["location"] == "/"  # no redirect to another site
    assert "File d&#39;approbation" in french.get("/legal/approvals").text


def test_the_login_page_follows_the_browser(app: FastAPI) -> None:
    page = Browserless(app, None).get("/login", headers={"accept-language": "fr-BE,fr;q=0.9"})
    assert '<html lang="fr">' in page.text and "Se connecter" in page.text
