"""E-mail through SMTP, for every mail the product sends: the settings (DPA_SMTP_*), a
connection that says how each transaction ended, and one plain e-mail at a time. The notice
sender (`notices.delivery`) keeps its own connections; the customer's side sends single
e-mails (answer receipts, subscriptions)."""

from .message import send_message
from .smtp import (
    SMTP_ENV,
    Configuration,
    MailError,
    Permanent,
    SmtpConnection,
    SmtpSettings,
    Temporary,
)

__all__ = ["SMTP_ENV", "Configuration", "MailError", "Permanent", "SmtpConnection",
           "SmtpSettings", "Temporary", "send_message"]
