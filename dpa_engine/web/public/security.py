"""Security for the customer-facing pages: response headers (middleware any app can use)
and form tokens bound to the signed notice link, independent of staff sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_VALIDITY_SECONDS = 24 * 3600

# no script at all; styles only from our own origin; forms post only to us; never framed
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # a notice link carries its token: never send it on to another site (same-origin, not
    # no-referrer: with that, browsers post forms with 'Origin: null')
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response (HSTS too over HTTPS),
    without overriding what a route set. Plain ASGI (no per-request task, unlike
    `@app.middleware("http")`): `app.add_middleware(SecurityHeaders)`, or
    `security_headers(app)`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _HEADERS + (_HSTS if https else ()):
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


_HEADERS = tuple(SECURITY_HEADERS.items())
_HSTS = (("Strict-Transport-Security", "max-age=31536000"),)


def security_headers(app: Starlette) -> None:
    """Add the security headers to every response of `app` (call once, before it serves)."""
    app.add_middleware(SecurityHeaders)


def form_nonce(now: float | None = None) -> str:
    return f"{int(now if now is not None else time.time())}.{secrets.token_urlsafe(12)}"


def form_token(secret: str, purpose: str, nonce: str) -> str:
    """The CSRF field of a form: an HMAC of what the form acts on (e.g. the notice token) and
    its nonce, so it is good for that form only and cannot be made without the secret."""
    message = f"{purpose}\x00{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def form_token_valid(secret: str, purpose: str, nonce: str, token: str,
                     now: float | None = None) -> bool:
    issued, _, _ = nonce.partition(".")
    if not issued.isdigit():
        return False
    age = (now if now is not None else time.time()) - int(issued)
    if not 0 <= age <= FORM_VALIDITY_SECONDS:
        return False
    return hmac.compare_digest(form_token(secret, purpose, nonce), token)


def same_origin(request: Request) -> bool:
    """False when the browser says the post comes from another site (Sec-Fetch-Site, else the
    Origin header); requests without either (not from a browser) pass on their form token."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
