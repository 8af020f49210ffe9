"""Errors of the notice workflow (all DpaError: one line, what/where/fix, exit code 2)."""

from __future__ import annotations

from ..errors import DpaError
from ..mail import SMTP_ENV, SmtpSettings


class NoticeError(DpaError):
    """A register, change, objection or delivery request that cannot be carried out as asked."""


class SmtpUnreachable(NoticeError):
    """The run could not open a first connection to the SMTP server: it stopped at once,
    having sent nothing (the notices stay queued for a rerun)."""


def unreachable(settings: SmtpSettings, reason: str, change_id: int,
                queued: int | None) -> SmtpUnreachable:
    what = (f"{reason}: nothing was sent"
            + (f", the {queued} notice(s) of change {change_id} stay queued" if queued else ""))
    return SmtpUnreachable(
        what, field="SMTP server",
        fix=f"start the server at {settings.host}:{settings.port}, or set --smtp-host / "
            f"{SMTP_ENV['host']} and --smtp-port / {SMTP_ENV['port']} (and --smtp-security / "
            f"{SMTP_ENV['security']} for TLS), then rerun dpa change send {change_id}")
