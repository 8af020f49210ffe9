"""Legal runs the change workflow from the web app: propose, plan (after a preview), withdraw,
record a posted letter, close. Each action: the register after it, the audit log (verified,
with the logged-in user as actor), refusals shown next to their field or above the actions,
hostile text shown literally, no action without its CSRF token."""

from __future__ import annotations

import datetime
import html
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from dpa_engine import Engine
from dpa_engine.audit.chain import records
from dpa_engine.customers.pagetexts import default_page_folder, load_page_texts
from dpa_engine.customers.subscriptions import confirm_subscription, subscribe
from dpa_engine.notices import (
    Window,
    change_status,
    deadline_text,
    load_notice_texts,
    objection_deadline,
    record_bounce,
    send_change,
    verify_audit,
)
from dpa_engine.storage import Database
from dpa_engine.storage.schema import SubscriptionRow
from dpa_engine.web.users import Role
from tests.notices.conftest import LIBRARY, SPRING, Clock, SmtpServer, write_deal
from tests.notices.conftest import smtp as smtp  # the loopback SMTP server fixture
from tests.notices.helpers import ACTOR, propose, proposed_and_planned, register, voicebot

from .conftest import EMAILS, Browserless
from .test_changes import HOSTILE

FAR = datetime.date.today() + datetime.timedelta(days=200)  # after every objection window
SCRIPT = "{{ 7*7 }} <script>alert(1)</script>"


def _db(app: FastAPI) -> Database:
    db: Database = app.state.web.db
    return db


def _registered(app: FastAPI, engine: Engine) -> Database:
    db = _db(app)
    register(db, engine.library, Clock(SPRING))
    return db


def _status(app: FastAPI, change_id: int) -> str:
    return change_status(_db(app), change_id).change.status


def _events(app: FastAPI, change_id: int) -> list[tuple[str, str]]:
    with _db(app).transaction() as session:
        return [(r.event, r.actor) for r in records(session, change_id)]


def _field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="err-{name}"[^>]*>(.*?)</p>', page, re.S)
    assert found, f"no error paragraph for {name}"
    return html.unescape(found.group(1))


def _addition(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "action": "add", "effective": FAR.isoformat(), "id": "voicebot", "name": "VoiceBot",
        "entity": "VoiceBot Inc.", "country": "US", "locations": "US, IE",
        "purpose_nl": "spraakherkenning", "purpose_fr": "reconnaissance vocale",
        "purpose_en": "speech recognition", "services": ["customer-service", "reception-desk"],
        "engagement": "systematic", "transfer": "scc:3", "transfer_detail": ""}
    values.update(overrides)
    return values


def _proposed(legal: Browserless, **overrides: Any) -> int:
    response = legal.post("/legal/changes/new", _addition(**overrides))
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/legal/changes/(\d+)\?done=proposed", response.headers["location"])
    assert found
    return int(found.group(1))


def _confirm(legal: Browserless, change_id: int, **extra: str):  # type: ignore[no-untyped-def]
    """Confirm the plan as the preview shows it (the form carries the preview's plan hash)."""
    preview = legal.get(f"/legal/changes/{change_id}/plan").text
    found = re.search(r'name="plan_hash" value="([0-9a-f]{64})"', preview)
    assert found, "the preview has no plan to confirm"
    return legal.post(f"/legal/changes/{change_id}/plan",
                      {"at": "", "plan_hash": found.group(1), **extra})


def _sent(app: FastAPI, engine: Engine, smtp: SmtpServer) -> int:
    """A change proposed, planned and sent in the spring: every window has ended since."""
    db, clock = _registered(app, engine), Clock(SPRING)
    change_id = proposed_and_planned(db, clock).change.id
    send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                texts=load_notice_texts(LIBRARY / "notices"))
    return change_id


@pytest.fixture
def legal_email() -> str:
    return EMAILS[Role.legal]


class DescribePropose:
    def it_offers_the_current_list_and_the_registers_services(
            self, app: FastAPI, engine: Engine, legal: Browserless) -> None:
        _registered(app, engine)
        page = legal.get("/legal/changes/new")
        assert page.status_code == 200
        assert '<option value="transcribe-us"' in page.text
        assert 'id="service-customer-service"' in page.text
        assert 'href="/legal/changes/new"' in legal.get("/legal/changes").text

    def it_says_when_the_register_is_empty(self, legal: Browserless) -> None:
        page = legal.get("/legal/changes/new")
        assert page.status_code == 409 and "the register is empty" in page.text

    def it_records_an_addition_under_the_users_name(
            self, app: FastAPI, engine: Engine, legal: Browserless, legal_email: str) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        change = change_status(_db(app), change_id).change
        assert (change.status, change.action, change.effective_on) == ("proposed", "add", FAR)
        assert change.subprocessor is not None
        assert change.subprocessor.services == ["customer-service", "reception-desk"]
        assert change.subprocessor.transfer is not None
        assert change.subprocessor.transfer.scc_module == 3
        assert _events(app, change_id) == [("proposed", legal_email)]
        assert verify_audit(_db(app)).ok
        page = legal.get(f"/legal/changes/{change_id}?done=proposed").text
        assert "The change is proposed." in page
        assert "The change is closed" not in legal.get(
            f"/legal/changes/{change_id}?done=closed&list=7").text  # not while it is proposed
        assert f'action="/legal/changes/{change_id}/plan"' in page
        assert f'action="/legal/changes/{change_id}/withdraw"' in page
        assert f'action="/legal/changes/{change_id}/close"' not in page

    def it_records_a_replacement_and_a_removal(
            self, app: FastAPI, engine: Engine, legal: Browserless) -> None:
        _registered(app, engine)
        replaced = _proposed(legal, action="replace", target="transcribe-us", country="IE",
                             locations="IE", transfer="")
        removed = _proposed(legal, action="remove", target="mailrelay", id="", name="",
                            services=[])
        replacement = change_status(_db(app), replaced).change
        assert replacement.action == "replace" and replacement.previous is not None
        assert replacement.previous.id == "transcribe-us"
        assert change_status(_db(app), removed).change.subject.id == "mailrelay"

    def it_shows_the_librarys_message_next_to_the_field(
            self, app: FastAPI, engine: Engine, legal: Browserless) -> None:
        _registered(app, engine)
        page = legal.post("/legal/changes/new", _addition(transfer=""))
        assert page.status_code == 422
        assert _field_error(page.text, "transfer") == (
            "'voicebot' processes outside the EEA but has no transfer mechanism — fix: add "
            "--transfer scc:3 (or adequacy / bcr)")
        assert 'value="VoiceBot Inc."' in page.text  # as typed
        taken = legal.post("/legal/changes/new", _addition(id="transcribe-us"))
        assert "is already on the list" in _field_error(taken.text, "id")
        country = legal.post("/legal/changes/new", _addition(country="usa"))
        assert country.status_code == 422 and _field_error(country.text, "country")
        past = legal.post("/legal/changes/new", _addition(effective="2020-01-01"))
        assert "is in the past" in _field_error(past.text, "effective")
        assert not change_status_ids(app)

    def it_marks_every_empty_required_field(self, app: FastAPI, engine: Engine,
                                           legal: Browserless) -> None:
        _registered(app, engine)
        page = legal.post("/legal/changes/new", _addition(name="", purpose_fr="", services=[],
                                                          effective=""))
        assert page.status_code == 422
        for name in ("name", "purpose_fr", "services", "effective"):
            assert _field_error(page.text, name) == "required — fill this in"
        removal = legal.post("/legal/changes/new", {"action": "remove",
                                                    "effective": FAR.isoformat()})
        assert _field_error(removal.text, "target") == "required — fill this in"

    def it_shows_a_hostile_name_literally(self, app: FastAPI, engine: Engine,
                                          legal: Browserless) -> None:
        _registered(app, engine)
        change_id = _proposed(legal, name=SCRIPT, entity=HOSTILE)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert html.escape(SCRIPT, quote=False) in page and "<script>alert" not in page
        assert html.escape(HOSTILE, quote=False) in page and "<b>Bold</b>" not in page
        assert "49" not in re.sub(r'name="csrf_token" value="[^"]*"', "", page)  # (random token)
        plan = legal.get(f"/legal/changes/{change_id}/plan").text
        assert html.escape(SCRIPT, quote=False) in plan and "<script>alert" not in plan
        refused = legal.post("/legal/changes/new", _addition(id="x2", name=SCRIPT, transfer=""))
        assert "<script>alert" not in refused.text and html.escape(SCRIPT) in refused.text

    def it_refuses_a_proposal_without_its_csrf_token(self, app: FastAPI, engine: Engine,
                                                     legal: Browserless) -> None:
        _registered(app, engine)
        response = legal.client.post("/legal/changes/new", data=_addition())
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "csrf")
        assert not change_status_ids(app)


def change_status_ids(app: FastAPI) -> list[int]:
    from dpa_engine.notices import list_changes

    return [o.change.id for o in list_changes(_db(app), datetime.datetime.now(datetime.UTC))]


class DescribePlan:
    def it_shows_who_would_be_notified_and_records_nothing(
            self, app: FastAPI, engine: Engine, legal: Browserless, legal_email: str) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        page = legal.get(f"/legal/changes/{change_id}/plan")
        assert page.status_code == 200
        row = re.search(r'<tr data-customer="bakkerij-peeters">(.*?)</tr>', page.text, re.S)
        assert row and "objection" in row.group(1)
        assert "customer-service uses voicebot (new)" in html.unescape(row.group(1))
        assert f"dpa change send {change_id}" in page.text
        assert _status(app, change_id) == "proposed"
        assert _events(app, change_id) == [("proposed", legal_email)]
        later = legal.get(f"/legal/changes/{change_id}/plan?at=2027-01-10T10:00").text
        assert "Deadlines if sent at 2027-01-10 10:00 CET" in later
        peeters = re.search(r'<tr data-customer="bakkerij-peeters">(.*?)</tr>', later, re.S)
        expected = objection_deadline(datetime.datetime(2027, 1, 10, 9, 0, tzinfo=datetime.UTC),
                                      Window(days=7))  # bakkerij-peeters: 7 calendar days
        assert peeters and deadline_text(expected) in peeters.group(1)
        at = legal.get(f"/legal/changes/{change_id}/plan?at=2099-02-30T10:00")
        assert at.status_code == 422 and "is not a date and time" in _field_error(at.text, "at")

    def it_records_the_plan_as_dpa_change_plan_does(
            self, app: FastAPI, engine: Engine, legal: Browserless, legal_email: str) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        response = _confirm(legal, change_id)
        assert response.status_code == 303
        assert response.headers["location"] == (
            f"/legal/changes/{change_id}?done=planned&subscribers=not-told")
        assert _status(app, change_id) == "planned"
        assert _events(app, change_id) == [("proposed", legal_email), ("planned", legal_email)]
        assert verify_audit(_db(app)).ok
        page = legal.get(response.headers["location"]).text
        assert "The change is planned." in page and "were not e-mailed" in page
        assert f"<code class=\"command\">dpa change send {change_id}</code>" in page

    def it_refuses_an_effective_date_inside_a_window_unless_forced(
            self, app: FastAPI, engine: Engine, legal: Browserless, legal_email: str) -> None:
        _registered(app, engine)
        soon = datetime.date.today() + datetime.timedelta(days=3)
        change_id = _proposed(legal, effective=soon.isoformat())
        preview = legal.get(f"/legal/changes/{change_id}/plan").text
        assert 'id="force"' in preview
        refused = _confirm(legal, change_id)
        assert refused.status_code == 409
        assert f"the effective date {soon} falls inside the window of" in html.unescape(
            refused.text)
        assert _status(app, change_id) == "proposed"
        forced = _confirm(legal, change_id, force="yes")
        assert forced.status_code == 303 and _status(app, change_id) == "planned"
        assert ("plan-forced", legal_email) in _events(app, change_id)

    def it_shows_the_plan_again_when_the_register_changed_since_the_preview(
            self, app: FastAPI, engine: Engine, legal: Browserless, tmp_path: Path) -> None:
        db = _registered(app, engine)
        change_id = _proposed(legal)
        preview = legal.get(f"/legal/changes/{change_id}/plan").text
        seen = re.search(r'name="plan_hash" value="([0-9a-f]{64})"', preview)
        assert seen
        register(db, engine.library, Clock(SPRING), write_deal(tmp_path, 1))  # a new customer
        again = legal.post(f"/legal/changes/{change_id}/plan", {"at": "", "plan_hash": seen[1]})
        assert again.status_code == 409
        assert "The register changed since this plan was shown" in again.text
        assert 'data-customer="customer-1-bv"' in again.text  # the plan as it is now
        assert _status(app, change_id) == "proposed"
        assert _confirm(legal, change_id).status_code == 303

    def it_tells_the_subscribers_as_dpa_change_plan_does(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            monkeypatch: pytest.MonkeyPatch) -> None:
        db = _registered(app, engine)
        public = "https://dpa.provider.example"
        subscribe(db, "reader@example.org", "en", settings=smtp.settings(), base_url=public,
                  texts=load_page_texts(default_page_folder(LIBRARY)))
        with db.transaction() as session:
            token = session.execute(select(SubscriptionRow.token)).scalar_one()
        assert confirm_subscription(db, token)
        for name, value in {"DPA_SMTP_HOST": "127.0.0.1", "DPA_SMTP_PORT": str(smtp.port),
                            "DPA_SMTP_FROM": "notices@provider.example",
                            "DPA_PUBLIC_URL": public, "DPA_LIBRARY": str(LIBRARY)}.items():
            monkeypatch.setenv(name, value)
        change_id = _proposed(legal)
        response = _confirm(legal, change_id)
        assert response.headers["location"].endswith("done=planned&subscribers=told")
        [told] = [m for m in smtp.recorder.messages if "reader@example.org" in m.recipients
                  and "VoiceBot" in str(m.message["Subject"])]
        assert str(told.message["List-Unsubscribe"]).startswith(f"<{public}/subprocessors/")
        assert "were e-mailed" in legal.get(response.headers["location"]).text

    def it_refuses_to_plan_a_sent_change(self, app: FastAPI, engine: Engine,
                                         legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'action="/legal/changes/{change_id}/plan"' not in page
        assert f"dpa change send {change_id}" not in page  # nothing left to send
        refused = legal.post(f"/legal/changes/{change_id}/plan", {"at": "", "plan_hash": "0"})
        assert refused.status_code == 409
        assert f"change {change_id} is already sent" in html.unescape(refused.text)


class DescribeWithdraw:
    def it_withdraws_with_the_reason_in_the_audit_log(
            self, app: FastAPI, engine: Engine, legal: Browserless, legal_email: str) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        response = legal.post(f"/legal/changes/{change_id}/withdraw", {"reason": HOSTILE})
        assert response.status_code == 303
        assert "done=withdrawn" in response.headers["location"]
        assert _status(app, change_id) == "withdrawn"
        with _db(app).transaction() as session:
            last = records(session, change_id)[-1]
        assert (last.event, last.actor, last.data["reason"]) == ("withdrawn", legal_email,
                                                                 HOSTILE)
        assert verify_audit(_db(app)).ok
        page = legal.get(response.headers["location"]).text
        assert "The change is withdrawn" in page and "/withdraw" not in page

    def it_shows_the_librarys_message_next_to_the_reason(
            self, app: FastAPI, engine: Engine, legal: Browserless) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        page = legal.post(f"/legal/changes/{change_id}/withdraw", {"reason": "  "})
        assert page.status_code == 422
        assert _field_error(page.text, "reason").startswith("the reason for withdrawing is empty")
        assert _status(app, change_id) == "proposed"

    def it_refuses_a_closed_change_and_never_renders_the_reason_as_markup(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        assert legal.post(f"/legal/changes/{change_id}/close").status_code == 303
        page = legal.post(f"/legal/changes/{change_id}/withdraw", {"reason": SCRIPT})
        assert page.status_code == 409
        assert f"change {change_id} is closed: its outcome is final" in page.text
        assert "<script>alert" not in page.text

    def it_refuses_without_the_csrf_token(self, app: FastAPI, engine: Engine,
                                          legal: Browserless) -> None:
        _registered(app, engine)
        change_id = _proposed(legal)
        response = legal.client.post(f"/legal/changes/{change_id}/withdraw",
                                     data={"reason": "no"})
        assert response.status_code == 403 and _status(app, change_id) == "proposed"


class DescribeLetterPosted:
    def it_records_the_letter_to_a_customer_the_email_did_not_reach(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            legal_email: str) -> None:
        change_id = _sent(app, engine, smtp)
        record_bounce(_db(app), change_id, "bakkerij-peeters", reason="550 no such user",
                      actor=ACTOR)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert '<option value="bakkerij-peeters"' in page
        wrong = legal.post(f"/legal/changes/{change_id}/letter",
                           {"customer": "bakkerij-peeters", "sent_at": "next tuesday"})
        assert wrong.status_code == 422 and "is not a date and time" in _field_error(
            wrong.text, "sent_at")
        future = legal.post(f"/legal/changes/{change_id}/letter",
                            {"customer": "bakkerij-peeters", "sent_at": "2099-01-01T10:00"})
        assert "is in the future" in _field_error(future.text, "sent_at")
        unknown = legal.post(f"/legal/changes/{change_id}/letter",
                             {"customer": "bakery", "sent_at": "2026-04-01T10:00"})
        assert "unknown customer 'bakery'" in _field_error(unknown.text, "customer")
        done = legal.post(f"/legal/changes/{change_id}/letter",
                          {"customer": "bakkerij-peeters", "sent_at": "2026-04-01T10:00"})
        assert done.status_code == 303
        target = next(t for t in change_status(_db(app), change_id).targets
                      if t.customer == "bakkerij-peeters")
        assert target.status == "notified"
        assert target.notified_at == datetime.datetime(2026, 4, 1, 8, 0, tzinfo=datetime.UTC)
        assert _events(app, change_id)[-1] == ("letter-sent", legal_email)
        assert verify_audit(_db(app)).ok
        assert f'action="/legal/changes/{change_id}/letter"' not in legal.get(
            f"/legal/changes/{change_id}").text  # nobody left to write to


class DescribeClose:
    def it_closes_after_the_deadlines_and_shows_the_outcomes(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            legal_email: str) -> None:
        change_id = _sent(app, engine, smtp)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'action="/legal/changes/{change_id}/close"' in page
        response = legal.post(f"/legal/changes/{change_id}/close")
        assert response.status_code == 303
        assert re.fullmatch(rf"/legal/changes/{change_id}\?done=closed&list=\d+",
                            response.headers["location"])
        assert _status(app, change_id) == "closed"
        assert _events(app, change_id)[-1] == ("closed", legal_email)
        assert verify_audit(_db(app)).ok
        closed = legal.get(response.headers["location"]).text
        assert "The change is closed" in closed and "The sub-processor list is now version" in closed
        assert "deemed-approved" in closed
        assert "/close" not in closed.replace("/legal/changes/", "")  # no action left

    def it_refuses_to_close_a_change_not_sent(self, app: FastAPI, engine: Engine,
                                              legal: Browserless) -> None:
        db, clock = _registered(app, engine), Clock(SPRING)
        change_id = propose(db, clock, voicebot()).id
        assert f"/legal/changes/{change_id}/close" not in legal.get(
            f"/legal/changes/{change_id}").text
        refused = legal.post(f"/legal/changes/{change_id}/close")
        assert refused.status_code == 409
        assert f"change {change_id} has not been sent" in refused.text
        assert _status(app, change_id) == "proposed"


class DescribeCsrf:
    @pytest.mark.parametrize("action", ["plan", "withdraw", "letter", "close"])
    def it_refuses_every_action_without_its_token(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            action: str) -> None:
        if action in ("letter", "close"):
            change_id = _sent(app, engine, smtp)
        else:
            _registered(app, engine)
            change_id = _proposed(legal)
        before = _events(app, change_id)
        response = legal.client.post(f"/legal/changes/{change_id}/{action}",
                                     data={"reason": "x", "customer": "bakkerij-peeters",
                                           "sent_at": "2026-04-01T10:00"})
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "csrf")
        assert _events(app, change_id) == before


class DescribeWhoMayAct:
    @pytest.mark.parametrize("path", ["/legal/changes/new", "/legal/changes/1/plan",
                                      "/legal/changes/1/withdraw", "/legal/changes/1/letter",
                                      "/legal/changes/1/close"])
    def it_refuses_an_account_manager(self, am: Browserless, path: str) -> None:
        response = am.post(path, {"reason": "no"})
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "role")

    def it_lets_the_admin_act_as_legal_does(self, app: FastAPI, engine: Engine,
                                            admin: Browserless) -> None:
        _registered(app, engine)
        change_id = _proposed(admin)
        assert _events(app, change_id) == [("proposed", "admin@provider.example")]


class DescribeOnPostgresql:
    def it_proposes_plans_and_withdraws(self, pg_app: FastAPI, engine: Engine) -> None:
        db = _registered(pg_app, engine)
        legal = Browserless(pg_app, Role.legal)
        change_id = _proposed(legal)
        assert _confirm(legal, change_id).status_code == 303
        withdrawn = legal.post(f"/legal/changes/{change_id}/withdraw", {"reason": "not needed"})
        assert withdrawn.status_code == 303
        assert [e for e, _actor in _events(pg_app, change_id)] == ["proposed", "planned",
                                                                   "withdrawn"]
        assert _status(pg_app, change_id) == "withdrawn" and verify_audit(db).ok
