"""SMTP for the notice sender: settings, one connection per sending worker, and one SMTP
transaction per notice classified into what the outbox must record."""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from .errors import NoticeError

EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"


class SmtpSettings(BaseModel):
    """How to reach the SMTP server. Every field has a DPA_SMTP_* environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    host: str = "localhost"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)
    # Parallel SMTP connections. Each has at most one accepted-but-not-yet-recorded message
    # at any moment, so this is also the most messages a crash can leave in doubt.
    connections: int = Field(default=4, ge=1, le=32)

    @classmethod
    def from_env(cls, **overrides: object) -> SmtpSettings:
        """Environment variables, overridden by explicit (non-None) values, e.g. CLI options."""
        values: dict[str, object] = {field: os.environ[env] for field, env in SMTP_ENV.items()
                                     if os.environ.get(env)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0])
            option = "--connections" if field == "connections" else \
                f"--smtp-{field.replace('_', '-')}"
            source = f"{option} / {SMTP_ENV.get(field, '')}"
            raise NoticeError(f"invalid SMTP setting '{field}': {first['msg']}", field=source,
                              fix="correct the option or environment variable") from None


SMTP_ENV = {"host": "DPA_SMTP_HOST", "port": "DPA_SMTP_PORT", "security": "DPA_SMTP_SECURITY",
            "username": "DPA_SMTP_USER", "password": "DPA_SMTP_PASSWORD",
            "from_address": "DPA_SMTP_FROM", "timeout": "DPA_SMTP_TIMEOUT",
            "max_attempts": "DPA_SMTP_MAX_ATTEMPTS", "backoff_seconds": "DPA_SMTP_BACKOFF",
            "backoff_max_seconds": "DPA_SMTP_BACKOFF_MAX",
            "connections": "DPA_SMTP_CONNECTIONS"}


class Permanent(Exception):
    """The server refused the message for good: the customer was not notified."""


class Temporary(Exception):
    """Try again later. `maybe_accepted`: the connection broke after the message was handed
    over, so the server may have it (a later attempt is an in-doubt resend)."""

    def __init__(self, message: str, *, maybe_accepted: bool = False) -> None:
        super().__init__(message)
        self.maybe_accepted = maybe_accepted


class Configuration(Exception):
    """Our settings are wrong (login, sender): no notice can go out until they are fixed."""


class Mailer:
    """One SMTP connection, opened on first use and reopened after an error."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None
        self.open = False  # a transaction waits for its end-of-data mark (see `start`)

    def connection(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            # The end-of-data mark is a few bytes sent on its own after the message (see
            # `start`): without TCP_NODELAY the kernel could hold it back for the ACK of the
            # message, which the server may delay (Nagle and delayed ACK, up to 40 ms).
            if smtp.sock is not None:
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password.get_secret_value() if s.password else "")
        except smtplib.SMTPAuthenticationError as exc:
            raise Configuration(f"SMTP login refused ({exc.smtp_code} "
                                f"{decode(exc.smtp_error)})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Temporary(f"cannot connect to {s.host}:{s.port} ({exc})") from None
        self.smtp = smtp
        return smtp

    def close(self) -> None:
        if self.open:  # QUIT now would be read as message text: abandon the transaction
            self.drop()
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None

    def drop(self) -> None:
        """Close at once; an open transaction is abandoned, so the server drops it."""
        self.open = False
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None


def decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _envelope_address(address: str) -> str:
    """`<address>` for MAIL FROM / RCPT TO. A plain address (the usual case: imports and
    settings check them) is wrapped as smtplib's quoteaddr would, without parsing it again
    with the email package for every message; anything else goes through quoteaddr."""
    if _PLAIN_ADDRESS.match(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


def _dot_stuffed(mime: bytes) -> bytes:
    """The message as the DATA phase carries it, up to the end-of-data mark: lines starting
    with '.' get another '.' (RFC 5321 4.5.2) and it ends with CRLF. (A byte replace, not a
    regular expression: a quarter of our notices have such a line.)"""
    if mime.startswith(b"."):
        mime = b"." + mime
    mime = mime.replace(b"\n.", b"\n..")
    if not mime.endswith(b"\r\n"):
        mime += b"\r\n"
    return mime


END_OF_DATA = b".\r\n"  # after the message's final CRLF: the server may now accept it


def start(mailer: Mailer, sender: str, recipients: list[str], mime: bytes) -> dict[str, str]:
    """An SMTP transaction up to, not including, the end-of-data mark: MAIL FROM, RCPT TO,
    DATA and the message itself. Until `complete` sends the mark the server cannot accept the
    message, and if the connection closes first the server drops it (RFC 5321 4.1.1.4), so
    this may run while the commit that allows the message to go out is still being made.
    Returns the refused recipients (the others will get it) or raises Permanent, Temporary
    (never `maybe_accepted`) or Configuration."""
    try:
        smtp = mailer.connection()
        commands = [f"MAIL FROM:{_envelope_address(sender)}",
                    *(f"RCPT TO:{_envelope_address(r)}" for r in recipients), "DATA"]
        if smtp.has_extn("pipelining") and not any("\r" in c or "\n" in c for c in commands):
            # RFC 2920: the envelope and DATA in one write, then their replies in order
            smtp.send("".join(f"{command}\r\n" for command in commands))
            replies = [smtp.getreply() for _ in commands]
        else:
            replies = []
            for command in commands[:-1]:
                verb, _, argument = command.partition(" ")
                replies.append(smtp.docmd(verb.lower(), argument))
                if len(replies) == 1 and replies[0][0] != 250:
                    break  # no point in recipients without a sender
        code, reply = replies[0]
        if code != 250:
            _abandon(mailer, replies, len(commands))
            if code >= 500:
                raise Configuration(f"the SMTP server refused the sender {sender} ({code} "
                                    f"{decode(reply)})")
            raise Temporary(f"MAIL FROM: {code} {decode(reply)}")
        refused: dict[str, tuple[int, str]] = {}
        for recipient, (code, reply) in zip(recipients, replies[1:], strict=False):
            if code not in (250, 251):
                refused[recipient] = (code, decode(reply))
        if len(refused) == len(recipients):
            _abandon(mailer, replies, len(commands))
            detail = "; ".join(f"{r}: {c} {m}" for r, (c, m) in refused.items())
            if all(c >= 500 for c, _ in refused.values()):
                raise Permanent(f"every recipient refused ({detail})")
            raise Temporary(f"recipients not accepted now ({detail})")
        if len(replies) < len(commands):  # not pipelined: DATA was not sent yet
            replies.append(smtp.docmd("data"))
        code, reply = replies[-1]
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        smtp.send(_dot_stuffed(mime))
    except smtplib.SMTPDataError as exc:  # DATA itself refused
        mailer.drop()
        raise _refused(exc) from None
    except (OSError, smtplib.SMTPException) as exc:
        mailer.drop()
        raise Temporary(f"SMTP connection failed ({type(exc).__name__}: {exc})") from None
    mailer.open = True
    return {r: f"{c} {m}" for r, (c, m) in refused.items()}


def _abandon(mailer: Mailer, replies: list[tuple[int, bytes]], sent: int) -> None:
    """End a transaction that will not carry a message: RSET, or, if a pipelined DATA was
    accepted regardless (a server should refuse it without recipients), drop the connection
    so that no message can follow."""
    if len(replies) == sent and replies[-1][0] == 354:
        mailer.drop()
    elif mailer.smtp is not None:
        mailer.smtp.rset()


def complete(mailer: Mailer) -> None:
    """Send the end-of-data mark of the transaction `start` opened: from this moment until
    the server's reply, the server may take the message. Returns once it has (250), or raises
    Permanent or Temporary (`maybe_accepted` if the reply never came)."""
    if not mailer.open or mailer.smtp is None:
        raise RuntimeError("complete() without a transaction opened by start()")
    smtp, mailer.open = mailer.smtp, False
    try:
        smtp.send(END_OF_DATA)
        code, reply = smtp.getreply()
        if code != 250:
            raise smtplib.SMTPDataError(code, reply)
    except smtplib.SMTPDataError as exc:  # the server answered: it did not take the message
        mailer.drop()
        raise _refused(exc) from None
    except (OSError, smtplib.SMTPException) as exc:
        mailer.drop()
        raise Temporary(f"SMTP connection failed ({type(exc).__name__}: {exc})",
                        maybe_accepted=True) from None


def _refused(exc: smtplib.SMTPDataError) -> Permanent | Temporary:
    if exc.smtp_code >= 500:
        return Permanent(f"message refused ({exc.smtp_code} {decode(exc.smtp_error)})")
    return Temporary(f"DATA: {exc.smtp_code} {decode(exc.smtp_error)}")


def deliver(mailer: Mailer, sender: str, recipients: list[str], mime: bytes) -> dict[str, str]:
    """One whole SMTP transaction (`start` then `complete`)."""
    refused = start(mailer, sender, recipients, mime)
    complete(mailer)
    return refused
