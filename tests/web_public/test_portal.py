"""The notice page over HTTP (in-process): signed links, refusals, answers recorded once, the
confirmation e-mail, late answers and outcomes; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dpa_engine.customers.portal import (
    REFUSAL_LIMIT,
    LinkRefused,
    read_token,
    record_answer,
)
from dpa_engine.notices import (
    change_status,
    close_change,
    load_notice_texts,
    plan_change,
    send_change,
    verify_audit,
    withdraw_change,
)
from dpa_engine.notices.links import notice_token, notice_url
from dpa_engine.storage.schema import AuditEventRow
from dpa_engine.web.public.security import SECURITY_HEADERS
from tests.notices.helpers import ACTOR, propose

from .conftest import LIBRARY, World, hidden_fields

OTHER_CUSTOMERS = ("Bakkerij Peeters", "Groenveld Energie", "MedCare", "Saint-Lambert",
                   "Customer 1 BV")



def _answer(client: TestClient, path: str, action: str, reason: str = "") -> str:
    """Open the page, ask for confirmation, confirm; the receipt page's HTML."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    confirm = client.post(f"{path}/confirm", data={**hidden_fields(page.text), "action": action,
                                                    "reason": reason})
    assert confirm.status_code == 200, confirm.text
    done = client.post(f"{path}/answer", data=hidden_fields(confirm.text))
    assert done.status_code == 303
    receipt = client.get(done.headers["location"])
    assert receipt.status_code == 200
    return receipt.text



class DescribeLinks:
    def it_reads_back_what_it_signed(self) -> None:
        deadline = datetime.datetime(2026, 12, 11, tzinfo=datetime.UTC)
        url = notice_url("https://dpa.example/", 3, "bakkerij-peeters", deadline, secret="s")
        assert url.startswith("https://dpa.example/notice/")
        ref = read_token("s", url.rsplit("/", 1)[1], now=deadline)
        assert (ref.change_id, ref.customer_key) == (3, "bakkerij-peeters")

    def it_refuses_any_single_changed_character(self) -> None:
        expires = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        token = notice_token("s", 1, "bakkerij-peeters", expires)
        now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
        for index, char in enumerate(token):
            for other in {"A", "B", "a", "0", "_"} - {char}:
                altered = token[:index] + other + token[index + 1:]
                with pytest.raises(LinkRefused):
                    read_token("s", altered, now=now)

    def it_refuses_an_expired_link_and_another_secret(self) -> None:
        expires = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
        token = notice_token("s", 1, "x", expires)
        with pytest.raises(LinkRefused, match="expired"):
            read_token("s", token, now=expires)
        with pytest.raises(LinkRefused, match="not genuine"):
            read_token("other secret", token, now=expires - datetime.timedelta(days=1))


class DescribeTheNoticePage:
    def it_shows_the_customer_its_own_notice_in_its_language(
            self, world: World, client: TestClient) -> None:
        page = client.get(world.path("groenveld-energie"))
        assert page.status_code == 200
        text = page.text
        assert '<html lang="nl">' in text and "Voor Groenveld Energie" in text
        assert "VoiceBot Inc." in text and "spraakherkenning" in text
        assert "(Nederlandse tijd)" in text and "Belgische tijd" not in text
        assert "Uw subverwerkers na deze wijziging" in text
        assert 'href="mailto:privacy@voxalis.example"' in text
        assert not [name for name in OTHER_CUSTOMERS if name != "Groenveld Energie"
                    and name in text]
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value
        assert page.headers["cache-control"] == "no-store"

    def it_offers_consent_or_refusal_under_specific_authorisation(
            self, world: World, client: TestClient) -> None:
        text = client.get(world.path("customer-1-bv")).text
        assert 'value="consent"' in text and 'value="refuse"' in text
        assert 'value="object"' not in text and "Customer 1 BV" in text


class DescribeRefusals:
    @pytest.mark.parametrize("route", ["", "/receipt", "/confirm", "/answer"])
    def it_refuses_tampered_foreign_and_unknown_links_on_every_route(
            self, world: World, client: TestClient, route: str) -> None:
        good = world.path("bakkerij-peeters")
        token = good.rsplit("/", 1)[1]
        middle = len(token) // 2
        tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
        foreign = notice_url("", world.change_id, "bakkerij-peeters", None,
                             secret="another installation")
        unaffected = notice_url("", world.change_id, "no-such-customer", None,
                                secret=world.secret)
        other_change = notice_url("", world.change_id + 1, "bakkerij-peeters", None,
                                  secret=world.secret)
        for path in (f"/notice/{tampered}", foreign, unaffected, other_change):
            if route in ("/confirm", "/answer"):
                response = client.post(path + route, data={"action": "object", "reason": "x",
                                                            "nonce": "1.x", "csrf": "x"})
            else:
                response = client.get(path + route)
            assert response.status_code == 403, path
            assert "This link cannot be used" in response.text
            assert not [name for name in OTHER_CUSTOMERS if name in response.text]
            assert "VoiceBot" not in response.text
        assert world.objections("bakkerij-peeters") == []

    def it_rate_limits_an_address_that_keeps_guessing(
            self, world: World, client: TestClient) -> None:
        good = world.path("bakkerij-peeters")
        for _ in range(REFUSAL_LIMIT):
            assert client.get(good + "x").status_code == 403
        refused = client.get(good)  # even a good link, for a while
        assert refused.status_code == 429 and "Too many invalid requests" in refused.text
        world.clock.advance(minutes=11)
        assert client.get(good).status_code == 200

    def it_refuses_a_post_without_the_page_s_form_token(
            self, world: World, client: TestClient) -> None:
        path = world.path("bakkerij-peeters")
        form = hidden_fields(client.get(path).text)
        forged = client.post(f"{path}/answer", data={**form, "csrf": "0" * 64,
                                                     "action": "object", "reason": "x"})
        assert forged.status_code == 400
        other_page = hidden_fields(client.get(world.path("groenveld-energie")).text)
        reused = client.post(f"{path}/answer", data={**other_page, "action": "object",
                                                     "reason": "x"})
        assert reused.status_code == 400  # a form token is good for its own notice only
        cross_site = client.post(f"{path}/answer", headers={"origin": "https://evil.example"},
                                 data={**form, "action": "object", "reason": "x"})
        assert cross_site.status_code == 400
        assert world.objections("bakkerij-peeters") == []


class DescribeAnswers:
    def it_records_an_objection_once_as_the_cli_would(
            self, world: World, client: TestClient) -> None:
        path = world.path("bakkerij-peeters")
        hostile = "{{ 7*7 }} <script>alert(1)</script> wij maken bezwaar"
        receipt = _answer(client, path, "object", hostile)
        assert "Uw antwoord is geregistreerd" in receipt
        assert "{{ 7*7 }} &lt;script&gt;alert(1)&lt;/script&gt;" in receipt
        assert "<script>" not in receipt
        objections = world.objections("bakkerij-peeters")
        assert len(objections) == 1 and objections[0]["late"] is False
        assert str(objections[0]["text"]).endswith(hostile)
        page = client.get(path)  # the form is gone; the answer is shown
        assert 'value="object"' not in page.text and "Ontvangstnummer" in page.text
        assert len(world.objections("bakkerij-peeters")) == 1

    def it_records_nothing_new_when_the_same_answer_is_posted_again(
            self, world: World, client: TestClient) -> None:
        path = world.path("groenveld-energie")
        form = hidden_fields(client.get(path).text)
        confirm = hidden_fields(client.post(f"{path}/confirm", data={**form, "action": "object",
                                                             "reason": "nee"}).text)
        first = client.post(f"{path}/answer", data=confirm)
        again = client.post(f"{path}/answer", data=confirm)
        changed = client.post(f"{path}/answer", data={**confirm, "reason": "other words"})
        assert first.status_code == again.status_code == changed.status_code == 303
        assert again.headers["location"] == first.headers["location"]
        [objection] = world.objections("groenveld-energie")
        assert str(objection["text"]).endswith("nee")
        late_form = client.post(f"{path}/confirm", data={**form, "action": "object",
                                                          "reason": "x"})
        assert late_form.status_code == 303  # answered: back to the page, no second form
        assert verify_audit(world.db).ok

    def it_needs_reasons_for_an_objection(self, world: World, client: TestClient) -> None:
        path = world.path("bakkerij-peeters")
        form = hidden_fields(client.get(path).text)
        response = client.post(f"{path}/confirm", data={**form, "action": "object",
                                                         "reason": "  "})
        assert response.status_code == 422 and "Geef de redenen" in response.text
        assert world.objections("bakkerij-peeters") == []

    def it_e_mails_a_confirmation_to_the_notice_address(
            self, world: World, client: TestClient) -> None:
        before = len(world.smtp.recorder.messages)
        _answer(client, world.path("medcare-clinics"), "object", "We object.")
        [mail] = [m for m in world.smtp.recorder.messages[before:]]
        message: EmailMessage = mail.message
        assert mail.recipients == ["dpo@medcare.example"]  # its notice address
        assert "change no. 1 (VoiceBot)" in str(message["Subject"])
        text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html_part = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert text.startswith("Dear Dr. Sophie Lambert (DPO),")
        assert "Belgian time" in text
        assert 'href="mailto:privacy@voxalis.example"' in html_part
        assert message["List-Unsubscribe"] is None  # a legal matter, not a mailing list

    def it_flags_an_answer_after_the_deadline_as_late(
            self, world: World, client: TestClient) -> None:
        path = world.path("bakkerij-peeters")
        page = client.get(path)
        confirm = client.post(f"{path}/confirm", data={**hidden_fields(page.text), "action": "object",
                                                        "reason": "late"})
        world.clock.advance(days=30)  # the confirmation arrives after the deadline
        done = client.post(f"{path}/answer", data=hidden_fields(confirm.text))
        receipt = client.get(done.headers["location"]).text
        assert "na de uiterste datum" in receipt
        [objection] = world.objections("bakkerij-peeters")
        assert objection["late"] is True

    def it_shows_the_outcome_after_the_deadline(self, world: World, client: TestClient) -> None:
        _answer(client, world.path("customer-1-bv"), "refuse", "")
        _answer(client, world.path("hopital-saint-lambert"), "consent", "")
        world.clock.advance(days=30)
        assert "deemed to have approved" not in client.get(world.path("customer-1-bv")).text
        close_change(world.db, world.change_id, actor="tester", now=world.clock())
        outcomes = {t.customer: t.outcome for t in change_status(world.db, world.change_id).targets}
        assert outcomes["customer-1-bv"] == "refused"
        assert outcomes["hopital-saint-lambert"] == "consented"
        assert outcomes["bakkerij-peeters"] == "deemed-approved"
        assert "You refused your authorisation" in client.get(world.path("customer-1-bv")).text
        page = client.get(world.path("bakkerij-peeters")).text
        assert "geacht met de wijziging in te stemmen" in page and 'value="object"' not in page

    def it_shows_a_withdrawn_change_as_withdrawn(self, world: World, client: TestClient) -> None:
        path = world.path("bakkerij-peeters")  # the link its notice carried
        withdraw_change(world.db, world.change_id, reason="another vendor", actor="tester",
                        settings=world.smtp.settings(), now=world.clock())
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "Deze wijziging is ingetrokken" in page.text and 'value="object"' not in page.text


class DescribeConcurrentAnswers:
    def it_records_one_answer_when_the_same_post_arrives_four_times_at_once(
            self, world: World) -> None:
        ref = read_token(world.secret, world.path("bakkerij-peeters").rsplit("/", 1)[1],
                         now=world.clock())
        barrier = threading.Barrier(4)

        def post(_: int) -> bool:
            barrier.wait()
            return record_answer(world.db, ref, "object", "tegelijk", actor="tester",
                                 now=world.clock()).new

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(post, range(4)))
        assert results.count(True) == 1
        assert len(world.objections("bakkerij-peeters")) == 1
        assert verify_audit(world.db).ok


    @pytest.mark.parametrize("objection_recorded", [False, True])
    def it_completes_an_answer_whose_request_died_exactly_once(
            self, world: World, objection_recorded: bool) -> None:
        from dpa_engine.customers.portal import find_target
        from dpa_engine.notices import record_objection
        from dpa_engine.storage.schema import PortalAnswerRow

        ref = read_token(world.secret, world.path("bakkerij-peeters").rsplit("/", 1)[1],
                         now=world.clock())
        stored_at = world.clock()
        with world.db.transaction() as session:  # stored, then the process died
            change, target = find_target(session, ref)
            session.add(PortalAnswerRow(
                change_id=change.id, target_id=target.id, action="object", reason="eerst",
                received_at=stored_at, late=False, receipt="DEADBEEF0001", recorded=False,
                completing_until=stored_at + datetime.timedelta(seconds=60)))
        if objection_recorded:  # ... after record_objection had committed
            record_objection(world.db, world.change_id, "bakkerij-peeters",
                             received_at=stored_at, text="eerst", actor="t", now=stored_at)
        soon = record_answer(world.db, ref, "object", "again", actor="t",
                             now=stored_at + datetime.timedelta(seconds=5))
        assert not soon.new and not soon.answer.recorded  # the lease still runs
        later = record_answer(world.db, ref, "object", "again", actor="t",
                              now=stored_at + datetime.timedelta(seconds=61))
        assert later.answer.recorded and later.answer.receipt == "DEADBEEF0001"
        [objection] = world.objections("bakkerij-peeters")
        assert objection["received_at"] == stored_at.isoformat()


class DescribeInformationalNotices:
    def it_lets_the_customer_acknowledge_and_audits_it(self, world: World,
                                                       client: TestClient) -> None:
        removal = propose(world.db, world.clock, action="remove", target="mailrelay",
                          effective_on=(world.clock() + datetime.timedelta(days=40)).date())
        plan_change(world.db, removal.id, actor=ACTOR, now=world.clock())
        send_change(world.db, removal.id, settings=world.smtp.settings(),
                    texts=load_notice_texts(LIBRARY / "notices"), actor=ACTOR,
                    clock=world.clock)
        path = world.path("bakkerij-peeters", change_id=removal.id)
        page = client.get(path).text
        assert "geen beroep meer doet op subverwerker MailRelay" in page
        assert 'value="acknowledge"' in page and "Uiterste datum" not in page
        receipt = _answer(client, path, "acknowledge")
        assert "ontvangst bevestigd" in receipt
        with world.db.transaction() as session:
            events = [e.event for e in session.execute(
                select(AuditEventRow).where(AuditEventRow.change_id == removal.id)).scalars()]
        assert events.count("acknowledged") == 1
        assert verify_audit(world.db).ok
