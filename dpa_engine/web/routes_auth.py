"""Logging in and out, the start page and the user's language."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .i18n import LANGUAGE_NAMES
from .pages import render
from .security import SESSION_COOKIE, allow, current_login, is_https
from .users import Role, authenticate, end_session, set_language, start_session
from .webform import text_field

router = APIRouter()


def home_for(role: Role) -> str:
    return {Role.account_manager: "/agreements", Role.legal: "/legal/approvals",
            Role.admin: "/admin/users"}[role]


@router.get("/")
@allow("any")
async def home(request: Request) -> Response:
    login = current_login(request)
    assert login is not None
    return RedirectResponse(home_for(login.user.role), status_code=303)


@router.get("/login")
@allow("public")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", error=None, email="")


@router.post("/login")
@allow("public")
async def login(request: Request) -> Response:
    form = await request.form()
    email, password = text_field(form, "email").strip().lower(), text_field(form, "password")
    context = request.app.state.web
    address = request.client.host if request.client else "?"
    keys = (f"ip:{address}", f"email:{email}")
    if context.throttle.blocked(*keys):
        return render(request, "login.html", status=429, email=email,
                      error="Too many failed logins. Wait 15 minutes and try again.")

    def check() -> str | None:
        with context.db.transaction() as session:
            user = authenticate(session, email, password)
            return start_session(session, user) if user else None

    token = await run_in_threadpool(check)
    if token is None:
        context.throttle.failed(*keys)
        return render(request, "login.html", status=401, email=email,
                      error="Wrong e-mail address or password.")
    context.throttle.succeeded(*keys)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")
    return response


@router.post("/logout")
@allow("any")
async def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    with request.app.state.web.db.transaction() as session:
        end_session(session, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/account/language")
@allow("any")
async def choose_language(request: Request) -> Response:
    form = await request.form()
    language = text_field(form, "language")
    login = current_login(request)
    assert login is not None
    if language in LANGUAGE_NAMES:
        with request.app.state.web.db.transaction() as session:
            set_language(session, login.user, language)
    target = text_field(form, "next")
    return RedirectResponse(target if target.startswith("/") and not target.startswith("//")
                            else "/", status_code=303)
