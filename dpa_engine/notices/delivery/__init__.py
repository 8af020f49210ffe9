"""Delivery of change notices: the outbox's state transitions, one notice rendered, its MIME
message, SMTP, the leases that let several senders share a change, the sender, and letters."""

from .dryrun import dry_run
from .lease import SenderLease
from .letters import change_outbox, letter_bytes, letters
from .report import DeferredNotice, FailedNotice, SendProgress, SendReport
from .sender import send_change
from .smtp import SMTP_ENV, SmtpSettings, SmtpUnreachable

__all__ = ["SMTP_ENV", "DeferredNotice", "FailedNotice", "SendProgress", "SendReport",
           "SenderLease", "SmtpSettings", "SmtpUnreachable", "change_outbox", "dry_run",
           "letter_bytes", "letters", "send_change"]
