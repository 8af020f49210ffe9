"""Who may reach which route, CSRF tokens, login throttling and the security headers.

Every route declares its roles with `@allow(...)`; the app-wide `authorize` dependency refuses
a route that declares none, so a new route cannot be left open by accident.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal, TypeVar

from fastapi import Request
from starlette.responses import Response

from .users import LoggedIn, Role, find_session

SESSION_COOKIE = "dpa_session"
CSRF_COOKIE = "dpa_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
ROLES_ATTRIBUTE = "__dpa_roles__"
# "customer": anyone; the route checks its own signed link and form token (the customer's
# notice page and the public sub-processor page), so no session and no session CSRF token.
Access = Role | Literal["public", "any", "customer"]
F = TypeVar("F", bound=Callable[..., Any])

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def allow(*access: Access) -> Callable[[F], F]:
    """Declare who may call a route: roles, "any" logged-in user, or "public". Admin may
    call every route that is not public-only."""
    def mark(endpoint: F) -> F:
        setattr(endpoint, ROLES_ATTRIBUTE, frozenset(access))
        return endpoint
    return mark


def declared_access(endpoint: Callable[..., Any]) -> frozenset[Access] | None:
    value = getattr(endpoint, ROLES_ATTRIBUTE, None)
    return value if isinstance(value, frozenset) else None


def may_access(access: frozenset[Access], role: Role | None) -> bool:
    if "public" in access or "customer" in access:
        return True
    if role is None:
        return False
    return "any" in access or role in access or role is Role.admin


class Refused(Exception):
    """A request refused: not logged in (login), not allowed (403) or a bad CSRF token."""

    def __init__(self, status: int, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.kind = kind  # sent as the X-Dpa-Refused header: login, role, csrf or undeclared


async def authorize(request: Request) -> AsyncIterator[None]:
    """App-wide dependency: the logged-in user, the route's roles, the CSRF token; closes the
    posted form (its uploaded files) when the request is done."""
    endpoint = request.scope.get("endpoint")
    access = declared_access(endpoint) if endpoint is not None else None
    if access is None:
        raise Refused(500, "this page declares no role and stays closed", "undeclared")
    login = current_login(request)
    if not may_access(access, login.user.role if login else None):
        raise Refused(401 if login is None else 403,
                      "log in first" if login is None else "your role may not open this page",
                      "login" if login is None else "role")
    try:  # (a form refused for its CSRF token is closed too: its uploaded files)
        if request.method not in ("GET", "HEAD", "OPTIONS") and "customer" not in access:
            await check_csrf(request, login)
        yield
    finally:
        form = getattr(request.state, "form", None)
        if form is not None:
            await form.close()


def current_login(request: Request) -> LoggedIn | None:
    if hasattr(request.state, "login"):
        found: LoggedIn | None = request.state.login
        return found
    token = request.cookies.get(SESSION_COOKIE)
    login = None
    if token:
        with request.app.state.web.db.transaction() as session:
            login = find_session(session, token)
    request.state.login = login
    return login


def expected_csrf(request: Request, login: LoggedIn | None) -> str:
    """The CSRF token forms must carry: the session's, or before login the cookie's."""
    if login is not None:
        return login.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return str(token)


async def check_csrf(request: Request, login: LoggedIn | None) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        request.state.form = form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = login.csrf_token if login is not None else request.cookies.get(CSRF_COOKIE)
    if not sent or not expected or not secrets.compare_digest(sent, expected):
        raise Refused(403, "the form's security token is missing or out of date: reload the "
                           "page and send it again", "csrf")


class LoginThrottle:
    """At most `limit` failed logins per client address and per e-mail within `window` s."""

    def __init__(self, limit: int = 5, window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        entries = self._failures[key]
        cutoff = time.monotonic() - self.window
        while entries and entries[0] < cutoff:
            entries.popleft()
        return entries

    def __len__(self) -> int:
        """How many addresses and e-mails have failures on record."""
        return len(self._failures)

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        if len(self._failures) > 10_000:  # many guessed e-mails: forget the expired entries
            for key in [k for k in self._failures if not self._recent(k)]:
                del self._failures[key]
        for key in keys:
            self._recent(key).append(time.monotonic())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def security_middleware(max_body: int) -> Callable[[Request, Callable[[Request], Awaitable[Response]]],
                                                   Awaitable[Response]]:
    """Refuses bodies over `max_body` bytes before they are read; adds the security headers
    and the pre-login CSRF cookie."""
    async def middleware(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return Response("a request body needs a Content-Length", status_code=411)
            if int(length) > max_body:
                return Response(f"the upload is larger than {max_body // 1_000_000} MB",
                                status_code=413)
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("cache-control", "no-store")
        new_csrf = getattr(request.state, "new_csrf", None)
        if new_csrf and not request.cookies.get(CSRF_COOKIE):
            response.set_cookie(CSRF_COOKIE, new_csrf, httponly=True, samesite="lax",
                                secure=is_https(request), path="/")
        return response
    return middleware
