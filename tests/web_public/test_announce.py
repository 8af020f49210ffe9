"""Planning a change (`dpa change plan`) tells the confirmed subscribers of the public list:
one informational e-mail each per change, however often it is planned, with RFC 8058
unsubscribe headers that the customers' legal notices never carry."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from dpa_engine.cli.app import app as cli
from dpa_engine.customers.subscriptions import STALE_CLAIM
from dpa_engine.notices import load_notice_texts, send_change
from dpa_engine.storage.schema import SubscriptionDeliveryRow
from tests.notices.conftest import Received
from tests.notices.helpers import ACTOR, propose, voicebot

from .conftest import LIBRARY, World, hidden_fields

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _confirmed_reader(world: World, client: TestClient, email: str) -> None:
    page = client.get("/subprocessors?lang=en")
    assert client.post("/subprocessors/subscribe",
                       data={**hidden_fields(page.text), "email": email}).status_code == 200
    body = world.smtp.recorder.messages[-1].message.get_body(("plain",))
    assert body is not None
    confirm = next(word for word in body.get_content().split()
                   if "/subprocessors/confirm/" in word).removeprefix(world.base_url)
    assert "is confirmed" in client.post(confirm, data={"lang": "en"}).text


def _plan(world: World, change_id: int, env: dict[str, str]) -> str:
    result = CliRunner().invoke(cli, ["change", "plan", str(change_id), "--db", world.db.url],
                                env={"DPA_ACTOR": ACTOR, **env})
    assert result.exit_code == 0, result.output
    return result.output


def _to(world: World, address: str) -> list[Received]:
    return [m for m in world.smtp.recorder.messages if address in m.recipients]


def _second_change(world: World) -> tuple[Any, dict[str, str]]:
    """A second change to plan, and the settings under which planning tells subscribers."""
    second = propose(world.db, world.clock, voicebot(id="voicebot-eu", name="VoiceBot EU"),
                     effective_on=(world.clock() + datetime.timedelta(days=90)).date())
    env = {"DPA_SMTP_HOST": "127.0.0.1", "DPA_SMTP_PORT": str(world.smtp.port),
           "DPA_SMTP_FROM": "notices@voxalis.example",
           "DPA_PUBLIC_URL": world.base_url, "DPA_LIBRARY": str(LIBRARY)}
    return second, env


class DescribePlanningTellsSubscribers:
    def it_mails_each_confirmed_subscriber_once_per_planned_change(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        _confirmed_reader(world, client, "lezer@example.be")
        second, env = _second_change(world)
        before = len(world.smtp.recorder.messages)

        first = _plan(world, second.id, env)
        again = _plan(world, second.id, env)  # planned twice: nobody is told twice

        assert "Subscribers told: 2 e-mailed now, 0 had been before." in first
        assert "Subscribers told: 0 e-mailed now, 2 had been before." in again
        assert len(world.smtp.recorder.messages) == before + 2
        for reader in ("reader@example.org", "lezer@example.be"):
            [mail] = [m for m in _to(world, reader) if "VoiceBot EU" in str(
                m.message["Subject"])]
            unsubscribe = str(mail.message["List-Unsubscribe"])
            assert unsubscribe.startswith(f"<{world.base_url}/subprocessors/unsubscribe/")
            assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            body = mail.message.get_body(("plain",))
            assert body is not None and "not a notice under any agreement" in body.get_content()

        # the customers' legal notices of that change carry no unsubscribe headers
        report = send_change(world.db, second.id, settings=world.smtp.settings(),
                             texts=load_notice_texts(LIBRARY / "notices"), actor=ACTOR,
                             clock=world.clock)
        assert report.complete and report.sent
        notices = world.smtp.recorder.messages[before + 2:]
        assert len(notices) == len(report.sent)
        for notice in notices:
            assert notice.message["X-DPA-Change"] == str(second.id)
            assert "List-Unsubscribe" not in notice.message
            assert "List-Unsubscribe-Post" not in notice.message

    def it_says_why_nobody_was_told_without_smtp_or_public_address(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second = propose(world.db, world.clock, voicebot(id="voicebot-eu", name="VoiceBot EU"),
                         effective_on=(world.clock() + datetime.timedelta(days=90)).date())
        before = len(world.smtp.recorder.messages)
        no_smtp = _plan(world, second.id, {"DPA_SMTP_HOST": "", "DPA_LIBRARY": str(LIBRARY)})
        assert "Subscribers not told: no SMTP server is configured (set DPA_SMTP_HOST)." \
            in no_smtp
        no_url = _plan(world, second.id, {"DPA_SMTP_HOST": "127.0.0.1", "DPA_PUBLIC_URL": "",
                                          "DPA_SMTP_PORT": str(world.smtp.port),
                                          "DPA_LIBRARY": str(LIBRARY)})
        assert "Subscribers not told: the public address is not set (set DPA_PUBLIC_URL)." \
            in no_url
        assert len(world.smtp.recorder.messages) == before


class DescribeARunThatDiedWhileSending:
    """A claim left 'sending' by a run that died is sent again, once, with the same
    Message-ID; a fresh claim (another run may be sending right now) is left alone."""

    def it_resends_a_stale_claim_once_with_the_same_message_id(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        _plan(world, second.id, env)
        first = [m for m in _to(world, "reader@example.org") if "List-Unsubscribe" in m.message]
        assert len(first) == 1

        def left_sending(age: datetime.timedelta) -> None:
            with world.db.transaction() as session:
                session.execute(update(SubscriptionDeliveryRow).values(
                    status="sending", sent_at=None,
                    claimed_at=datetime.datetime.now(datetime.UTC) - age))

        left_sending(datetime.timedelta(minutes=5))  # maybe still being sent: left alone
        assert "0 e-mailed now, 1 had been before" in _plan(world, second.id, env)

        left_sending(STALE_CLAIM + datetime.timedelta(minutes=1))  # its run died
        output = " ".join(_plan(world, second.id, env).split())  # the terminal folds lines
        assert "1 sent again with the same Message-ID" in output
        again = [m for m in _to(world, "reader@example.org") if "List-Unsubscribe" in m.message]
        assert len(again) == 2
        assert again[1].message["Message-ID"] == first[0].message["Message-ID"]
        assert "0 e-mailed now, 1 had been before" in _plan(world, second.id, env)


def _withdraw(world: World, change_id: int, env: dict[str, str], *extra: str) -> str:
    result = CliRunner().invoke(cli, ["change", "withdraw", str(change_id), "--reason",
                                      "another vendor chosen", "--db", world.db.url, *extra],
                                env={"DPA_ACTOR": ACTOR, **env})
    assert result.exit_code == 0, result.output
    return result.output


class DescribeWithdrawingTellsSubscribers:
    def it_mails_the_subscribers_told_of_the_change_and_says_so(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        _plan(world, second.id, env)
        _confirmed_reader(world, client, "later@example.org")  # after the plan: not told
        before = len(world.smtp.recorder.messages)

        output = " ".join(_withdraw(world, second.id, env).split())

        assert f"Change {second.id} withdrawn (it was planned)." in output
        assert "Subscribers told of the withdrawal: 1 e-mailed now, 0 had been before." \
            in output
        [mail] = world.smtp.recorder.messages[before:]
        assert mail.recipients == ["reader@example.org"]
        assert str(mail.message["Subject"]).startswith("Called off: change to the "
                                                       "sub-processors of Voxalis: VoiceBot EU")
        assert str(mail.message["List-Unsubscribe"]).startswith(
            f"<{world.base_url}/subprocessors/unsubscribe/")
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    def it_reports_the_subscribers_in_json(self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        _plan(world, second.id, env)
        report = json.loads(_withdraw(world, second.id, env, "--json"))
        assert report["change"] == second.id and report["status"] == "withdrawn"
        assert report["subscribers"] == {"change": second.id, "sent": ["reader@example.org"],
                                         "already": 0, "failed": {}, "in_doubt": [],
                                         "stopped": None}
        assert report["subscribers_not_told"] is None

    def it_says_why_nobody_was_told_without_smtp_or_public_address(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        _plan(world, second.id, env)
        third = propose(world.db, world.clock, voicebot(id="voicebot-us", name="VoiceBot US"),
                        effective_on=(world.clock() + datetime.timedelta(days=120)).date())
        _plan(world, third.id, env)
        before = len(world.smtp.recorder.messages)
        no_smtp = _withdraw(world, second.id, {**env, "DPA_SMTP_HOST": ""})
        assert "Subscribers not told of the withdrawal: no SMTP server is configured (set " \
               "DPA_SMTP_HOST)." in " ".join(no_smtp.split())
        no_url = json.loads(_withdraw(world, third.id, {**env, "DPA_PUBLIC_URL": ""}, "--json"))
        assert no_url["subscribers"] is None
        assert no_url["subscribers_not_told"] == \
            "the public address is not set (set DPA_PUBLIC_URL)"
        assert len(world.smtp.recorder.messages) == before


def _announce(world: World, change_id: int, env: dict[str, str], *extra: str,
              exit_code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["change", "announce", str(change_id), "--db",
                                      world.db.url, *extra], env={"DPA_ACTOR": ACTOR, **env})
    assert result.exit_code == exit_code, result.output
    return " ".join(result.output.split())


class DescribeAnnouncingAgain:
    def it_retries_the_subscribers_a_plan_could_not_reach_and_exits_1_while_some_remain(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        _confirmed_reader(world, client, "other@example.org")
        second, env = _second_change(world)
        world.smtp.recorder.refuse = {"reader@example.org"}
        planned = " ".join(_plan(world, second.id, env).split())
        assert f"1 not reached (retry: dpa change announce {second.id}; reader@" in planned

        still = _announce(world, second.id, env, exit_code=1)
        assert "Subscribers told: 0 e-mailed now, 1 had been before; 1 not reached" in still
        world.smtp.recorder.refuse = set()
        assert "Subscribers told: 1 e-mailed now, 1 had been before." in _announce(
            world, second.id, env)
        assert len(_to(world, "reader@example.org")) == 2  # its confirmation, then the change
        assert "0 e-mailed now, 2 had been before." in _announce(world, second.id, env)

    def it_retries_the_withdrawal_e_mails_once_the_change_is_withdrawn(
            self, world: World, client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        _plan(world, second.id, env)
        world.smtp.recorder.refuse = {"reader@example.org"}
        withdrawn = " ".join(_withdraw(world, second.id, env).split())
        assert f"1 not reached (retry: dpa change announce {second.id}; reader@" in withdrawn
        world.smtp.recorder.refuse = set()

        report = json.loads(_announce(world, second.id, env, "--json"))

        assert report == {"change": second.id, "about": "withdrawn", "not_told": None,
                          "subscribers": {"change": second.id, "sent": ["reader@example.org"],
                                          "already": 0, "failed": {}, "in_doubt": [],
                                          "stopped": None}}
        [*_, mail] = _to(world, "reader@example.org")
        assert str(mail.message["Subject"]).startswith("Called off:")

    def it_says_why_nobody_was_told_without_smtp(self, world: World,
                                                  client: TestClient) -> None:
        _confirmed_reader(world, client, "reader@example.org")
        second, env = _second_change(world)
        before = len(world.smtp.recorder.messages)
        output = _announce(world, second.id, {**env, "DPA_SMTP_HOST": ""})
        assert output == ("Subscribers not told: no SMTP server is configured "
                          "(set DPA_SMTP_HOST).")
        assert len(world.smtp.recorder.messages) == before
