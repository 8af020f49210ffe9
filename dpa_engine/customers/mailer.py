"""One plain e-mail through SMTP (smtplib): answer confirmations and subscription e-mails.

These are single messages, not the notice fan-out: no outbox, a fresh connection each, the
same SMTP settings as `dpa change send` (host, port, TLS, login, sender from DPA_SMTP_*).
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from ..notices.delivery.smtp import SmtpSettings
from ..notices.errors import NoticeError


class MailError(NoticeError):
    """The SMTP server could not be reached or refused the message."""


def send_message(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send `message` (From and To already set); MailError when it is not accepted."""
    s = settings
    try:
        if s.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        with smtp:
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"the e-mail to {message['To']} was not sent ({exc})",
                        field="DPA_SMTP_HOST / DPA_SMTP_PORT",
                        fix="check the SMTP settings (the same as for dpa change send)") from None
