"""SMTP through `smtplib`: the settings (DPA_SMTP_*), and a connection that carries one SMTP
transaction per message and says how it ended (sent, refused for good, try again later, our
settings are wrong). The notice sender keeps one per worker thread; single e-mails open one
each (`message.send_message`)."""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ..errors import DpaError

EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"


# seconds settings: finite, and bounded (`inf` would wait forever, 1e308 overflow a timer)
MAX_TIMEOUT_SECONDS = 3600.0
MAX_BACKOFF_SECONDS = 86400.0


class MailError(DpaError):
    """The SMTP settings are wrong, or an e-mail could not be sent."""


class SmtpSettings(BaseModel):
    """How to reach the SMTP server. Every field has a DPA_SMTP_* environment variable."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    host: str = Field(default="localhost", min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    from_address: str | None = Field(default=None, pattern=EMAIL_PATTERN)
    timeout: float = Field(default=30.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_seconds: float = Field(default=2.0, ge=0, le=MAX_BACKOFF_SECONDS)
    backoff_max_seconds: float = Field(default=300.0, ge=0, le=MAX_BACKOFF_SECONDS)
    # Parallel SMTP connections, one worker thread each. Each has at most one started but not
    # yet recorded message at any moment, so this is also the most messages a crash can leave
    # in doubt. A server that refuses some gets the ones it accepts.
    connections: int = Field(default=8, ge=1, le=32)

    @classmethod
    def from_env(cls, **overrides: object) -> SmtpSettings:
        """Environment variables, overridden by explicit (non-None) values, e.g. CLI options.
        A bad value is one MailError naming the option or variable it came from."""
        values: dict[str, object] = {field: os.environ[env] for field, env in SMTP_ENV.items()
                                     if os.environ.get(env)}
        given = {k for k, v in overrides.items() if v is not None}  # options, not variables
        values.update({k: overrides[k] for k in given})
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            option, variable = SMTP_OPTIONS.get(field), SMTP_ENV.get(field, field)
            source = f"{option} / {variable}" if option else variable
            shown = "(hidden)" if field == "password" else repr(str(values.get(field, "")))
            where = option if field in given and option else variable
            origin = f" (from {where})" if option else ""
            raise MailError(f"invalid SMTP setting '{field}' = {shown}{origin}: "
                              f"{_reason_of(first)}", field=source,
                              fix=f"set {where} to {_HINTS.get(field, 'a valid value')}"
                              ) from None


_HINTS = {"timeout": f"a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS:g}, "
                     "such as 30",
          "backoff_seconds": f"a number of seconds from 0 to {MAX_BACKOFF_SECONDS:g}, such as 2",
          "backoff_max_seconds": f"a number of seconds from 0 to {MAX_BACKOFF_SECONDS:g}, "
                                 "such as 300",
          "port": "a port number from 1 to 65535 (25, 465 or 587)",
          "security": "none, starttls or tls", "from_address": "an e-mail address",
          "max_attempts": "a whole number from 1 to 50",
          "connections": "a whole number from 1 to 32", "host": "the SMTP server's name"}


def _reason_of(error: Any) -> str:
    """Pydantic's message, with its wording for infinity made plain."""
    message = str(error["msg"])
    if error["type"] == "finite_number":
        return "it must be a finite number"
    return message[0].lower() + message[1:] if message else "invalid value"


SMTP_ENV = {"host": "DPA_SMTP_HOST", "port": "DPA_SMTP_PORT", "security": "DPA_SMTP_SECURITY",
            "username": "DPA_SMTP_USER", "password": "DPA_SMTP_PASSWORD",
            "from_address": "DPA_SMTP_FROM", "timeout": "DPA_SMTP_TIMEOUT",
            "max_attempts": "DPA_SMTP_MAX_ATTEMPTS", "backoff_seconds": "DPA_SMTP_BACKOFF",
            "backoff_max_seconds": "DPA_SMTP_BACKOFF_MAX",
            "connections": "DPA_SMTP_CONNECTIONS"}
# the `dpa change send` options that set a field (the others only have their variable)
SMTP_OPTIONS = {"host": "--smtp-host", "port": "--smtp-port", "security": "--smtp-security",
                "username": "--smtp-user", "from_address": "--smtp-from",
                "max_attempts": "--max-attempts", "backoff_seconds": "--backoff",
                "connections": "--connections"}


class Permanent(Exception):
    """The server refused the message for good: the customer was not notified."""


class Temporary(Exception):
    """Try again later. `maybe_accepted`: the connection failed after the message was handed
    over, so the server may have it (a later attempt is an in-doubt resend)."""

    def __init__(self, message: str, *, maybe_accepted: bool = False) -> None:
        super().__init__(message)
        self.maybe_accepted = maybe_accepted


class Configuration(Exception):
    """Our settings are wrong (login, sender): no notice can go out until they are fixed."""


class SmtpConnection:
    """One SMTP session, opened when first needed and kept for the next messages."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    @property
    def connected(self) -> bool:
        return self.smtp is not None

    def open(self) -> None:
        """Connect, greet (EHLO), TLS and login as configured; Temporary or Configuration if
        that fails."""
        if self.smtp is not None:
            return
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            # no waiting for the ACK of a message's start before its last bytes go out (Nagle
            # and delayed ACK together would hold every message up to 40 ms)
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
                                f"{_text(exc.smtp_error)})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise Temporary(f"cannot connect to {s.host}:{s.port} ({_reason(exc, s)})") from None
        self.smtp = smtp

    def send(self, sender: str, recipients: list[str], mime: bytes) -> dict[str, str]:
        """One SMTP transaction. Returns the recipients the server refused (it took the
        message for the others); raises Permanent, Temporary or Configuration."""
        self.open()
        smtp = self.smtp
        assert smtp is not None
        try:  # before DATA the server cannot have the message
            code, reply = smtp.mail(sender)
            if code != 250:
                smtp.rset()
                if code >= 500:
                    raise Configuration(f"the SMTP server refused the sender {sender} "
                                        f"({code} {_text(reply)})")
                raise Temporary(f"MAIL FROM: {code} {_text(reply)}")
            refused: dict[str, tuple[int, str]] = {}
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    refused[recipient] = (code, _text(reply))
            if len(refused) == len(recipients):
                smtp.rset()
                raise _every_recipient(refused)
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise Temporary(f"SMTP connection failed ({_reason(exc, self.settings)})") from None
        try:
            code, reply = smtp.data(mime)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: the server did not take it
            raise _refused(exc.smtp_code, _text(exc.smtp_error)) from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise Temporary(f"SMTP connection failed ({_reason(exc, self.settings)})",
                            maybe_accepted=True) from None
        if code != 250:  # the server answered: it did not take the message
            raise _refused(code, _text(reply))
        return {recipient: f"{code} {text}" for recipient, (code, text) in refused.items()}

    def close(self) -> None:
        """QUIT if the server still listens; drop the connection in any case."""
        smtp, self.smtp = self.smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _reason(exc: BaseException, settings: SmtpSettings) -> str:
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return f"no reply within {settings.timeout:g} s"
    return f"{type(exc).__name__}: {exc}"


def _every_recipient(refused: dict[str, tuple[int, str]]) -> Permanent | Temporary:
    detail = "; ".join(f"{r}: {c} {m}" for r, (c, m) in refused.items())
    if all(c >= 500 for c, _ in refused.values()):
        return Permanent(f"every recipient refused ({detail})")
    return Temporary(f"recipients not accepted now ({detail})")


def _refused(code: int, text: str) -> Permanent | Temporary:
    if code >= 500:
        return Permanent(f"message refused ({code} {text})")
    return Temporary(f"DATA: {code} {text}")
