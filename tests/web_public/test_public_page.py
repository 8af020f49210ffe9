"""The public sub-processor page: list by service, upcoming changes, archive, feeds, and the
e-mail subscription (double opt-in, one e-mail per subscriber and change, one-click
unsubscribe); on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from dpa_engine.cli.app import app as cli
from dpa_engine.customers.pagetexts import load_page_texts
from dpa_engine.customers.subscriptions import notify_subscribers
from tests.notices.helpers import ACTOR, propose, voicebot

from .conftest import LIBRARY, World, hidden_fields

PAGE_TEXTS = load_page_texts(LIBRARY / "portal")



def _link(world: World, path: str) -> str:
    """The last link to `path` in an e-mail the loopback server received."""
    body = world.smtp.recorder.messages[-1].message.get_body(("plain",))
    assert body is not None
    found = re.findall(re.escape(world.base_url) + re.escape(path) + r"[A-Za-z0-9_\-]+",
                       body.get_content())
    assert found, body.get_content()
    return str(found[-1]).removeprefix(world.base_url)


def _subscribe(world: World, client: TestClient, email: str, lang: str = "en") -> str:
    page = client.get(f"/subprocessors?lang={lang}")
    response = client.post("/subprocessors/subscribe",
                           data={**hidden_fields(page.text), "email": email})
    assert response.status_code == 200
    return response.text


def _notify(world: World) -> None:
    notify_subscribers(world.db, world.change_id, texts=PAGE_TEXTS,
                       settings=world.smtp.settings(), base_url=world.base_url,
                       now=world.clock())


class DescribeThePublicPage:
    def it_shows_the_list_by_service_upcoming_changes_and_the_archive(
            self, world: World, client: TestClient) -> None:
        page = client.get("/subprocessors?lang=nl")
        assert page.status_code == 200
        text = page.text
        assert "Subverwerkers van Voxalis" in text
        assert "<h3>klantendienst (telefoon, e-mail en chat)</h3>" in text
        assert "NordHost Belgium BV" in text
        assert "Nieuw: VoiceBot (VoiceBot Inc.)" in text  # upcoming, with its date
        effective = (world.clock() + datetime.timedelta(days=60)).date()
        assert f'<time datetime="{effective.isoformat()}">' in text
        assert "Eerste gepubliceerde lijst" in text
        assert not [n for n in ("Bakkerij", "Groenveld", "MedCare", "Customer 1") if n in text]

    def it_archives_each_version_with_what_changed(self, world: World,
                                                   client: TestClient) -> None:
        from dpa_engine.notices import close_change

        world.clock.advance(days=30)
        close_change(world.db, world.change_id, actor=ACTOR, now=world.clock())
        text = client.get("/subprocessors?lang=en").text
        assert "Version 2" in text and "Added: VoiceBot" in text
        assert "No changes are planned." in text

    def it_serves_feeds_with_upcoming_changes(self, world: World, client: TestClient,
                                              tmp_path: Path) -> None:
        data = client.get("/subprocessors.json").json()
        [upcoming] = data["upcoming"]
        assert upcoming["subprocessor"]["id"] == "voicebot" and upcoming["action"] == "add"
        assert data["versions"][0]["version"] == 1
        atom = client.get("/subprocessors.atom")
        assert atom.headers["content-type"].startswith("application/atom+xml")
        assert "Upcoming change 1: add VoiceBot" in atom.text
        # the static files for providers who publish a plain site: the same documents
        result = CliRunner().invoke(cli, ["subprocessors", "feed", "-o", str(tmp_path),
                                          "--db", world.db.url])
        assert result.exit_code == 0, result.output
        written = json.loads((tmp_path / "subprocessors.json").read_text(encoding="utf-8"))
        assert written["upcoming"] == data["upcoming"]
        assert "Upcoming change 1" in (tmp_path / "subprocessors.atom").read_text()


class DescribeSubscriptions:
    def it_subscribes_with_double_opt_in_and_sends_each_change_once(
            self, world: World, client: TestClient) -> None:
        before = len(world.smtp.recorder.messages)
        assert "Check your mailbox" in _subscribe(world, client, "Reader@Example.ORG")
        _notify(world)  # not confirmed yet: nothing
        assert len(world.smtp.recorder.messages) == before + 1
        confirm = _link(world, "/subprocessors/confirm/")
        assert world.smtp.recorder.messages[-1].recipients == ["Reader@example.org"]
        assert "Confirm your subscription" in client.get(confirm).text
        assert "is confirmed" in client.post(confirm, data={"lang": "en"}).text
        _notify(world)
        _notify(world)  # again: exactly once per subscriber and change
        assert len(world.smtp.recorder.messages) == before + 2
        message = world.smtp.recorder.messages[-1].message
        assert "Upcoming change to the sub-processors of Voxalis: VoiceBot" in str(
            message["Subject"])
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "not a notice under any agreement" in body
        unsubscribe = _link(world, "/subprocessors/unsubscribe/")
        assert message["List-Unsubscribe"] == f"<{world.base_url}{unsubscribe}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # one click from the mail client (RFC 8058): a bare POST, no page, no cookies
        one_click = client.post(unsubscribe, content=b"List-Unsubscribe=One-Click",
                                headers={"content-type": "application/x-www-form-urlencoded"})
        assert one_click.status_code == 200 and "You have unsubscribed" in one_click.text
        second = propose(world.db, world.clock, voicebot(id="voicebot-eu", name="VoiceBot EU"),
                         effective_on=(world.clock() + datetime.timedelta(days=90)).date())
        notify_subscribers(world.db, second.id, texts=PAGE_TEXTS,
                           settings=world.smtp.settings(), base_url=world.base_url)
        assert len(world.smtp.recorder.messages) == before + 2
        assert "not valid" in client.post(confirm, data={"lang": "en"}).text  # stays ended

    def it_refuses_a_bad_address_and_a_forgedhidden_fields(self, world: World,
                                                   client: TestClient) -> None:
        page = client.get("/subprocessors?lang=fr")
        bad = client.post("/subprocessors/subscribe",
                          data={**hidden_fields(page.text), "email": "<script>@x"})
        assert bad.status_code == 422 and "Cette adresse e-mail n&#39;est pas valable" in bad.text
        assert "<script>@x" not in bad.text
        forged = client.post("/subprocessors/subscribe",
                             data={**hidden_fields(page.text), "csrf": "0" * 64, "email": "a@b.example"})
        assert forged.status_code == 400
        assert client.get("/subprocessors/confirm/not-a-token").status_code == 404

    def it_does_not_mail_a_pending_address_twice_in_a_row(self, world: World,
                                                          client: TestClient) -> None:
        before = len(world.smtp.recorder.messages)
        _subscribe(world, client, "twice@example.org")
        _subscribe(world, client, "twice@example.org")
        assert len(world.smtp.recorder.messages) == before + 1
