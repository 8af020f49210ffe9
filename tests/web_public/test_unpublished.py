"""Before the first customer is registered there is no list: the public page says so (404),
it does not fail."""

from __future__ import annotations

import datetime

from fastapi.testclient import TestClient

from dpa_engine.storage import Database
from tests.notices.conftest import Clock, SmtpServer

from .conftest import build_app


def it_explains_that_no_list_is_published_yet(db: Database, smtp: SmtpServer) -> None:
    clock = Clock(datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC))
    client = TestClient(build_app(db, smtp, clock, "http://testserver"))
    page = client.get("/subprocessors?lang=nl")
    assert page.status_code == 404 and "Nog geen lijst gepubliceerd" in page.text
    assert client.get("/subprocessors.json").status_code == 404
    assert client.get("/subprocessors.atom").status_code == 404
