"""One plain e-mail through SMTP: answer confirmations and subscription e-mails.

These are single messages, not the notice fan-out: no outbox, a fresh connection each, the
same SMTP settings and the same connection code as `dpa change send` (host, port, TLS, login,
sender from DPA_SMTP_*).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parseaddr

from .smtp import Configuration, MailError, Permanent, SmtpConnection, SmtpSettings, Temporary


def send_message(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send `message` (From and To already set); MailError when it is not accepted."""
    connection = SmtpConnection(settings)
    try:
        connection.open()
        connection.send(parseaddr(str(message["From"]))[1], [parseaddr(str(message["To"]))[1]],
                        message.as_bytes(policy=SMTP))
    except (Temporary, Permanent, Configuration) as exc:
        raise MailError(f"the e-mail to {message['To']} was not sent ({exc})",
                        field="DPA_SMTP_HOST / DPA_SMTP_PORT",
                        fix="check the SMTP settings (the same as for dpa change send)") from None
    finally:
        connection.close()
