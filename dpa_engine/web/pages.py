"""Server-rendered pages: one Jinja environment (autoescaped), the user's language, the CSRF
token and the navigation in every page's context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .i18n import LANGUAGE_NAMES, translator
from .security import current_login, expected_csrf
from .users import Role

_environment = Environment(loader=PackageLoader("dpa_engine.web", "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True),
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
STATIC = Path(__file__).resolve().parent / "static"
STATUS_LABELS = {"draft": "draft", "awaiting-approval": "awaiting approval",
                 "approved": "approved", "final": "final", "signed": "signed"}


def language_of(request: Request) -> str:
    login = current_login(request)
    if login is not None:
        return login.user.language
    chosen = request.cookies.get("dpa_lang", "")
    if chosen in LANGUAGE_NAMES:
        return chosen
    accepted = request.headers.get("accept-language", "")[:2].lower()
    return accepted if accepted in LANGUAGE_NAMES else "en"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    login = current_login(request)
    language = language_of(request)
    role = login.user.role if login else None
    html = _environment.get_template(template).render(
        request=request, user=login.user if login else None, role=role, Role=Role,
        csrf_token=expected_csrf(request, login), _=translator(language), lang=language,
        languages=LANGUAGE_NAMES, status_labels=STATUS_LABELS, path=request.url.path,
        **context)
    return HTMLResponse(html, status_code=status)
