"""Admin: the users of the web app and their roles."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dpa_engine import InputError

from .pages import render
from .security import allow
from .users import Role, add_user, list_users
from .webform import text_field

router = APIRouter(prefix="/admin")


def _page(request: Request, status: int = 200, error: str | None = None, email: str = "") -> Response:
    with request.app.state.web.db.transaction() as session:
        users = list_users(session)
    return render(request, "users.html", status=status, users=users, roles=list(Role),
                  error=error, email=email)


@router.get("/users")
@allow(Role.admin)
async def users(request: Request) -> Response:
    return _page(request)


@router.post("/users")
@allow(Role.admin)
async def create_user(request: Request) -> Response:
    posted = await request.form()
    email, role = text_field(posted, "email"), text_field(posted, "role")
    if role not in {r.value for r in Role}:
        return _page(request, 422, "choose a role", email)
    try:
        with request.app.state.web.db.transaction() as session:
            add_user(session, email, text_field(posted, "password"), Role(role),
                     text_field(posted, "language") or "en")
    except InputError as exc:
        return _page(request, 422, exc.message, email)
    return RedirectResponse("/admin/users", status_code=303)
