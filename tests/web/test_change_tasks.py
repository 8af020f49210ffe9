"""Legal's remaining change tasks in the web app: the letters to post and the evidence pack as
.zip downloads, an answer received by e-mail or post, a bounce after acceptance, telling the
subscribers again. Each: what it writes (register, verified audit log with the logged-in user
as actor), refusals next to their field, hostile text literal, no write without the CSRF
token, no access for account managers."""

from __future__ import annotations

import datetime
import html
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import docx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from dpa_engine import Engine
from dpa_engine.customers.pagetexts import default_page_folder, load_page_texts
from dpa_engine.customers.subscriptions import confirm_subscription, subscribe
from dpa_engine.notices import (
    BRUSSELS,
    change_status,
    load_notice_texts,
    record_bounce,
    send_change,
    verify_audit,
)
from dpa_engine.render import LibreOfficeConverter
from dpa_engine.storage.schema import SubscriptionRow
from dpa_engine.web.users import Role
from tests.notices.conftest import LIBRARY, SPRING, Clock, SmtpServer, write_deal
from tests.notices.conftest import smtp as smtp  # the loopback SMTP server fixture
from tests.notices.helpers import ACTOR, proposed_and_planned, register

from .conftest import EMAILS, Browserless
from .test_change_actions import FAR, _db, _events, _field_error, _registered, _sent, _status
from .test_changes import HOSTILE

LEGAL_EMAIL = EMAILS[Role.legal]
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _zip(response) -> zipfile.ZipFile:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def _disposition(response) -> str:  # type: ignore[no-untyped-def]
    found = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"',
                         response.headers["content-disposition"])
    assert found, response.headers["content-disposition"]
    return found.group(1)


def _docx_text(data: bytes) -> str:
    """What python-docx reads in a letter: its title (which names the customer), its
    paragraphs and its table cells."""
    document = docx.Document(io.BytesIO(data))
    return "\n".join([document.core_properties.title or "",
                      *(p.text for p in document.paragraphs),
                      *(cell.text for table in document.tables for row in table.rows
                        for cell in row.cells)])


def _target(app: FastAPI, change_id: int, customer: str):  # type: ignore[no-untyped-def]
    return next(t for t in change_status(_db(app), change_id).targets if t.customer == customer)


def _hostile_sent(app: FastAPI, engine: Engine, smtp: SmtpServer, tmp_path: Path) -> int:
    """A sent change whose one customer has a name full of template code and markup."""
    deal = write_deal(tmp_path, 1)
    deal.write_text(deal.read_text(encoding="utf-8").replace(
        "name: Customer 1 BV", f"name: '{HOSTILE} <script>x</script>'"), encoding="utf-8")
    clock = Clock(SPRING)
    register(_db(app), engine.library, clock, deal)
    return _send(app, clock, smtp)


def _send(app: FastAPI, clock: Clock, smtp: SmtpServer, **kwargs: Any) -> int:
    db = _db(app)
    change_id = proposed_and_planned(db, clock, **kwargs).change.id
    send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                texts=load_notice_texts(LIBRARY / "notices"))
    return change_id


class DescribeLetters:
    def it_zips_every_customers_letter_and_those_the_email_did_not_reach(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        targets = change_status(_db(app), change_id).targets
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'href="/legal/changes/{change_id}/letters.zip"' in page
        assert "who=not-notified" not in page  # every customer was reached
        response = legal.get(f"/legal/changes/{change_id}/letters.zip")
        assert _disposition(response) == f"change-{change_id}-letters.zip"
        assert response.headers["cache-control"] == "no-store"
        with _zip(response) as pack:
            names = sorted(pack.namelist())
            assert names == sorted(f"change-{change_id}-{t.customer}.docx" for t in targets)
            for target in targets:
                text = _docx_text(pack.read(f"change-{change_id}-{target.customer}.docx"))
                assert target.name in text and "VoiceBot" in text

        record_bounce(_db(app), change_id, "bakkerij-peeters", reason="550 gone", actor=ACTOR)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'href="/legal/changes/{change_id}/letters.zip?who=not-notified"' in page
        only = legal.get(f"/legal/changes/{change_id}/letters.zip?who=not-notified")
        assert _disposition(only) == f"change-{change_id}-letters-not-notified.zip"
        with _zip(only) as pack:
            assert pack.namelist() == [f"change-{change_id}-bakkerij-peeters.docx"]
            text = _docx_text(pack.read(pack.namelist()[0]))
            assert "Bakkerij Peeters" in text and "VoiceBot" in text

    def it_names_files_safely_and_keeps_a_hostile_name_literal(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            tmp_path: Path) -> None:
        change_id = _hostile_sent(app, engine, smtp, tmp_path)
        with _zip(legal.get(f"/legal/changes/{change_id}/letters.zip")) as pack:
            assert all(SAFE_NAME.fullmatch(name) for name in pack.namelist())
            texts = [_docx_text(pack.read(name)) for name in pack.namelist()]
        assert any(f"{HOSTILE} <script>x</script>" in text for text in texts)

    def it_shows_the_librarys_refusal_for_a_change_not_sent(
            self, app: FastAPI, engine: Engine, legal: Browserless) -> None:
        db, clock = _registered(app, engine), Clock(SPRING)
        change_id = proposed_and_planned(db, clock).change.id
        assert "letters.zip" not in legal.get(f"/legal/changes/{change_id}").text
        refused = legal.get(f"/legal/changes/{change_id}/letters.zip")
        assert refused.status_code == 409
        assert f"change {change_id} has no letters" in refused.text
        assert legal.get("/legal/changes/999/letters.zip").status_code == 404

    @pytest.mark.libreoffice
    def it_makes_letters_libreoffice_opens(self, app: FastAPI, engine: Engine,
                                           legal: Browserless, smtp: SmtpServer,
                                           soffice: LibreOfficeConverter, tmp_path: Path) -> None:
        change_id = _sent(app, engine, smtp)
        with _zip(legal.get(f"/legal/changes/{change_id}/letters.zip")) as pack:
            name = pack.namelist()[0]
            (tmp_path / name).write_bytes(pack.read(name))
        soffice.convert(tmp_path / name, tmp_path / "letter.pdf")
        assert (tmp_path / "letter.pdf").read_bytes().startswith(b"%PDF-")


class DescribeAnswerReceived:
    def it_records_an_objection_received_by_post_under_the_users_name(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        db, clock = _registered(app, engine), Clock(datetime.datetime.now(datetime.UTC)
                                                     - datetime.timedelta(days=1))
        change_id = _send(app, clock, smtp, effective_on=FAR)  # every window still runs
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'action="/legal/changes/{change_id}/answer"' in page
        received = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
        response = legal.post(f"/legal/changes/{change_id}/answer", {
            "answer_customer": "bakkerij-peeters", "answer_kind": "objection",
            "received_at": received.astimezone(BRUSSELS).strftime("%Y-%m-%dT%H:%M"),
            "answer_text": "We object: {{ 7*7 }} <script>alert(1)</script>"})
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"/legal/changes/{change_id}?done=answer"
        target = _target(app, change_id, "bakkerij-peeters")
        assert [(o["kind"], o["late"]) for o in target.objections] == [("objection", False)]
        assert target.objections[0]["text"] == "We object: {{ 7*7 }} <script>alert(1)</script>"
        assert _events(app, change_id)[-1] == ("objected", LEGAL_EMAIL)
        assert verify_audit(db).ok
        shown = legal.get(response.headers["location"]).text
        assert "The answer is recorded" in shown
        row = re.search(r'<tr data-customer="bakkerij-peeters">(.*?)</tr>', shown, re.S)
        assert row and "objection" in row.group(1) and "late" not in row.group(1)

    def it_records_an_answer_after_the_deadline_as_late(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)  # sent in the spring: every window has ended
        response = legal.post(f"/legal/changes/{change_id}/answer", {
            "answer_customer": "bakkerij-peeters", "answer_kind": "objection",
            "received_at": "2026-11-02T09:30", "answer_text": "Nee."})
        assert response.status_code == 303, response.text
        target = _target(app, change_id, "bakkerij-peeters")
        assert [(o["kind"], o["late"]) for o in target.objections] == [("objection", True)]
        assert "after the deadline" in (target.follow_up or "")
        row = re.search(r'<tr data-customer="bakkerij-peeters">(.*?)</tr>',
                        legal.get(f"/legal/changes/{change_id}").text, re.S)
        assert row and "objection (late)" in row.group(1)
        assert verify_audit(_db(app)).ok

    def it_shows_a_bad_field_next_to_the_field(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        before = _events(app, change_id)
        answer = {"answer_customer": "bakkerij-peeters", "answer_kind": "objection",
                  "received_at": "2026-11-02T09:30", "answer_text": "Nee."}
        bad_date = legal.post(f"/legal/changes/{change_id}/answer",
                              {**answer, "received_at": "yesterday"})
        assert bad_date.status_code == 422
        assert "is not a date and time" in _field_error(bad_date.text, "received_at")
        future = legal.post(f"/legal/changes/{change_id}/answer",
                            {**answer, "received_at": "2099-01-01T10:00"})
        assert "is in the future" in _field_error(future.text, "received_at")
        empty = legal.post(f"/legal/changes/{change_id}/answer", {**answer, "answer_text": " "})
        assert "is empty" in _field_error(empty.text, "answer_text")
        unknown = legal.post(f"/legal/changes/{change_id}/answer",
                             {**answer, "answer_customer": "<b>bakery</b>"})
        assert "unknown customer '<b>bakery</b>'" in _field_error(unknown.text,
                                                                   "answer_customer")
        assert "<b>bakery</b>" not in unknown.text
        kind = legal.post(f"/legal/changes/{change_id}/answer", {**answer, "answer_kind": "maybe"})
        assert "is not a kind of answer" in _field_error(kind.text, "answer_kind")
        consent = legal.post(f"/legal/changes/{change_id}/answer",
                             {**answer, "answer_kind": "consent"})
        assert consent.status_code == 409 and "general authorisation" in html.unescape(
            consent.text)
        typed = html.unescape(unknown.text)
        assert "Nee." in typed  # the values as typed are shown back
        assert _events(app, change_id) == before


class DescribeBounce:
    def it_records_a_bounce_after_acceptance(self, app: FastAPI, engine: Engine,
                                             legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'action="/legal/changes/{change_id}/bounce"' in page
        reason = "550 5.1.1 <script>alert(1)</script> {{ 7*7 }}"
        response = legal.post(f"/legal/changes/{change_id}/bounce",
                              {"bounce_customer": "bakkerij-peeters", "bounce_reason": reason})
        assert response.status_code == 303, response.text
        target = _target(app, change_id, "bakkerij-peeters")
        assert (target.status, target.notified_at, target.deadline) == ("not-notified", None,
                                                                         None)
        assert target.message_status == "bounced"
        assert "NOT notified" in (target.follow_up or "")
        assert _events(app, change_id)[-1] == ("bounced", LEGAL_EMAIL)
        assert verify_audit(_db(app)).ok
        shown = legal.get(response.headers["location"]).text
        assert "The bounce is recorded" in shown
        assert f'action="/legal/changes/{change_id}/letter"' in shown  # now: post a letter
        assert "who=not-notified" in shown

    def it_shows_a_bad_field_next_to_the_field_and_refuses_twice(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        empty = legal.post(f"/legal/changes/{change_id}/bounce",
                           {"bounce_customer": "bakkerij-peeters", "bounce_reason": ""})
        assert empty.status_code == 422
        assert "the bounce message is empty" in _field_error(empty.text, "bounce_reason")
        unknown = legal.post(f"/legal/changes/{change_id}/bounce",
                             {"bounce_customer": "{{ 7*7 }}", "bounce_reason": "550"})
        assert "unknown customer '{{ 7*7 }}'" in _field_error(unknown.text, "bounce_customer")
        assert legal.post(f"/legal/changes/{change_id}/bounce", {
            "bounce_customer": "bakkerij-peeters", "bounce_reason": "550"}).status_code == 303
        again = legal.post(f"/legal/changes/{change_id}/bounce",
                           {"bounce_customer": "bakkerij-peeters", "bounce_reason": "550"})
        assert again.status_code == 409
        assert "is not recorded as notified" in html.unescape(again.text)


class DescribeEvidence:
    def it_zips_the_changes_evidence_pack(self, app: FastAPI, engine: Engine,
                                          legal: Browserless, smtp: SmtpServer) -> None:
        change_id = _sent(app, engine, smtp)
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'href="/legal/changes/{change_id}/evidence.zip"' in page
        response = legal.get(f"/legal/changes/{change_id}/evidence.zip")
        assert _disposition(response) == f"change-{change_id}-evidence.zip"
        assert response.headers["x-dpa-verification"] == "intact"
        with _zip(response) as pack:
            names = set(pack.namelist())
            assert {"README.txt", "audit-log.jsonl", "audit-verification.json",
                    "subprocessor-lists.json", "register.json",
                    f"changes/change-{change_id}/status.json"} <= names
            assert all(n.startswith(f"changes/change-{change_id}/") for n in names
                       if n.startswith("changes/"))
            for suffix in (".eml", ".txt", ".html", ".docx"):
                assert f"changes/change-{change_id}/notices/bakkerij-peeters{suffix}" in names
            assert "INTACT" in pack.read("README.txt").decode()
            status = json.loads(pack.read(f"changes/change-{change_id}/status.json"))
            assert status["change"]["id"] == change_id
        assert legal.get("/legal/changes/999/evidence.zip").status_code == 404


def _told(smtp: SmtpServer) -> list[object]:
    """The subscriber's e-mails about the change (not the subscription's confirmation)."""
    return [m for m in smtp.recorder.messages if "reader@example.org" in m.recipients
            and "VoiceBot" in str(m.message["Subject"])]


class DescribeAnnounce:
    def it_tells_the_subscribers_not_reached_before(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            monkeypatch: pytest.MonkeyPatch) -> None:
        db, clock = _registered(app, engine), Clock(SPRING)
        public = "https://dpa.provider.example"
        subscribe(db, "reader@example.org", "en", settings=smtp.settings(), base_url=public,
                  texts=load_page_texts(default_page_folder(LIBRARY)))
        with db.transaction() as session:
            token = session.execute(select(SubscriptionRow.token)).scalar_one()
        assert confirm_subscription(db, token)
        change_id = proposed_and_planned(db, clock).change.id  # planned without mail settings
        page = legal.get(f"/legal/changes/{change_id}").text
        assert f'action="/legal/changes/{change_id}/announce"' in page
        not_told = legal.post(f"/legal/changes/{change_id}/announce")
        assert not_told.headers["location"].endswith("done=announced&subscribers=not-told")
        for name, value in {"DPA_SMTP_HOST": "127.0.0.1", "DPA_SMTP_PORT": str(smtp.port),
                            "DPA_SMTP_FROM": "notices@provider.example",
                            "DPA_PUBLIC_URL": public, "DPA_LIBRARY": str(LIBRARY)}.items():
            monkeypatch.setenv(name, value)
        told = legal.post(f"/legal/changes/{change_id}/announce")
        assert told.headers["location"].endswith("done=announced&subscribers=told")
        assert len(_told(smtp)) == 1
        again = legal.post(f"/legal/changes/{change_id}/announce")  # each e-mail once
        assert again.headers["location"].endswith("subscribers=told")
        assert len(_told(smtp)) == 1
        shown = legal.get(told.headers["location"]).text
        assert "Subscribers to the public sub-processor list were e-mailed." in shown


POSTS = ["answer", "bounce", "announce"]


class DescribeCsrf:
    @pytest.mark.parametrize("action", POSTS)
    def it_refuses_every_action_without_its_token(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            action: str) -> None:
        change_id = _sent(app, engine, smtp)
        before = _events(app, change_id)
        response = legal.client.post(f"/legal/changes/{change_id}/{action}", data={
            "answer_customer": "bakkerij-peeters", "answer_kind": "objection",
            "received_at": "2026-11-02T09:30", "answer_text": "Nee.",
            "bounce_customer": "bakkerij-peeters", "bounce_reason": "550"})
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "csrf")
        assert _events(app, change_id) == before
        assert _target(app, change_id, "bakkerij-peeters").status == "notified"


class DescribeWhoMay:
    @pytest.mark.parametrize("path", [f"/legal/changes/1/{a}" for a in POSTS])
    def it_refuses_an_account_manager_every_action(self, am: Browserless, path: str) -> None:
        response = am.post(path, {"bounce_reason": "550"})
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "role")

    @pytest.mark.parametrize("path", ["/legal/changes/1/letters.zip",
                                      "/legal/changes/1/evidence.zip"])
    def it_refuses_an_account_manager_the_downloads(self, app: FastAPI, engine: Engine,
                                                    am: Browserless, smtp: SmtpServer,
                                                    path: str) -> None:
        assert _sent(app, engine, smtp) == 1
        response = am.get(path)
        assert (response.status_code, response.headers["x-dpa-refused"]) == (403, "role")
        assert "application/zip" not in response.headers["content-type"]
        assert _status(app, 1) == "sent"


class DescribeOnPostgresql:
    def it_records_a_bounce_and_an_answer_and_zips_the_letters(
            self, pg_app: FastAPI, engine: Engine, smtp: SmtpServer) -> None:
        db, clock = pg_app.state.web.db, Clock(SPRING)
        register(db, engine.library, clock)
        change_id = proposed_and_planned(db, clock).change.id
        send_change(db, change_id, settings=smtp.settings(), actor=ACTOR, clock=clock,
                    texts=load_notice_texts(LIBRARY / "notices"))
        legal = Browserless(pg_app, Role.legal)
        assert legal.post(f"/legal/changes/{change_id}/bounce", {
            "bounce_customer": "bakkerij-peeters", "bounce_reason": "550"}).status_code == 303
        assert legal.post(f"/legal/changes/{change_id}/answer", {
            "answer_customer": "bakkerij-peeters", "answer_kind": "objection",
            "received_at": "2026-11-02T09:30", "answer_text": "Nee."}).status_code == 303
        with _zip(legal.get(f"/legal/changes/{change_id}/letters.zip?who=not-notified")) as pack:
            assert pack.namelist() == [f"change-{change_id}-bakkerij-peeters.docx"]
        assert [e for e, _a in _events(pg_app, change_id)][-2:] == ["bounced", "objected"]
        assert verify_audit(db).ok
