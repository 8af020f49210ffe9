"""Who may reach what: every route walked as anonymous, account manager, legal and admin.

A new route must declare its roles (`@allow`) and be added to EXPECTED below, or this test
fails: no page can be left open by accident."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient
from sqlalchemy import select

from dpa_engine.web.app import api_routes
from dpa_engine.web.library import WebUserRow
from dpa_engine.web.security import declared_access
from dpa_engine.web.users import Role

from .conftest import EMAILS, PASSWORD, Browserless, csrf_of
from .flows import fill_in

AM, LEGAL, ADMIN = Role.account_manager, Role.legal, Role.admin
EVERYONE = frozenset({None, AM, LEGAL, ADMIN})
LOGGED_IN = frozenset({AM, LEGAL, ADMIN})
EXPECTED: dict[tuple[str, str], frozenset[Role | None]] = {
    ("GET", "/"): LOGGED_IN,
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): EVERYONE,
    ("POST", "/logout"): LOGGED_IN,
    ("POST", "/account/language"): LOGGED_IN,
    **{(method, path): frozenset({AM, ADMIN}) for method, path in [
        ("GET", "/agreements"), ("POST", "/agreements"), ("POST", "/agreements/upload"),
        ("POST", "/agreements/check-enterprise"), ("GET", "/agreements/{agreement_id}/step/{step}"),
        ("POST", "/agreements/{agreement_id}/step/{step}"),
        ("POST", "/agreements/{agreement_id}/preview/{step}"), ("GET", "/agreements/{agreement_id}"),
        ("POST", "/agreements/{agreement_id}/generate"),
        ("GET", "/agreements/{agreement_id}/agreement.docx"),
        ("GET", "/agreements/{agreement_id}/agreement.pdf"),
        ("GET", "/agreements/{agreement_id}/deal.yaml"),
        ("GET", "/agreements/{agreement_id}/manifest.json"),
        ("GET", "/agreements/{agreement_id}/signed.pdf"),
        ("POST", "/agreements/{agreement_id}/signed"),
        ("POST", "/agreements/{agreement_id}/new-version"),
        ("POST", "/agreements/batch"), ("GET", "/agreements/batch/agreements.zip")]},
    **{(method, path): frozenset({LEGAL, ADMIN}) for method, path in [
        ("GET", "/legal/approvals"), ("GET", "/legal/approvals/{agreement_id}"),
        ("POST", "/legal/approvals/{agreement_id}"), ("GET", "/legal/clauses"),
        ("GET", "/legal/clauses/{clause_id}"), ("GET", "/legal/coverage"),
        ("GET", "/legal/changes"), ("GET", "/legal/changes/{change_id}"),
        ("GET", "/legal/changes/new"), ("POST", "/legal/changes/new"),
        ("GET", "/legal/changes/{change_id}/plan"), ("POST", "/legal/changes/{change_id}/plan"),
        ("POST", "/legal/changes/{change_id}/withdraw"),
        ("POST", "/legal/changes/{change_id}/letter"),
        ("POST", "/legal/changes/{change_id}/close"),
        ("GET", "/legal/changes/{change_id}/letters.zip"),  # (weblegal)
        ("GET", "/legal/changes/{change_id}/evidence.zip"),
        ("POST", "/legal/changes/{change_id}/answer"),
        ("POST", "/legal/changes/{change_id}/bounce"),
        ("POST", "/legal/changes/{change_id}/announce")]},
    ("GET", "/admin/users"): frozenset({ADMIN}),
    ("POST", "/admin/users"): frozenset({ADMIN}),
    # The customer's side: open to anyone, each route checks its own signed link (a bogus
    # one gets the plain refusal page, tested in tests/web_public).
    **{(method, path): EVERYONE for method, path in [
        ("GET", "/notice/{token}"), ("POST", "/notice/{token}/confirm"),
        ("POST", "/notice/{token}/answer"), ("GET", "/notice/{token}/receipt"),
        ("GET", "/subprocessors"), ("GET", "/subprocessors.json"), ("GET", "/subprocessors.atom"),
        ("POST", "/subprocessors/subscribe"), ("GET", "/subprocessors/confirm/{token}"),
        ("POST", "/subprocessors/confirm/{token}"), ("GET", "/subprocessors/unsubscribe/{token}"),
        ("POST", "/subprocessors/unsubscribe/{token}"), ("GET", "/public-static/style.css")]},
}


def _roles(access: frozenset[str]) -> frozenset[Role | None]:
    if "public" in access or "customer" in access:
        return EVERYONE
    if "any" in access:
        return LOGGED_IN
    return frozenset({Role(a) for a in access} | {ADMIN})


def _routes(app: FastAPI) -> list[tuple[str, str, frozenset[str] | None]]:
    return [(method, route.path, declared_access(route.endpoint))
            for route in api_routes(app) for method in sorted(route.methods)]


class DescribeRouteMatrix:
    def it_has_every_route_declare_its_roles_as_expected(self, app: FastAPI) -> None:
        routes = _routes(app)
        undeclared = [(m, p) for m, p, access in routes if access is None]
        assert not undeclared, f"routes without @allow(...): {undeclared}"
        declared = {(m, p): _roles(access) for m, p, access in routes if access is not None}
        assert declared == EXPECTED

    def it_keeps_a_route_without_roles_closed(self, app: FastAPI, admin: Browserless) -> None:
        @app.get("/forgotten")
        async def forgotten(request: Request) -> Response:
            return Response("open")

        assert admin.get("/forgotten").status_code == 500
        assert TestClient(app).get("/forgotten").status_code == 500

    def it_allows_and_denies_every_route_as_declared(self, app: FastAPI) -> None:
        owner = Browserless(app, AM)
        agreement_id = fill_in(owner, deviations={"objection_window_days": "14"})
        owner.post(f"/agreements/{agreement_id}/generate")
        values = {"agreement_id": str(agreement_id), "step": "customer",
                  "clause_id": next(iter(app.state.web.engine.library.clauses)),
                  "token": "not-a-signed-link", "change_id": "1"}
        problems = []
        for method, path, _access in _routes(app):
            url = path.format(**values)
            for role in (None, AM, LEGAL, ADMIN):
                client = Browserless(app, role)
                if role is None:
                    client.csrf = csrf_of(client.get("/login").text)
                response = (client.get(url) if method == "GET"
                            else client.post(url, {"decision": "reject", "note": "no"}))
                allowed = role in EXPECTED[(method, path)]
                refused = response.headers.get("x-dpa-refused")
                if response.status_code >= 500:
                    problems.append(f"{method} {url} as {role}: {response.status_code}")
                elif allowed and refused:
                    problems.append(f"{method} {url} as {role}: refused ({refused})")
                elif not allowed and refused != ("login" if role is None else "role"):
                    problems.append(f"{method} {url} as {role}: not refused "
                                    f"({response.status_code})")
                elif refused == "login":
                    assert (response.status_code, response.headers.get("location")) in (
                        (303, "/login"), (401, None))
                elif refused == "role":
                    assert response.status_code == 403
        assert not problems


class DescribeCsrf:
    def it_refuses_a_form_without_its_token(self, am: Browserless) -> None:
        response = am.client.post("/agreements", data={})
        assert response.status_code == 403
        assert "security token" in response.text

    def it_refuses_another_sessions_token(self, app: FastAPI, am: Browserless) -> None:
        other = Browserless(app, AM)
        response = am.client.post("/agreements", data={"csrf_token": other.csrf})
        assert response.status_code == 403

    def it_refuses_a_login_without_its_token(self, app: FastAPI) -> None:
        client = TestClient(app, follow_redirects=False)
        response = client.post("/login", data={"email": EMAILS[AM], "password": PASSWORD})
        assert response.status_code == 403


class DescribeLogin:
    def _login(self, client: TestClient, password: str) -> int:
        token = csrf_of(client.get("/login").text)
        return client.post("/login", data={"email": EMAILS[AM], "password": password,
                                           "csrf_token": token}).status_code

    def it_sets_a_session_cookie_httponly_and_samesite_lax(self, app: FastAPI) -> None:
        client = TestClient(app, follow_redirects=False)
        assert self._login(client, PASSWORD) == 303
        cookie = next(c for c in client.cookies.jar if c.name == "dpa_session")
        assert cookie.has_nonstandard_attr("HttpOnly")
        assert cookie.get_nonstandard_attr("SameSite", "").lower() == "lax"
        assert not cookie.secure

    def it_marks_the_cookie_secure_over_tls(self, app: FastAPI) -> None:
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        assert self._login(client, PASSWORD) == 303
        assert next(c for c in client.cookies.jar if c.name == "dpa_session").secure

    def it_rate_limits_failed_logins(self, app: FastAPI) -> None:
        client = TestClient(app, follow_redirects=False)
        assert [self._login(client, "wrong password!") for _ in range(5)] == [401] * 5
        assert self._login(client, PASSWORD) == 429

    def it_stores_only_an_argon2_hash(self, app: FastAPI) -> None:
        with app.state.web.db.transaction() as session:
            hashes = list(session.scalars(select(WebUserRow.password_hash)))
        assert hashes and all(h.startswith("$argon2id$") for h in hashes)
        assert not any(PASSWORD in h for h in hashes)

    def it_ends_the_session_at_logout(self, am: Browserless) -> None:
        assert am.post("/logout").status_code == 303
        assert am.get("/agreements").headers["location"] == "/login"


class DescribeHeaders:
    @pytest.mark.parametrize("path", ["/login", "/static/app.css"])
    def it_sends_the_security_headers(self, app: FastAPI, path: str) -> None:
        response = TestClient(app).get(path)
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


class DescribeAdmin:
    def it_adds_a_user_from_the_admin_page(self, admin: Browserless) -> None:
        response = admin.post("/admin/users", {"email": "new@provider.example", "role": "legal",
                                               "password": "a long enough pass", "language": "fr"})
        assert response.status_code == 303
        assert "new@provider.example" in admin.get("/admin/users").text

    def it_refuses_a_short_password(self, admin: Browserless) -> None:
        response = admin.post("/admin/users", {"email": "new@provider.example", "role": "legal",
                                               "password": "short", "language": "en"})
        assert response.status_code == 422
        assert "fewer than 12 characters" in response.text


class DescribeThrottle:
    def it_forgets_expired_failures(self) -> None:
        from dpa_engine.web.security import LoginThrottle

        throttle = LoginThrottle(limit=1, window=0.0)
        for index in range(10_002):
            throttle.failed(f"email:{index}")
        throttle.failed("email:last")
        assert len(throttle) < 100
        assert not throttle.blocked("email:1")
