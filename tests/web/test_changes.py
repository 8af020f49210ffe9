"""Legal's read-only view of the sub-processor changes: the list, each change's status per
customer, who may not see them, untrusted names shown literally, an unknown change."""

from __future__ import annotations

import datetime
import html
import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from dpa_engine import Engine
from dpa_engine.notices import (
    NoticeTexts,
    change_status,
    list_changes,
    load_notice_texts,
    record_objection,
    send_change,
)
from dpa_engine.storage import Database
from dpa_engine.web.users import Role
from tests.notices.conftest import LIBRARY, SPRING, Clock, SmtpServer, write_deal
from tests.notices.conftest import smtp as smtp  # the loopback SMTP server fixture
from tests.notices.helpers import ACTOR, propose, proposed_and_planned, register

from .conftest import Browserless

HOSTILE = "{{ 7*7 }} <b>Bold</b> & Co"


@pytest.fixture(scope="module")
def texts() -> NoticeTexts:
    return load_notice_texts(LIBRARY / "notices")


def _db(app: FastAPI) -> Database:
    db: Database = app.state.web.db
    return db


def _sent_change(app: FastAPI, engine: Engine, smtp: SmtpServer, texts: NoticeTexts,
                 clock: Clock) -> int:
    """The example register, a VoiceBot change planned and sent, one objection recorded."""
    db = _db(app)
    register(db, engine.library, clock)
    plan = proposed_and_planned(db, clock)
    send_change(db, plan.change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                clock=clock)
    record_objection(db, plan.change.id, "bakkerij-peeters", received_at=clock(),
                     text="We object.", actor=ACTOR, now=clock())
    return plan.change.id


def _rows(page: str, attribute: str) -> dict[str, str]:
    """The table rows of a page by their data attribute, as plain text."""
    found = re.findall(rf'<tr {attribute}="([^"]+)">(.*?)</tr>', page, re.S)
    return {key: html.unescape(re.sub(r"<[^>]+>", " ", row)) for key, row in found}


class DescribeTheList:
    def it_says_so_when_there_is_no_change(self, legal: Browserless) -> None:
        page = legal.get("/legal/changes")
        assert page.status_code == 200
        assert "No sub-processor change has been proposed yet." in page.text

    def it_shows_every_change_newest_first_with_its_customers_counted(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        clock = Clock(SPRING)
        sent = _sent_change(app, engine, smtp, texts, clock)
        later = propose(_db(app), clock, action="remove", target="transcribe-us")
        page = legal.get("/legal/changes").text
        rows = _rows(page, "data-change")
        assert list(rows) == [str(later.id), str(sent)]  # newest first
        assert rows[str(later.id)].split() == [str(later.id), "remove", "ClearTranscribe",
                                               "2026-06-01", "proposed", "0", "0", "0", "0"]
        cells = rows[str(sent)].split()
        affected = int(cells[5])
        assert cells[:5] == [str(sent), "add", "VoiceBot", "2026-06-01", "sent"]
        assert affected >= 2 and cells[6] == str(affected) and cells[7] == "1"
        assert f'href="/legal/changes/{sent}"' in page
        assert 'href="/legal/changes" aria-current="page"' in page  # the legal menu


class DescribeTheStatusPage:
    def it_shows_each_customer_as_dpa_change_status_does(
            self, app: FastAPI, engine: Engine, legal: Browserless, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        clock = Clock(SPRING)
        change_id = _sent_change(app, engine, smtp, texts, clock)
        page = legal.get(f"/legal/changes/{change_id}")
        assert page.status_code == 200
        rows = _rows(page.text, "data-customer")
        peeters = rows["bakkerij-peeters"]
        assert "Bakkerij Peeters" in peeters and "objection" in peeters and "sent" in peeters
        assert "We object." not in peeters  # the answer's kind and time, not its text
        assert re.search(r"2026-\d\d-\d\d 23:59 CES?T", peeters)  # deadline, Brussels time
        assert re.search(r"objection 2026-03-25 10:00 CET", peeters)
        assert all("sent" in row for row in rows.values())

    def it_answers_an_unknown_change_with_the_error_page(self, legal: Browserless) -> None:
        page = legal.get("/legal/changes/999")
        assert page.status_code == 404
        assert "Not possible" in page.text and "no such change" in page.text

    def it_shows_a_hostile_customer_name_literally(
            self, app: FastAPI, engine: Engine, legal: Browserless, tmp_path: Path,
            smtp: SmtpServer, texts: NoticeTexts) -> None:
        deal = write_deal(tmp_path, 1)
        deal.write_text(deal.read_text(encoding="utf-8").replace(
            "name: Customer 1 BV", f"name: '{HOSTILE}'"), encoding="utf-8")
        clock = Clock(SPRING)
        register(_db(app), engine.library, clock, deal)
        change = proposed_and_planned(_db(app), clock).change
        planned = legal.get(f"/legal/changes/{change.id}").text
        assert "No notice has been queued for this change yet" in planned  # (as the CLI shows)
        send_change(_db(app), change.id, settings=smtp.settings(), texts=texts, actor=ACTOR,
                    clock=clock)
        page = legal.get(f"/legal/changes/{change.id}").text
        assert html.escape(HOSTILE, quote=False) in page
        assert "<b>Bold</b>" not in page
        assert HOSTILE in _rows(page, "data-customer")["7-7-b-bold-b-co"]  # not "49 ..."


class DescribeWhoMayNotLook:
    @pytest.mark.parametrize("path", ["/legal/changes", "/legal/changes/1"])
    def it_refuses_an_account_manager_as_the_other_legal_pages_do(
            self, am: Browserless, path: str) -> None:
        refused, approvals = am.get(path), am.get("/legal/approvals")
        assert (refused.status_code, refused.headers["x-dpa-refused"]) == (403, "role")
        assert (approvals.status_code, approvals.headers["x-dpa-refused"]) == (403, "role")

    @pytest.mark.parametrize("path", ["/legal/changes", "/legal/changes/1"])
    def it_sends_an_anonymous_visitor_to_login(self, app: FastAPI, path: str) -> None:
        response = Browserless(app, None).get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/login")

    def it_lets_the_admin_look(self, admin: Browserless) -> None:
        assert admin.get("/legal/changes").status_code == 200


class DescribeListChanges:
    def it_counts_the_open_deadlines_at_the_given_moment(
            self, app: FastAPI, engine: Engine, smtp: SmtpServer, texts: NoticeTexts) -> None:
        clock = Clock(SPRING)
        _sent_change(app, engine, smtp, texts, clock)
        (overview,) = list_changes(_db(app), SPRING + datetime.timedelta(days=1))
        windows = [t for t in change_status(_db(app), overview.change.id).targets if t.deadline]
        assert overview.open_deadlines == len(windows) > 0
        (later,) = list_changes(_db(app), SPRING + datetime.timedelta(days=400))
        assert later.open_deadlines == 0

    def it_works_on_postgresql(self, pg_app: FastAPI, engine: Engine, smtp: SmtpServer,
                               texts: NoticeTexts) -> None:
        clock = Clock(SPRING)
        change_id = _sent_change(pg_app, engine, smtp, texts, clock)
        (overview,) = list_changes(_db(pg_app), SPRING)
        assert (overview.change.id, overview.objected) == (change_id, 1)
        assert overview.notified == overview.affected > 1
        page = Browserless(pg_app, Role.legal).get(f"/legal/changes/{change_id}")
        assert "bakkerij-peeters" in page.text
