"""What the customer's notice e-mail says beyond the notice itself: the link to its own notice
page (only when a public URL is set), the privacy address as a mailto link, the contact greeted
by name, and the deadline in the customer's own time zone with its country's label."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from dpa_engine.library import Library
from dpa_engine.notices import NoticeTexts, send_change
from dpa_engine.notices.compose import NoticeFacts, compose_notice, notice_html, notice_text
from dpa_engine.notices.deadlines import make_window, objection_deadline
from dpa_engine.notices.delivery.render import addressee, change_facts, render_notice
from dpa_engine.notices.errors import NoticeError
from dpa_engine.notices.links import PUBLIC_URL_ENV, SECRET_ENV, notice_url, portal_secret
from dpa_engine.storage import Database
from dpa_engine.storage.schema import ChangeRow, CustomerRow, TargetRow

from .conftest import Clock, SmtpServer, write_deal
from .helpers import ACTOR, proposed_and_planned, register, voicebot

BASE = "https://dpa.example.com"
LINK_SENTENCE = {"nl": "op de pagina die voor u over deze wijziging is aangemaakt",
                 "fr": "sur la page créée pour vous au sujet de cette modification",
                 "en": "on the page set up for you about this change"}


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)  # the secret stored in the database


def sent(db: Database, library: Library, clock: Clock, smtp: SmtpServer,
         texts: NoticeTexts, *paths: Path, unnamed: str | None = None
         ) -> dict[str, tuple[str, str, str]]:
    """Send the usual change; each customer's (language, text part, HTML part) by key.
    `unnamed`: a customer whose contact's name is not on record (imported before it was)."""
    register(db, library, clock, *paths)
    if unnamed is not None:
        with db.transaction() as session:
            session.execute(update(CustomerRow).where(CustomerRow.name == unnamed)
                            .values(contact_name=None))
    change = proposed_and_planned(db, clock).change.id
    assert send_change(db, change, settings=smtp.settings(), texts=texts, actor=ACTOR,
                       clock=clock).complete
    out = {}
    for mail in smtp.recorder.messages:
        plain, rich = mail.message.get_body(("plain",)), mail.message.get_body(("html",))
        assert plain is not None and rich is not None
        out[str(mail.message["X-DPA-Customer"])] = (
            str(mail.message["Content-Language"]), plain.get_content(), rich.get_content())
    return out


class DescribeTheNoticeLink:
    def it_links_each_customer_to_its_own_notice_page_in_both_parts(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, monkeypatch: pytest.MonkeyPatch, no_secret_env: None) -> None:
        monkeypatch.setenv(PUBLIC_URL_ENV, BASE + "/")
        mails = sent(db, library, clock, smtp, texts)
        secret = portal_secret(db)
        with db.transaction() as session:
            deadlines = {t.customer.key: (t.change_id, t.stated_deadline)
                         for t in session.execute(select(TargetRow)).scalars()}
        assert len(mails) >= 4 and {m[0] for m in mails.values()} == {"nl", "fr", "en"}
        for key, (language, text, rich) in mails.items():
            change_id, deadline = deadlines[key]
            # the link is a function of what is on record: it is the same on every resend
            link = notice_url(BASE, change_id, key, deadline, secret=secret)
            assert re.findall(r"https://dpa\.example\.com/notice/\S+", text) == [link]
            assert LINK_SENTENCE[language] in text
            assert f'<a href="{link}" style="word-break:break-all">{link}</a>' in rich
            assert rich.count("/notice/") == 2  # href and shown text, once

    def it_leaves_the_link_out_without_a_public_url_but_links_the_privacy_address(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
        mails = sent(db, library, clock, smtp, texts)
        for language, text, rich in mails.values():
            assert "/notice/" not in text and "/notice/" not in rich
            assert LINK_SENTENCE[language] not in text
            # the HTML part links the privacy address (with the notice's reference)
            assert 'href="mailto:privacy@voxalis.example?subject=' in rich
            assert ">privacy@voxalis.example</a>" in rich
            assert "mailto:" not in text

    def it_refuses_a_public_url_that_is_no_web_address(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(PUBLIC_URL_ENV, "dpa.example.com")
        register(db, library, clock)
        change = proposed_and_planned(db, clock).change.id
        with pytest.raises(NoticeError, match="not a web address") as caught:
            send_change(db, change, settings=smtp.settings(), texts=texts, actor=ACTOR,
                        clock=clock)
        assert caught.value.field == PUBLIC_URL_ENV and "https://" in (caught.value.fix or "")
        assert smtp.recorder.messages == []

    @pytest.mark.parametrize("informational", [False, True])
    def it_renders_the_same_link_all_day_and_another_for_another_customer(
            self, db: Database, library: Library, clock: Clock, texts: NoticeTexts,
            monkeypatch: pytest.MonkeyPatch, smtp: SmtpServer, informational: bool) -> None:
        monkeypatch.setenv(PUBLIC_URL_ENV, BASE)
        register(db, library, clock)
        change = proposed_and_planned(db, clock).change.id
        with db.transaction() as session:
            facts = change_facts(session, smtp.settings(), session.get_one(ChangeRow, change))
        who = [addressee(message_id=f"<m{i}@x>", key=key, name=key, language="en",
                         kind="informational" if informational else "objection",
                         recipients=["a@b.example"], reasons=[], agreement=_Agreement(),
                         contact_name=None, country="BE")
               for i, key in enumerate(("bakkerij-peeters", "medcare-clinics"))]
        morning = datetime.datetime(2026, 3, 2, 7, 30, tzinfo=datetime.UTC)
        evening = morning + datetime.timedelta(hours=14)  # 22:30 in Brussels, the same day
        first, later = (render_notice(facts, texts, who[0], m) for m in (morning, evening))
        other = render_notice(facts, texts, who[1], morning)
        link = _link(first.body_text)
        assert link == _link(later.body_text) and first.body_text == later.body_text
        assert _link(other.body_text) != link
        tomorrow = render_notice(facts, texts, who[0], morning + datetime.timedelta(days=1))
        assert _link(tomorrow.body_text) != link  # a new day: a new deadline, a new link


class _Agreement:
    reference = "DPA-1"
    version = 1
    remedy = "terminate-service"
    window_days = 30
    window_unit = "calendar"
    holiday_country = "BE"


def _link(text: str) -> str:
    found = re.findall(r"https://dpa\.example\.com/notice/\S+", text)
    assert len(found) == 1
    return str(found[0])


class DescribeTheGreeting:
    def it_greets_the_contact_by_name_and_keeps_the_general_greeting_without_one(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path) -> None:
        named = write_deal(tmp_path, 1, language="fr")
        anonymous = write_deal(tmp_path, 2, language="nl")
        mails = sent(db, library, clock, smtp, texts, named, anonymous, unnamed="Customer 2 BV")
        by_language = {m[0]: m for m in mails.values()}
        assert "À l'attention de DPO 1 – Madame, Monsieur," in by_language["fr"][1]
        assert "Geachte heer, mevrouw, beste contactpersoon van Customer 2 BV," \
            in by_language["nl"][1]

    def it_shows_a_name_that_looks_like_template_code_as_written(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts, tmp_path: Path) -> None:
        deal = write_deal(tmp_path, 3, language="en")
        deal.write_text(deal.read_text(encoding="utf-8").replace(
            "name: DPO 3,", "name: '{{ 7*7 }} <b>Dr. Lee</b>',"), encoding="utf-8")
        ((_, text, rich),) = sent(db, library, clock, smtp, texts, deal).values()
        assert "Dear {{ 7*7 }} <b>Dr. Lee</b>," in text
        assert "Dear {{ 7*7 }} &lt;b&gt;Dr. Lee&lt;/b&gt;," in rich
        assert "Dear 49" not in text and "Dear 49" not in rich


class DescribeTheTimeZone:
    def it_labels_the_deadline_with_the_customers_own_country(
            self, db: Database, library: Library, clock: Clock, smtp: SmtpServer,
            texts: NoticeTexts) -> None:
        mails = sent(db, library, clock, smtp, texts)
        groenveld = mails["groenveld-energie"][1]  # registered in Utrecht
        assert "23:59 (Nederlandse tijd)" in groenveld and "Belgische tijd" not in groenveld
        assert "23:59 (Belgian time)" in mails["medcare-clinics"][1]  # Brussels, in English
        assert "23:59 (heure belge)" in mails["hopital-saint-lambert"][1]

    @pytest.mark.parametrize(("country", "language", "label"), [
        ("BE", "nl", "Belgische tijd"), ("NL", "fr", "heure néerlandaise"),
        ("LU", "en", "Brussels time (CET/CEST)"), ("FR", "nl", "Brusselse tijd (CET/CEST)")])
    def it_shows_the_last_minute_in_the_customers_zone(
            self, texts: NoticeTexts, country: str, language: str, label: str) -> None:
        window = make_window(30, "calendar", "BE")
        # sent in summer: the window ends in summer time, 23:59 on the last day
        deadline = objection_deadline(datetime.datetime(2026, 6, 2, 8, tzinfo=datetime.UTC),
                                      window)
        facts = NoticeFacts.model_validate({
            "language": language, "kind": "objection", "action": "add", "change_number": 7,
            "customer_name": "Klant", "country": country, "provider_name": "Voxalis",
            "contact_email": "privacy@voxalis.example", "agreement_reference": "DPA-1",
            "subprocessor": voicebot(), "services": ["Klantendienst"],
            "effective_on": datetime.date(2026, 8, 1), "deadline": deadline,
            "window": window})
        content = compose_notice(facts, texts)
        text, rich = notice_text(content), notice_html(content)
        assert f"23:59 ({label})" in text and f"23:59 ({label})" in rich
        others = {"Belgische tijd", "heure néerlandaise", "Brussels time (CET/CEST)",
                  "Brusselse tijd (CET/CEST)"} - {label}
        assert not any(other in text for other in others)
