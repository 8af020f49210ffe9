"""Fixtures for the customer's side: a register with sent notices (real SMTP on loopback), the
public router in a bare FastAPI app, served by uvicorn on a free loopback port for the browser
tests, and headless Chromium (Debian's) through Playwright."""

from __future__ import annotations

import datetime
import html
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dpa_engine.library import Library
from dpa_engine.notices import change_status, load_notice_texts, send_change
from dpa_engine.notices.links import PUBLIC_URL_ENV, notice_url
from dpa_engine.storage import Database
from dpa_engine.web.public import configure, load_settings, router, security_headers
from tests.notices.conftest import (  # noqa: F401  (fixtures used by name)
    EXAMPLES,
    LIBRARY,
    Clock,
    SmtpServer,
    db,
    db_url,
    free_port,
    library,
    pg_server,
    smtp,
    texts,
    write_deal,
)
from tests.notices.helpers import ACTOR, proposed_and_planned, register, voicebot

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


@dataclass
class World:
    """A register with the examples imported and change 1 (VoiceBot) sent to every customer."""

    db: Database
    smtp: SmtpServer
    clock: Clock
    change_id: int
    app: FastAPI
    secret: str
    port: int  # where the live server listens (the notices link there)
    base_url: str = "http://testserver"

    def url(self, customer: str, change_id: int | None = None,
            deadline: datetime.datetime | None = None, secret: str | None = None) -> str:
        """The customer's notice link, as the notice e-mail will carry it."""
        change = change_id or self.change_id
        if deadline is None:
            target = next(t for t in change_status(self.db, change).targets
                          if t.customer == customer)
            deadline = target.deadline
        return notice_url(self.base_url, change, customer, deadline,
                          secret=secret or self.secret, issued_at=self.clock())

    def path(self, customer: str, **kwargs: Any) -> str:
        return self.url(customer, **kwargs).removeprefix(self.base_url)

    def objections(self, customer: str) -> list[dict[str, Any]]:
        """What `dpa change status` lists as the customer's objections and consents."""
        return next(t for t in change_status(self.db, self.change_id).targets
                    if t.customer == customer).objections


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the forms of an HTML page, unescaped, as a browser posts them."""
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page)}


def build_app(database: Database, server: SmtpServer, clock: Clock, base_url: str) -> FastAPI:
    """What the lead's app does with the router: include it, add the headers middleware."""
    app = FastAPI()
    security_headers(app)
    app.include_router(router)
    configure(app, load_settings(db=database, library=LIBRARY, smtp=server.settings(),
                                 base_url=base_url, clock=clock))
    return app


@pytest.fixture
def world(db: Database, library: Library, smtp: SmtpServer,  # noqa: F811
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """The examples plus 'customer-1-bv' (specific authorisation, English, Belgian), so that two
    customers are asked for consent. The notices link to the port the live server will use."""
    port = free_port()
    monkeypatch.setenv(PUBLIC_URL_ENV, f"http://127.0.0.1:{port}")
    # real time: the links expire and the deadlines run from now
    clock = Clock(datetime.datetime.now(datetime.UTC).replace(microsecond=0))
    extra = write_deal(tmp_path, 1, language="en",
                       deviations={"subprocessor_authorisation": "specific"})
    register(db, library, clock, EXAMPLES, extra)
    effective = (clock() + datetime.timedelta(days=60)).date()
    plan = proposed_and_planned(db, clock, voicebot(), effective_on=effective)
    report = send_change(db, plan.change.id, settings=smtp.settings(),
                         texts=load_notice_texts(LIBRARY / "notices"), actor=ACTOR, clock=clock)
    assert report.complete and not report.failed
    app = build_app(db, smtp, clock, "http://testserver")
    settings = app.state.dpa_public
    return World(db=db, smtp=smtp, clock=clock, change_id=plan.change.id, app=app,
                 secret=settings.secret, port=port)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app, follow_redirects=False) as test_client:
        yield test_client


@dataclass
class LiveServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def live(world: World) -> Iterator[LiveServer]:
    port = world.port
    base_url = f"http://127.0.0.1:{port}"
    world.base_url = base_url
    world.app.state.dpa_public.base_url = base_url
    server = uvicorn.Server(uvicorn.Config(world.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(base_url, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (.ci/system-deps installs it)")
        pytest.skip("Chromium not installed: apt-get install chromium")
    from playwright.sync_api import sync_playwright  # (only when the browser tests run)

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="nl-BE", viewport={"width": 1100, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of every page: $DPA_SCREENSHOTS, else the test run's temporary folder."""
    folder = Path(os.environ.get("DPA_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's critical and serious violations on the page shown (run through the DevTools
    protocol, which the page's Content-Security-Policy does not restrict)."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing (vendor axe.min.js from the npm package axe-core)")
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"] if v["impact"] in ("critical", "serious")]


def check_page(page: Any, shots: Path, name: str) -> None:
    """Every page the tests visit: a full-page screenshot, and no serious axe violation."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert axe_violations(page) == [], name
