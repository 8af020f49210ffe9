"""The customer's side in headless Chromium (Debian's), served by uvicorn on loopback: answering
a notice, consent under specific authorisation, subscribing; axe-core on every page (no
critical or serious violation) and a screenshot of each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dpa_engine.cli.app import app as cli
from dpa_engine.customers.pagetexts import load_page_texts
from dpa_engine.customers.subscriptions import notify_subscribers
from dpa_engine.notices import change_status, close_change

from .conftest import LIBRARY, LiveServer, World, check_page

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)



def _dpa(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def it_objects_through_the_notice_link(world: World, live: LiveServer, page: Any,
                                       shots: Path) -> None:
    # the link the customer got: out of the e-mail the loopback server received
    [mail] = world.smtp.recorder.by_recipient()["privacy@bakkerijpeeters.example"]
    text, rich = (mail.message.get_body((kind,)) for kind in ("plain", "html"))
    assert text is not None and rich is not None
    [url] = re.findall(re.escape(live.base_url) + r"/notice/[A-Za-z0-9_.\-]+", text.get_content())
    assert f'<a href="{url}" style="word-break:break-all">{url}</a>' in rich.get_content()
    assert url == world.url("bakkerij-peeters")  # this customer's, for this change
    page.goto(url)
    assert page.locator("h1").inner_text() == "Wijziging subverwerker nr. 1: VoiceBot"
    assert "Belgische tijd" in page.locator(".deadline").inner_text()
    check_page(page, shots, "notice-objection")
    page.get_by_label("Uw redenen (verplicht)").fill("   ")  # passes 'required', not the server
    page.get_by_role("button", name="Bezwaar maken…").click()
    assert page.get_by_role("alert").inner_text() == "Geef de redenen van uw bezwaar op."
    check_page(page, shots, "notice-reason-missing")
    page.get_by_label("Uw redenen (verplicht)").fill("Wij willen geen doorgifte naar de VS.")
    page.get_by_role("button", name="Bezwaar maken…").click()
    assert page.locator("h1").inner_text() == "Bevestig uw antwoord"
    check_page(page, shots, "notice-confirm")
    confirm_form = {name: page.locator(f"input[name={name}]").first.get_attribute("value")
                    for name in ("nonce", "csrf", "action", "reason")}
    page.get_by_role("button", name="Bevestigen en versturen").click()
    assert page.locator("h1").inner_text() == "Uw antwoord is geregistreerd"
    assert "Ontvangstnummer" in page.locator(".receipt").inner_text()
    check_page(page, shots, "notice-receipt")

    code, output = _dpa("change", "status", str(world.change_id), "--db", world.db.url,
                        "--format", "json")
    assert code == 0, output
    status = {t["customer"]: t for t in json.loads(output)["targets"]}
    [objection] = status["bakkerij-peeters"]["objections"]
    assert objection["kind"] == "objection" and objection["late"] is False
    assert "Wij willen geen doorgifte naar de VS." in objection["text"]
    code, output = _dpa("audit", "verify", "--db", world.db.url)
    assert code == 0, output

    # the same answer posted again (a reload, a double click): nothing new is recorded
    again = page.request.post(f"{url}/answer", form=confirm_form, max_redirects=0)
    assert again.status == 303
    assert len(world.objections("bakkerij-peeters")) == 1
    page.goto(url)
    assert page.get_by_role("button", name="Bezwaar maken…").count() == 0
    check_page(page, shots, "notice-answered")

    token = url.rsplit("/", 1)[1]
    middle = len(token) // 2
    altered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    response = page.goto(url.replace(token, altered))
    assert response is not None and response.status == 403
    assert "This link cannot be used" in page.locator("main").inner_text()
    assert "Bakkerij" not in page.content()
    check_page(page, shots, "notice-refused")


def it_asks_consent_under_specific_authorisation(world: World, live: LiveServer, page: Any,
                                                 shots: Path) -> None:
    page.goto(world.url("hopital-saint-lambert"))
    assert "heure belge" in page.locator(".deadline").inner_text()
    check_page(page, shots, "notice-consent")
    page.get_by_role("button", name="Donner l'autorisation…").click()
    check_page(page, shots, "notice-consent-confirm")
    page.get_by_role("button", name="Confirmer et envoyer").click()
    assert page.locator("h1").inner_text() == "Votre réponse est enregistrée"
    # customer-1-bv, also asked for consent, does nothing
    world.clock.advance(days=30)
    close_change(world.db, world.change_id, actor="tester", now=world.clock())
    outcomes = {t.customer: t.outcome for t in change_status(world.db, world.change_id).targets}
    assert outcomes["hopital-saint-lambert"] == "consented"
    assert outcomes["customer-1-bv"] == "no-consent"
    page.goto(world.url("customer-1-bv"))
    assert "No authorisation was given" in page.locator(".outcome").inner_text()
    assert page.get_by_role("button").count() == 0
    check_page(page, shots, "notice-outcome-no-consent")


def it_subscribes_confirms_receives_and_unsubscribes(world: World, live: LiveServer, page: Any,
                                                     shots: Path) -> None:
    page.goto(f"{live.base_url}/subprocessors?lang=en")
    assert page.locator("h1").inner_text() == "Sub-processors of Voxalis"
    check_page(page, shots, "public-list")
    page.get_by_label("Your e-mail address").fill("follower@example.org")
    page.get_by_role("button", name="Subscribe").click()
    assert page.locator("h1").inner_text() == "Check your mailbox"
    check_page(page, shots, "public-subscribe-sent")

    def last_link(kind: str) -> str:
        message = world.smtp.recorder.messages[-1]
        assert message.recipients == ["follower@example.org"]
        body = message.message.get_body(("plain",))
        assert body is not None
        [link] = re.findall(re.escape(live.base_url) + f"/subprocessors/{kind}/[A-Za-z0-9_-]+",
                            body.get_content())
        return str(link)

    page.goto(last_link("confirm"))
    check_page(page, shots, "public-confirm")
    page.get_by_role("button", name="Confirm").click()
    assert page.locator("h1").inner_text() == "Your subscription is confirmed"
    check_page(page, shots, "public-confirmed")

    report = notify_subscribers(world.db, world.change_id,
                                texts=load_page_texts(LIBRARY / "portal"),
                                settings=world.smtp.settings(), base_url=live.base_url)
    assert report.sent == ["follower@example.org"]
    received = world.smtp.recorder.messages[-1].message
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.goto(last_link("unsubscribe"))
    check_page(page, shots, "public-unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.locator("h1").inner_text() == "You have unsubscribed"
    check_page(page, shots, "public-unsubscribed")
