"""Delivery of change notices: the outbox's state transitions, one notice rendered, its MIME
message, the leases that let several senders share a change, the sender, and letters."""

from .dryrun import dry_run
from .lease import SenderLease
from .letters import change_outbox, letter_bytes, letters
from .report import DeferredNotice, FailedNotice, SendProgress, SendReport
from .sender import send_change

__all__ = ["DeferredNotice", "FailedNotice", "SendProgress", "SendReport", "SenderLease",
           "change_outbox", "dry_run", "letter_bytes", "letters", "send_change"]
