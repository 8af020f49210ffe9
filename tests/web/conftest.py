"""Fixtures for the web app: an app on a fresh SQLite database with one user per role,
HTTP clients logged in as each role (in-process ASGI), and the example provider."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dpa_engine import Engine
from dpa_engine.storage import close_databases
from dpa_engine.web import WebSettings, create_app
from dpa_engine.web.users import Role, add_user, list_users, start_session
from tests.notices.conftest import PgServer
from tests.notices.conftest import pg_server as pg_server  # the same throwaway cluster fixture

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = ROOT / "examples" / "provider.yaml"
PASSWORD = "correct horse battery staple"
EMAILS = {Role.account_manager: "am@provider.example", Role.legal: "legal@provider.example",
          Role.admin: "admin@provider.example"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def make_app(database: str, engine: Engine | None = None) -> FastAPI:
    app = create_app(WebSettings(provider=PROVIDER, database=database), engine)
    with app.state.web.db.transaction() as session:
        for role, email in EMAILS.items():
            add_user(session, email, PASSWORD, role)
    return app


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Path:
    """A migrated database with the three users, made once and copied for each test."""
    path = tmp_path_factory.mktemp("seed") / "web.db"
    make_app(f"sqlite:///{path}", engine)
    close_databases()
    return path


@pytest.fixture
def pg_app(pg_server: PgServer, engine: Engine) -> Iterator[FastAPI]:
    """The app on a fresh PostgreSQL database (a throwaway cluster, as the notice tests use)."""
    yield make_app(pg_server.create_database(), engine)
    close_databases()


@pytest.fixture
def app(tmp_path: Path, engine: Engine, seeded_database: Path) -> Iterator[FastAPI]:
    target = tmp_path / "web.db"
    shutil.copyfile(seeded_database, target)
    yield create_app(WebSettings(provider=PROVIDER, database=f"sqlite:///{target}"), engine)
    close_databases()


class Browserless:
    """A client logged in as one role (a server-side session made directly: no argon2 cost)."""

    def __init__(self, app: FastAPI, role: Role | None) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.csrf = ""
        if role is not None:
            with app.state.web.db.transaction() as session:
                user = next(u for u in list_users(session) if u.email == EMAILS[role])
                token = start_session(session, user)
            self.client.cookies.set("dpa_session", token)
            self.csrf = csrf_of(self.client.get("/login").text)

    def get(self, url: str, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kwargs)  # type: ignore[arg-type]

    def post(self, url: str, data: dict[str, object] | None = None, **kwargs: object
             ):  # type: ignore[no-untyped-def]
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})},
                                **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def am(app: FastAPI) -> Browserless:
    return Browserless(app, Role.account_manager)


@pytest.fixture
def legal(app: FastAPI) -> Browserless:
    return Browserless(app, Role.legal)


@pytest.fixture
def admin(app: FastAPI) -> Browserless:
    return Browserless(app, Role.admin)
