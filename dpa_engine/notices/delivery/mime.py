"""One notice as an RFC 5322 message, built by the `email` package (SMTP policy: CRLF line
ends, folded headers, RFC 2047 encoded words where a header is not plain ASCII)."""

from __future__ import annotations

import datetime
import hashlib
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from ...audit.checkpoints import WITNESS_HEADER
from ..compose import NoticeContent
from ..deadlines import BRUSSELS


def notice_mime(content: NoticeContent, *, text: str, html_body: str, message_id: str,
                sender: str, recipients: list[str], reply_to: str, date: datetime.datetime,
                headers: dict[str, str]) -> bytes:
    """The notice with text and HTML alternatives, quoted-printable UTF-8. The same arguments
    always give the same bytes (the boundary is derived from the Message-ID)."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = _one_line(content.subject)  # no value can add a header
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Reply-To"] = reply_to
    message["Date"] = format_datetime(date.astimezone(BRUSSELS))
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    for name, value in headers.items():
        message[name] = _one_line(value)
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html_body, subtype="html", cte="quoted-printable")
    message.set_boundary("=_dpa_" + hashlib.sha256(message_id.encode()).hexdigest()[:32])
    message["Content-Language"] = content.language
    return message.as_bytes()


def with_witness(mime: bytes, head: tuple[int, str]) -> bytes:
    """The message with the audit log's head (sequence number, hash) as its first header,
    X-DPA-Audit-Head: a witness in the customer's inbox that history before it was not
    rewritten (`dpa audit verify --witness`). Plain ASCII, so it needs no encoding."""
    return f"{WITNESS_HEADER}: {head[0]}:{head[1]}\r\n".encode("ascii") + mime


def _one_line(value: str) -> str:
    return " ".join(value.split())
