"""The notice as an e-mail (built by the `email` package): every header and both bodies read
back exactly, lines are short, hostile values stay literal, the same input gives the same
bytes."""

from __future__ import annotations

import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest

from dpa_engine.notices import NoticeTexts
from dpa_engine.notices.compose import compose_notice, notice_html, notice_text
from dpa_engine.notices.deadlines import BRUSSELS
from dpa_engine.notices.delivery.mime import notice_mime

from .test_texts import HOSTILE, facts

DATE = datetime.datetime(2026, 3, 25, 10, 0, tzinfo=BRUSSELS)
NASTY_TEXT = ".a line that starts with a dot\nFrom the start of a line\ntrailing space \n" + \
             "=3D not an escape\n" + "long " * 60 + "\n\ttab\n"


def build(texts: NoticeTexts, language: str, *,  # type: ignore[type-arg]
          recipients: list[str] | None = None, text: str | None = None) -> tuple[bytes, dict]:
    content = compose_notice(facts(language), texts)
    body_text = text if text is not None else notice_text(content)
    arguments = dict(text=body_text, html_body=notice_html(content),
                     message_id="<dpa-notice.7.klant.abc@voxalis.example>",
                     sender="notices@voxalis.example",
                     recipients=recipients or ["privacy@klant.example", "dpo@klant.example"],
                     reply_to="privacy@voxalis.example", date=DATE,
                     headers={"X-DPA-Change": "7", "X-DPA-Customer": "klant"})
    return notice_mime(content, **arguments), {"content": content, **arguments}  # type: ignore[arg-type]


def read(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


def summary(message: EmailMessage) -> dict[str, object]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return {
        **{name: str(message[name]) for name in (
            "Subject", "From", "To", "Reply-To", "Date", "Message-ID", "Auto-Submitted",
            "X-DPA-Change", "X-DPA-Customer", "Content-Language")},
        "type": message.get_content_type(),
        # (lines end in CRLF on the wire)
        "plain": plain.get_content().replace("\r\n", "\n"),
        "html": html.get_content().replace("\r\n", "\n"),
    }


class DescribeNoticeMime:
    @pytest.mark.parametrize("language", ["nl", "fr", "en"])
    def it_reads_back_header_for_header_and_body_for_body(self, texts: NoticeTexts,
                                                          language: str) -> None:
        raw, arguments = build(texts, language)
        message = read(raw)
        content = arguments["content"]
        assert summary(message) == {
            "Subject": content.subject,  # accents survive
            "From": "notices@voxalis.example",
            "To": "privacy@klant.example, dpo@klant.example",
            "Reply-To": "privacy@voxalis.example", "Date": "Wed, 25 Mar 2026 10:00:00 +0100",
            "Message-ID": "<dpa-notice.7.klant.abc@voxalis.example>",
            "Auto-Submitted": "auto-generated", "X-DPA-Change": "7", "X-DPA-Customer": "klant",
            "Content-Language": language, "type": "multipart/alternative",
            "plain": arguments["text"], "html": arguments["html_body"]}
        assert HOSTILE in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert message["MIME-Version"] == "1.0" and not message.defects

    def it_gives_the_same_bytes_for_the_same_notice(self, texts: NoticeTexts) -> None:
        first, _ = build(texts, "fr")
        again, _ = build(texts, "fr")
        assert first == again  # an in-doubt resend and the evidence pack rely on it

    def it_keeps_every_line_short_and_every_body_exact(self, texts: NoticeTexts) -> None:
        raw, _ = build(texts, "fr", text=NASTY_TEXT)
        lines = raw.split(b"\r\n")
        assert all(len(line) <= 78 for line in lines)  # headers folded, bodies soft-wrapped
        assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
        plain = read(raw).get_body(("plain",))
        assert plain is not None
        assert plain.get_content().replace("\r\n", "\n") == NASTY_TEXT  # lines as on the wire

    def it_cannot_be_given_extra_headers_through_a_value(self, texts: NoticeTexts) -> None:
        content = compose_notice(facts("en"), texts)
        hostile = content.model_copy(update={"subject": "Notice\r\nBcc: spy@evil.example"})
        raw = notice_mime(hostile, text="x\n", html_body="<p>x</p>\n",
                          message_id="<m@voxalis.example>", sender="n@voxalis.example",
                          recipients=["a@b.example"], reply_to="n@voxalis.example", date=DATE,
                          headers={})
        message = read(raw)
        assert message["Bcc"] is None and str(message["Subject"]) == "Notice Bcc: spy@evil.example"

    def it_falls_back_to_the_email_package_for_international_addresses(
            self, texts: NoticeTexts) -> None:
        raw, _ = build(texts, "nl", recipients=["privé@klant.example"])
        message = read(raw)
        assert str(message["To"]) == "privé@klant.example"
        assert message.get_body(("plain",)) is not None
