"""Notice texts: data legal edits, checked strictly; values are never code or markup."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from dpa_engine.errors import LibraryError
from dpa_engine.notices import NoticeTexts, load_notice_texts
from dpa_engine.notices.compose import (
    NoticeFacts,
    compose_notice,
    notice_html,
    notice_text,
)
from dpa_engine.notices.deadlines import BRUSSELS, Window, objection_deadline
from dpa_engine.notices.delivery.mime import notice_mime
from dpa_engine.notices.texts import TEXT_KEYS

from .conftest import LIBRARY
from .helpers import voicebot

HOSTILE = "{{ 7*7 }} <b>Bold & Co</b> {% if true %}x{% endif %}"


def facts(language: str = "nl", kind: str = "objection", **overrides: object) -> NoticeFacts:
    dispatch = datetime.datetime(2026, 3, 25, 10, 0, tzinfo=BRUSSELS)
    values: dict[str, object] = {
        "language": language, "kind": kind, "action": "add", "change_number": 7,
        "customer_name": HOSTILE, "provider_name": "Voxalis", "contact_email": "privacy@voxalis.example",
        "agreement_reference": "DPA-2026-0001", "subprocessor": voicebot(name="Voice<script>"),
        "services": ["klantendienst"], "effective_on": datetime.date(2026, 6, 1),
        "window": Window(days=7), "deadline": objection_deadline(dispatch, Window(days=7))}
    values.update(overrides)
    return NoticeFacts.model_validate(values)


@pytest.fixture
def editable_texts(tmp_path: Path) -> Path:
    folder = tmp_path / "notices"
    shutil.copytree(LIBRARY / "notices", folder)
    return folder


class DescribeNoticeTextFiles:
    def it_has_every_text_in_nl_fr_and_en(self, texts: NoticeTexts) -> None:
        assert set(texts.templates) == TEXT_KEYS
        assert all(set(by_language) == {"nl", "fr", "en"} for by_language in texts.templates.values())

    def it_names_file_and_line_of_a_missing_language(self, editable_texts: Path) -> None:
        path = editable_texts / "change-notice.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('    fr: Notification relative aux sous-traitants ultérieurs\n',
                                     ""), encoding="utf-8")
        with pytest.raises(LibraryError) as caught:
            load_notice_texts(editable_texts)
        assert "letter_title" in caught.value.message and "'fr'" in caught.value.message
        assert caught.value.path == path and caught.value.line is not None

    def it_refuses_different_placeholders_per_language(self, editable_texts: Path) -> None:
        path = editable_texts / "change-notice.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("cher contact de {{ customer_name }}", "cher contact"),
                        encoding="utf-8")
        with pytest.raises(LibraryError, match="different placeholders per language"):
            load_notice_texts(editable_texts)

    def it_refuses_an_unknown_placeholder_with_a_suggestion(self, editable_texts: Path) -> None:
        path = editable_texts / "subprocessor-list.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("{{ provider_name }}", "{{ provider_nam }}"), encoding="utf-8")
        with pytest.raises(LibraryError, match="did you mean 'provider_name'"):
            load_notice_texts(editable_texts)

    def it_refuses_a_key_defined_twice_or_missing(self, editable_texts: Path) -> None:
        (editable_texts / "extra.yaml").write_text(
            "texts:\n  list_empty: {nl: a, fr: b, en: c}\n", encoding="utf-8")
        with pytest.raises(LibraryError, match="also defined"):
            load_notice_texts(editable_texts)
        (editable_texts / "extra.yaml").unlink()
        (editable_texts / "subprocessor-list.yaml").unlink()
        with pytest.raises(LibraryError, match="missing"):
            load_notice_texts(editable_texts)


class DescribeRenderedNotice:
    @pytest.mark.parametrize("language", ["nl", "fr", "en"])
    def it_says_what_changes_where_data_goes_and_by_when(self, texts: NoticeTexts,
                                                        language: str) -> None:
        text = notice_text(compose_notice(facts(language), texts))
        for fragment in ("VoiceBot Inc.", "2021/914", "module 3", "privacy@voxalis.example",
                         "23:59", "DPA-2026-0001"):
            assert fragment in text
        last_day = {"nl": "1 april 2026", "fr": "1 avril 2026", "en": "1 April 2026"}[language]
        assert last_day in text
        ireland = {"nl": "Ierland", "fr": "Irlande", "en": "Ireland"}[language]
        assert ireland in text

    def it_prints_template_code_and_markup_in_values_literally(self, texts: NoticeTexts) -> None:
        content = compose_notice(facts("en"), texts)
        text, html = notice_text(content), notice_html(content)
        assert HOSTILE in text and "49" not in text
        assert "{{ 7*7 }} &lt;b&gt;Bold &amp; Co&lt;/b&gt;" in html
        assert "<b>" not in html and "<script>" not in html
        assert "Voice&lt;script&gt;" in html

    def it_asks_for_consent_under_specific_authorisation(self, texts: NoticeTexts) -> None:
        text = notice_text(compose_notice(facts("en", "consent", remedy="terminate-either"), texts))
        assert "prior specific written authorisation" in text
        assert "Silence does not count as authorisation" in text
        assert "deemed" not in text

    def it_gives_no_window_in_an_informational_notice(self, texts: NoticeTexts) -> None:
        sub = voicebot(engagement="incidental")
        text = notice_text(compose_notice(facts("fr", "informational", subprocessor=sub,
                                                deadline=None, window=None), texts))
        assert "à titre d'information" in text and "objection" not in text

    def it_builds_a_mime_message_with_a_stable_message_id(self, texts: NoticeTexts) -> None:
        import email
        from email.policy import default

        content = compose_notice(facts("nl"), texts)
        raw = notice_mime(content, text=notice_text(content), html_body=notice_html(content),
                          message_id="<dpa-notice.7.x.abc@voxalis.example>",
                          sender="notices@voxalis.example", recipients=["a@b.example"],
                          reply_to="privacy@voxalis.example",
                          date=datetime.datetime(2026, 3, 25, 9, 0, tzinfo=datetime.UTC),
                          headers={"X-DPA-Change": "7"})
        message = email.message_from_bytes(raw, policy=default)
        assert message["Message-ID"] == "<dpa-notice.7.x.abc@voxalis.example>"
        assert message["Content-Language"] == "nl"
        assert "Voice<script>" in message["Subject"]
        parts = [part.get_content_type() for part in message.walk()]
        assert parts == ["multipart/alternative", "text/plain", "text/html"]
