"""The web app driven in headless Chromium (Debian's `chromium`, through Playwright):
the account manager's and legal's journeys, access and CSRF refusals, axe-core on every
page and a screenshot of every page under tests/web/screenshots/."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from dpa_engine import Engine
from dpa_engine.notices import NoticeError, load_notice_texts, record_bounce, send_change
from dpa_engine.notices.preview import proposal_choices
from dpa_engine.storage import Database, close_databases, open_database
from dpa_engine.web import WebSettings, create_app
from dpa_engine.web.users import Role
from tests.notices.conftest import LIBRARY, SPRING, Clock, SmtpServer
from tests.notices.conftest import smtp as smtp  # the loopback SMTP server fixture
from tests.notices.helpers import ACTOR, proposed_and_planned, register, voicebot

from .conftest import EMAILS, PASSWORD, PROVIDER
from .test_agreements import docx_text

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
SCREENSHOTS = HERE / "screenshots"
AXE = HERE / "vendor" / "axe.min.js"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DRAFT_NL = "ONTWERP – bevat niet-goedgekeurde afwijkingen"

pytestmark = pytest.mark.browser


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but /usr/bin/chromium is missing (.ci/system-deps installs it)")
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): apt-get install chromium")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def browser_database(tmp_path_factory: pytest.TempPathFactory, seeded_database: Path) -> str:
    """The URL of the server's database: a copy of the seeded one."""
    folder = tmp_path_factory.mktemp("browser-db")
    shutil.copyfile(seeded_database, folder / "web.db")
    return f"sqlite:///{folder / 'web.db'}"


@pytest.fixture(scope="module")
def server(engine: Engine, browser_database: str) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, on a copy of the seeded database."""
    _require_chromium()
    app = create_app(WebSettings(provider=PROVIDER, database=browser_database), engine)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                       lifespan="off"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    close_databases()


class Visitor:
    """One user's browser: every page it loads is screenshotted and checked with axe-core."""

    def __init__(self, context: Any, base: str, name: str) -> None:
        self.context = context
        self.base = base
        self.name = name
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.shots = 0
        self.refusals_expected = False  # a test that provokes 403 pages says so
        self.refused_forms_expected = False  # ... or a form refused with 422 (a field's error)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        if self.refusals_expected and "status of 403" in message.text:
            return
        if self.refused_forms_expected and "status of 422" in message.text:
            return
        self.problems.append(f"console: {message.text}")

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        self.check(path)
        return response

    def check(self, label: str) -> None:
        """axe-core on the page as it is: no critical or serious violation; a screenshot."""
        self.page.wait_for_load_state("networkidle")
        self.shots += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "start"
        SCREENSHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{self.shots:02d}-{slug}.png"),
                             full_page=True)
        self.page.evaluate(AXE.read_text(encoding="utf-8"))
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        for violation in result["violations"]:
            if violation["impact"] in ("critical", "serious"):
                targets = [n["target"] for n in violation["nodes"]][:3]
                self.problems.append(f"{label}: axe {violation['id']} ({violation['impact']}): "
                                     f"{violation['help']} at {targets}")

    def log_in(self, role: Role) -> None:
        self.goto("/login")
        self.page.fill("#email", EMAILS[role])
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state("networkidle")
        self.check(f"after login {role.value}")


@pytest.fixture
def visit(server: str, tmp_path: Path) -> Iterator[Callable[[str], Visitor]]:
    from playwright.sync_api import sync_playwright

    visitors: list[Visitor] = []
    with sync_playwright() as playwright:
        contexts = []

        def open_visitor(name: str) -> Visitor:
            profile = tmp_path / f"profile-{name}"
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
                accept_downloads=True, viewport={"width": 1366, "height": 900})
            contexts.append(context)
            visitor = Visitor(context, server, name)
            visitors.append(visitor)
            return visitor

        yield open_visitor
        for context in contexts:
            context.close()
    problems = [p for v in visitors for p in v.problems]
    assert not problems, "\n".join(problems)


def _download_docx(visitor: Visitor, tmp_path: Path) -> str:
    with visitor.page.expect_download() as info:
        visitor.page.click("text=Agreement (.docx)")
    target = tmp_path / "agreement.docx"
    info.value.save_as(str(target))
    return docx_text(target.read_bytes())


def _fill_steps(am: Visitor, name: str, *, window_days: str = "") -> None:
    page = am.page
    am.goto("/agreements")
    page.click("text=New agreement")
    page.wait_for_url(re.compile(r"/step/customer$"))
    am.check("step customer")
    page.fill("#customer-name", name)
    page.fill("#customer-legal_form", "BV")
    page.fill("#customer-country", "BE")
    page.fill("#customer-enterprise_number", "0403.170.702")  # wrong check digits
    page.wait_for_selector("#err-customer-enterprise_number:has-text('check digits')")
    am.check("step customer error as you type")
    page.fill("#customer-enterprise_number", "0403.170.701")
    page.wait_for_selector("#err-customer-enterprise_number:empty", state="attached")
    page.fill("#customer-street", "Grote Markt 12")
    page.fill("#customer-postal_code", "9000")
    page.fill("#customer-city", "Gent")
    page.fill("#customer-signatory_name", "An Peeters")
    page.fill("#customer-notice_emails", "privacy@peeters.example")
    page.click("button:has-text('Next')")
    page.wait_for_url(re.compile(r"/step/language$"))
    am.check("step language")
    page.check("#language-nl")
    page.fill("#reference", "DPA-BROWSER-1")
    page.click("button:has-text('Next')")
    page.wait_for_url(re.compile(r"/step/services$"))
    am.check("step services")
    page.check("#service-customer-service")
    page.click("button:has-text('Next')")
    page.wait_for_url(re.compile(r"/step/processing$"))
    am.check("step processing")
    assert page.input_value("#processing-customer-service-retention").startswith("12 maanden")
    page.click("button:has-text('Next')")
    page.wait_for_url(re.compile(r"/step/deviations$"))
    am.check("step deviations")
    if window_days:
        page.fill("#deviations-objection_window_days", window_days)
        page.press("#deviations-objection_window_days", "Tab")
        page.wait_for_selector("#explanation :text('needs legal')")
        am.check("step deviations with a deviation")
    page.click("button:has-text('Review')")
    page.wait_for_url(re.compile(r"/agreements/\d+$"))
    am.check("review")


class DescribeAccountManager:
    def it_creates_an_agreement_for_a_new_customer(self, visit: Callable[[str], Visitor],
                                                   tmp_path: Path) -> None:
        am = visit("am")
        am.log_in(Role.account_manager)
        _fill_steps(am, "Bakkerij Browser")
        page = am.page
        assert page.locator("#explanation li.in").count() > 10  # the explanation is there
        page.click("button:has-text('Generate')")
        page.wait_for_selector(".status-final")
        am.check("generated")
        text = _download_docx(am, tmp_path)
        assert "Bakkerij Browser" in text and "0403.170.701" in text
        assert DRAFT_NL not in text
        am.goto("/agreements?q=browser")
        assert page.locator("table.list >> text=Bakkerij Browser").count() == 1

    def it_cannot_reach_legals_pages(self, visit: Callable[[str], Visitor]) -> None:
        am = visit("am-denied")
        am.refusals_expected = True
        am.log_in(Role.account_manager)
        for path in ("/legal/approvals", "/legal/clauses", "/admin/users"):
            response = am.goto(path)
            assert response.status == 403
            assert am.page.locator("text=your role may not open this page").count() == 1

    def it_is_refused_a_form_posted_without_its_csrf_token(self, visit: Callable[[str], Visitor]
                                                           ) -> None:
        am = visit("am-csrf")
        am.refusals_expected = True
        am.log_in(Role.account_manager)
        am.goto("/agreements")
        am.page.evaluate("document.querySelectorAll('input[name=csrf_token]')"
                         ".forEach(e => e.remove())")
        with am.page.expect_navigation():
            am.page.click("text=New agreement")
        am.check("csrf refused")
        assert am.page.locator("text=security token is missing").count() == 1


class DescribeLegal:
    def it_approves_a_deviation_and_the_regenerated_agreement_is_final(
            self, visit: Callable[[str], Visitor], tmp_path: Path) -> None:
        am = visit("am-deviation")
        am.log_in(Role.account_manager)
        _fill_steps(am, "Slagerij Afwijking", window_days="14")
        am.page.click("button:has-text('Generate')")
        am.page.wait_for_selector(".status-awaiting-approval")
        am.check("generated draft")
        agreement_url = am.page.url
        assert DRAFT_NL in _download_docx(am, tmp_path)

        legal = visit("legal")
        legal.log_in(Role.legal)
        legal.goto("/legal/approvals")
        legal.page.click("text=Slagerij Afwijking")
        legal.page.wait_for_selector("ins")
        legal.check("approval redline")
        legal.page.fill("#note", "14 days agreed for this customer")
        legal.page.click("button:has-text('Approve')")
        legal.page.wait_for_url(re.compile(r"/legal/approvals$"))
        legal.check("queue after approval")
        assert legal.page.locator("text=Slagerij Afwijking").count() == 0
        for path in ("/legal/clauses", "/legal/clauses?article=28(3)(a)",
                     "/legal/clauses/audit.inspections", "/legal/coverage"):
            legal.goto(path)

        am.page.goto(agreement_url)
        am.page.click("button:has-text('Generate')")
        am.page.wait_for_selector(".status-final")
        am.check("regenerated final")
        text = _download_docx(am, tmp_path)
        assert DRAFT_NL not in text and "Slagerij Afwijking" in text

    def it_lets_an_admin_see_the_users(self, visit: Callable[[str], Visitor]) -> None:
        admin = visit("admin")
        admin.log_in(Role.admin)
        admin.goto("/admin/users")
        assert admin.page.locator("text=legal@provider.example").count() == 1
        admin.page.select_option("#ui-language", "fr")
        admin.page.click("button:has-text('Change')")
        admin.page.wait_for_selector("h1:has-text('Utilisateurs')")
        admin.check("users in French")
        assert admin.page.get_attribute("html", "lang") == "fr"
        admin.goto("/agreements")  # an admin may open every page, here in French
        assert admin.page.locator("h1:has-text('Conventions')").count() == 1

    def it_shows_legal_a_sent_change_and_its_customers(
            self, visit: Callable[[str], Visitor], server: str, browser_database: str,
            engine: Engine, smtp: SmtpServer) -> None:
        db, clock = _registered(browser_database, engine), Clock(SPRING)
        change_id = proposed_and_planned(db, clock).change.id
        send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                    texts=load_notice_texts(LIBRARY / "notices"))
        legal = visit("legal-changes")
        legal.log_in(Role.legal)
        legal.goto("/legal/changes")
        row = legal.page.locator(f"tr[data-change='{change_id}']")
        assert row.is_visible() and "VoiceBot" in row.inner_text()
        row.locator("a").click()
        legal.page.wait_for_url(re.compile(rf"/legal/changes/{change_id}$"))
        legal.check("change status")
        assert legal.page.locator("tr[data-customer='bakkerij-peeters']").is_visible()


def _registered(browser_database: str, engine: Engine) -> Database:
    """The server's database with the example register (filled by whichever test is first)."""
    db = open_database(browser_database)
    try:
        proposal_choices(db)
    except NoticeError:  # the register is empty
        register(db, engine.library, Clock(SPRING))
    return db


class DescribeLegalRunsAChange:
    def it_records_a_letter_posted_and_closes_a_sent_change(
            self, visit: Callable[[str], Visitor], browser_database: str, engine: Engine,
            smtp: SmtpServer) -> None:
        db, clock = _registered(browser_database, engine), Clock(SPRING)
        change_id = proposed_and_planned(db, clock, voicebot(id="letterbot", name="LetterBot")
                                         ).change.id
        send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                    texts=load_notice_texts(LIBRARY / "notices"))
        record_bounce(db, change_id, "medcare-clinics", reason="550 mailbox unknown",
                      actor=ACTOR, now=clock())
        legal = visit("legal-closes-change")
        legal.log_in(Role.legal)
        legal.goto(f"/legal/changes/{change_id}")
        page = legal.page
        page.select_option("#customer", "medcare-clinics")
        page.fill("#sent_at", "2026-03-27T16:30")
        page.click("button:has-text('Record the letter')")
        page.wait_for_url(re.compile(r"done=letter$"))
        legal.check("letter recorded")
        assert page.locator("#customer").count() == 0  # nobody left to write to
        page.click("button:has-text('Close the change')")
        page.wait_for_url(re.compile(r"done=closed&list=\d+$"))
        legal.check("change closed")
        assert page.locator("[data-status='closed']").count() == 1
        row = page.locator("tr[data-customer='medcare-clinics']").inner_text()
        assert "2026-03-27 16:30" in row and "deemed-approved" in row
        assert page.locator("text=Next steps").count() == 0

    def it_proposes_plans_and_withdraws_a_change(
            self, visit: Callable[[str], Visitor], browser_database: str,
            engine: Engine) -> None:
        _registered(browser_database, engine)
        legal = visit("legal-runs-change")
        legal.refused_forms_expected = True
        legal.log_in(Role.legal)
        legal.goto("/legal/changes")
        page = legal.page
        page.click("text=Propose a change")
        page.wait_for_url(re.compile(r"/legal/changes/new$"))
        legal.check("propose a change")
        page.check("#action-add")
        page.fill("#effective", (datetime.date.today() + datetime.timedelta(days=200)).isoformat())
        for selector, value in (("#id", "speakeasy"), ("#name", "Speak <Easy> {{ 7*7 }}"),
                                ("#entity", "SpeakEasy Ltd"), ("#country", "US"),
                                ("#locations", "US, IE"), ("#purpose_nl", "transcriptie"),
                                ("#purpose_fr", "transcription"), ("#purpose_en", "transcription")):
            page.fill(selector, value)
        page.check("#service-customer-service")
        page.click("button:has-text('Propose the change')")  # no transfer mechanism: refused
        page.wait_for_selector("#err-transfer:has-text('no transfer mechanism')")
        legal.check("propose refused")
        page.select_option("#transfer", "scc:3")
        page.click("button:has-text('Propose the change')")
        page.wait_for_url(re.compile(r"/legal/changes/\d+\?done=proposed$"))
        legal.check("change proposed")
        assert page.locator("h1:has-text('Speak <Easy> {{ 7*7 }}')").count() == 1
        page.click("button:has-text('Show who would be notified')")
        page.wait_for_url(re.compile(r"/legal/changes/\d+/plan"))
        legal.check("plan preview")
        row = page.locator("tr[data-customer='bakkerij-peeters']")
        assert "customer-service uses speakeasy (new)" in row.inner_text()
        page.click("button:has-text('Confirm the plan')")
        page.wait_for_url(re.compile(r"done=planned"))
        legal.check("change planned")
        change_id = int(re.findall(r"/legal/changes/(\d+)", page.url)[0])
        assert page.locator(f"code:has-text('dpa change send {change_id}')").count() == 1
        page.fill("#reason", "Chose another supplier <b>after all</b>")
        page.click("button:has-text('Withdraw the change')")
        page.wait_for_url(re.compile(r"done=withdrawn"))
        legal.check("change withdrawn")
        assert page.locator("[data-status='withdrawn']").count() == 1
        assert page.locator("button:has-text('Withdraw the change')").count() == 0
        legal.page.select_option("#ui-language", "fr")
        legal.page.click("button:has-text('Change')")
        legal.page.wait_for_load_state("networkidle")
        legal.goto("/legal/changes/new")
        assert page.locator("h1:has-text('Proposer une modification')").count() == 1


class DescribeLegalTasks:  # (weblegal)
    def it_downloads_the_letters_and_records_an_objection_received_by_post(
            self, visit: Callable[[str], Visitor], browser_database: str, engine: Engine,
            smtp: SmtpServer, tmp_path: Path) -> None:
        db, clock = _registered(browser_database, engine), Clock(SPRING)
        change_id = proposed_and_planned(db, clock, voicebot(id="postbot", name="PostBot")
                                         ).change.id
        send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                    texts=load_notice_texts(LIBRARY / "notices"))
        legal = visit("legal-tasks")
        legal.log_in(Role.legal)
        page = legal.page
        _choose_language(legal, "en")  # (another test of this module may have left French)
        legal.goto(f"/legal/changes/{change_id}")
        page.select_option("#bounce_customer", "medcare-clinics")
        page.fill("#bounce_reason", "550 5.1.1 <mailbox> {{ unknown }}")
        page.click("button:has-text('Record the bounce')")
        page.wait_for_url(re.compile(r"done=bounce$"))
        legal.check("bounce recorded")
        with page.expect_download() as info:
            page.click("text=Letters for the customers the e-mail did not reach")
        assert info.value.suggested_filename == f"change-{change_id}-letters-not-notified.zip"
        target = tmp_path / "letters.zip"
        info.value.save_as(str(target))
        with zipfile.ZipFile(target) as pack:
            assert pack.namelist() == [f"change-{change_id}-medcare-clinics.docx"]
            assert "PostBot" in docx_text(pack.read(pack.namelist()[0]))
        page.select_option("#answer_customer", "bakkerij-peeters")
        page.select_option("#answer_kind", "objection")
        page.fill("#received_at", "2026-11-02T09:30")
        page.fill("#answer_text", "Wij maken bezwaar <b>per brief</b> {{ 7*7 }}.")
        page.click("button:has-text('Record the answer')")
        page.wait_for_url(re.compile(r"done=answer$"))
        legal.check("answer recorded")
        row = page.locator("tr[data-customer='bakkerij-peeters']").inner_text()
        assert "objection (late) 2026-11-02 09:30" in row
        with page.expect_download() as evidence:
            page.click("text=Download the evidence pack")
        assert evidence.value.suggested_filename == f"change-{change_id}-evidence.zip"
        _choose_language(legal, "fr")
        legal.goto(f"/legal/changes/{change_id}")
        assert page.locator("h2:has-text('Lettres, réponses et preuves')").count() == 1
        _choose_language(legal, "en")


def _choose_language(visitor: Visitor, language: str) -> None:
    visitor.page.select_option("#ui-language", language)
    visitor.page.locator("form:has(#ui-language) button").click()
    visitor.page.wait_for_load_state("networkidle")
