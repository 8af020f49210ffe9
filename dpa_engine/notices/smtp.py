"""SMTP for the notice sender: settings, and connections that one thread drives without
blocking, one SMTP transaction per notice, classified into what the outbox must record."""

from __future__ import annotations

import os
import re
import selectors
import smtplib
import socket
import ssl
import time
from contextlib import suppress
from typing import Literal, NamedTuple

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
    # Parallel SMTP connections (one thread drives them all). Each has at most one
    # accepted-but-not-yet-recorded message at any moment, so this is also the most messages
    # a crash can leave in doubt. A server that refuses some gets the ones it accepts.
    connections: int = Field(default=8, ge=1, le=32)

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


def connect(settings: SmtpSettings) -> smtplib.SMTP:
    """A ready SMTP session: connected, greeted (EHLO), TLS and login as configured. Blocking:
    it runs once per connection, not per message."""
    s = settings
    try:
        if s.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                  context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        # The end-of-data mark is a few bytes sent on their own after the message: without
        # TCP_NODELAY the kernel could hold them back for the ACK of the message, which the
        # server may delay (Nagle and delayed ACK, up to 40 ms).
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
    return smtp

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
_CHUNK = 1 << 16  # bytes per send (a TLS write is retried with the same bytes)


class Accepted(NamedTuple):
    """The server took the message; `refused`: recipients it refused (the others have it)."""

    refused: dict[str, str]


class Wire:
    """One SMTP connection that the send loop drives without blocking, so that one thread
    keeps many connections busy with no thread switch per reply.

    A message is one transaction in two steps. `begin` sends MAIL FROM, RCPT TO, DATA (in one
    write if the server offers PIPELINING) and, once the server says 354, the message itself:
    `receive` then returns "text". Until `end` sends the end-of-data mark the server cannot
    accept the message, and if the connection closes first the server drops it (RFC 5321
    4.1.1.4); so the caller calls `end` only once the message's start is on record. `receive`
    then returns `Accepted`, or raises Permanent, Temporary (`maybe_accepted` once the mark
    was sent) or Configuration. Setting up the connection (connect, EHLO, STARTTLS, login) is
    left to smtplib, blocking, once per connection."""

    def __init__(self, settings: SmtpSettings, selector: selectors.BaseSelector) -> None:
        self.settings = settings
        self.selector = selector
        self.smtp: smtplib.SMTP | None = None
        self.sock: socket.socket | None = None
        self.pipelining = False
        # 'idle': no transaction; 'envelope': MAIL/RCPT/DATA replies awaited; 'text': the
        # message is (being) sent, the end-of-data mark waits for `end`; 'final': the mark is
        # sent, the server's verdict awaited; 'reset': an abandoned transaction's RSET awaited
        self.stage: Literal["idle", "envelope", "text", "final", "reset"] = "idle"
        self.outgoing = bytearray()
        self.incoming = bytearray()
        self.lines: list[bytes] = []  # the lines of a multi-line reply read so far
        self.deadline = 0.0  # when the awaited reply is overdue
        self.later: list[str] = []  # commands still to send, one per reply (no pipelining)
        self.awaited = 0  # replies still to come for the commands sent
        self.replies: list[tuple[int, bytes]] = []
        self.recipients: list[str] = []
        self.sender = ""
        self.text = b""

    @property
    def idle(self) -> bool:
        return self.stage == "idle"

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def open(self) -> None:
        """Set up the connection now (Temporary or Configuration if it cannot be)."""
        if self.sock is None:
            self._connect()

    def begin(self, sender: str, recipients: list[str], mime: bytes) -> None:
        """Start a transaction (connecting first if need be): may raise Temporary or
        Configuration if the connection cannot be set up."""
        if self.stage != "idle":
            raise RuntimeError(f"begin() in stage {self.stage}")
        if self.sock is None:
            self._connect()
        self.sender, self.recipients, self.text = sender, recipients, mime
        self.replies = []
        commands = [f"MAIL FROM:{_envelope_address(sender)}",
                    *(f"RCPT TO:{_envelope_address(r)}" for r in recipients), "DATA"]
        if any("\r" in c or "\n" in c for c in commands):
            raise Permanent("an address contains a line break")
        self.stage = "envelope"
        if self.pipelining:  # RFC 2920: the envelope and DATA in one write
            self.later = []
            self._send("".join(f"{c}\r\n" for c in commands).encode(), replies=len(commands))
        else:
            self.later = commands[1:]
            self._send(f"{commands[0]}\r\n".encode(), replies=1)

    def end(self) -> None:
        """Send the end-of-data mark: from now until the server's reply it may take the
        message."""
        if self.stage != "text":
            raise RuntimeError(f"end() in stage {self.stage}")
        self.stage = "final"
        self._send(END_OF_DATA, replies=1)

    def receive(self) -> Accepted | Literal["text"] | None:
        """Read what the server sent and act on it; see the class for what it returns. On
        "text" the message is queued but not yet sent: the caller calls `end` at once if it
        may (the text and the mark then travel in one write), else `flush`."""
        sock = self.sock
        if sock is None:
            return None
        try:
            while True:
                data = sock.recv(_CHUNK)
                if not data:
                    raise ConnectionError("the server closed the connection")
                self.incoming += data
                if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                    break
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError as exc:
            self._broken(exc)
            return None
        outcome: Accepted | Literal["text"] | None = None
        while self.sock is not None and (cut := self.incoming.find(b"\n")) >= 0:
            line = bytes(self.incoming[:cut]).rstrip(b"\r")
            del self.incoming[:cut + 1]
            if len(line) < 3 or not line[:3].isdigit():
                self._broken(OSError(f"not an SMTP reply: {line[:80]!r}"))
                return None
            self.lines.append(line[4:])
            if line[3:4] == b"-":
                continue  # more lines of this reply follow
            reply, self.lines = (int(line[:3]), b"\n".join(self.lines)), []
            outcome = self._reply(*reply) or outcome
        return outcome

    def flush(self) -> None:
        """Send what the socket takes now of what is waiting to go out."""
        sock = self.sock
        try:
            while self.outgoing and sock is not None:
                sent = sock.send(self.outgoing[:_CHUNK])
                del self.outgoing[:sent]
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError as exc:
            self._broken(exc)
            return
        self._watch()

    def overdue(self, now: float) -> None:
        """Raise Temporary if the awaited reply is later than the timeout allows."""
        if self.sock is not None and self.awaited and now > self.deadline:
            self._broken(TimeoutError(f"no reply within {self.settings.timeout:g} s"))

    def drop(self) -> None:
        """Close at once; an open transaction is abandoned, so the server drops it."""
        sock, self.sock, self.smtp = self.sock, None, None
        self.stage, self.awaited, self.later = "idle", 0, []
        self.outgoing.clear()
        self.incoming.clear()
        self.lines = []
        if sock is not None:
            with suppress(KeyError, ValueError):
                self.selector.unregister(sock)
            sock.close()

    def close(self) -> None:
        """QUIT when no transaction is open (else drop: QUIT would be read as message text)."""
        smtp, sock = self.smtp, self.sock
        if smtp is None or sock is None or self.stage != "idle" or self.outgoing:
            self.drop()
            return
        with suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        self.sock = self.smtp = None
        try:
            sock.settimeout(self.settings.timeout)
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    # -- inside

    def _connect(self) -> None:
        smtp = connect(self.settings)
        sock = smtp.sock
        if sock is None:  # pragma: no cover - smtplib keeps it after a successful connect
            raise Temporary("the SMTP connection closed during setup")
        sock.setblocking(False)
        self.smtp, self.sock = smtp, sock
        self.pipelining = smtp.has_extn("pipelining")
        self.selector.register(sock, selectors.EVENT_READ, self)

    def _send(self, data: bytes, *, replies: int) -> None:
        self.outgoing += data
        if replies:
            self.awaited += replies
            self.deadline = time.monotonic() + self.settings.timeout
        self.flush()

    def _watch(self) -> None:
        if self.sock is not None:
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.outgoing else 0)
            if self.selector.get_key(self.sock).events != events:
                self.selector.modify(self.sock, events, self)

    def _reply(self, code: int, text: bytes) -> Accepted | Literal["text"] | None:
        if not self.awaited:  # e.g. 421 before the server closes the connection
            self._broken(OSError(f"unexpected reply {code} {decode(text)}"))
            return None
        self.awaited -= 1
        self.deadline = time.monotonic() + self.settings.timeout
        if self.stage == "reset":
            if code != 250:
                self.drop()
            self.stage = "idle"
            return None
        if self.stage == "final":
            self.stage = "idle"
            if code != 250:  # the server answered: it did not take the message
                self.drop()
                raise _refused(code, text)
            return Accepted({r: f"{c} {decode(m)}" for r, (c, m) in self._refusals().items()})
        if self.stage != "envelope":
            self._broken(OSError(f"unexpected reply {code} {decode(text)}"))
        self.replies.append((code, text))
        if self.awaited:
            return None  # more replies of this pipelined group to come
        return self._envelope()

    def _envelope(self) -> Literal["text"] | None:
        """Act on the envelope's replies once every reply sent for is in."""
        replies = self.replies
        code, text = replies[0]
        if code != 250:
            self._abandon()
            if code >= 500:
                raise Configuration(f"the SMTP server refused the sender {self.sender} "
                                    f"({code} {decode(text)})")
            raise Temporary(f"MAIL FROM: {code} {decode(text)}")
        if self.later:  # no pipelining: next recipient, or DATA
            command = self.later.pop(0)
            if command == "DATA":
                refused = self._refusals()
                if len(refused) == len(self.recipients):
                    self._abandon()
                    raise _every_recipient(refused)
            self._send(f"{command}\r\n".encode(), replies=1)
            return None
        refused = self._refusals()
        if len(refused) == len(self.recipients):
            self._abandon()
            raise _every_recipient(refused)
        code, text = replies[-1]
        if code != 354:  # DATA itself refused
            self.drop()
            raise _refused(code, text)
        self.stage = "text"
        self.outgoing += _dot_stuffed(self.text)  # flushed by the caller: see `receive`
        return "text"

    def _refusals(self) -> dict[str, tuple[int, str]]:
        return {recipient: (code, decode(text)) for recipient, (code, text)
                in zip(self.recipients, self.replies[1:], strict=False)
                if code not in (250, 251)}

    def _abandon(self) -> None:
        """End a transaction that will not carry a message: RSET, or, if a pipelined DATA was
        accepted regardless (a server should refuse it without recipients), drop the
        connection so that no message can follow."""
        if len(self.replies) == len(self.recipients) + 2 and self.replies[-1][0] == 354:
            self.drop()
        else:
            self.stage, self.later = "reset", []
            self._send(b"RSET\r\n", replies=1)

    def _broken(self, exc: BaseException) -> None:
        """The connection failed: drop it; a transaction under way failed temporarily."""
        stage = self.stage
        self.drop()
        if stage in ("idle", "reset"):
            return
        raise Temporary(f"SMTP connection failed ({type(exc).__name__}: {exc})",
                        maybe_accepted=stage == "final")


def _every_recipient(refused: dict[str, tuple[int, str]]) -> Permanent | Temporary:
    detail = "; ".join(f"{r}: {c} {m}" for r, (c, m) in refused.items())
    if all(c >= 500 for c, _ in refused.values()):
        return Permanent(f"every recipient refused ({detail})")
    return Temporary(f"recipients not accepted now ({detail})")


def _refused(code: int, text: bytes) -> Permanent | Temporary:
    if code >= 500:
        return Permanent(f"message refused ({code} {decode(text)})")
    return Temporary(f"DATA: {code} {decode(text)}")
