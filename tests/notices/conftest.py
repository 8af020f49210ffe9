"""Fixtures for the notice workflow: databases (SQLite and a throwaway PostgreSQL cluster),
a real SMTP server on loopback (aiosmtpd) that records every message, a fixed clock."""

from __future__ import annotations

import asyncio
import datetime
import email
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from dpa_engine.library import Library, load_library
from dpa_engine.notices import NoticeTexts, SmtpSettings, load_notice_texts
from dpa_engine.render import DocxRenderer
from dpa_engine.storage import Database, close_databases, open_database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
LIBRARY = ROOT / "clauses"
TEMPLATE = ROOT / "templates" / "agreement.docx"
BRUSSELS_TZ = "Europe/Brussels"
# A Wednesday in March: a 7- or 14-day window crosses the switch to summer time (29 March).
SPRING = datetime.datetime(2026, 3, 25, 9, 0, tzinfo=datetime.UTC)


# --- PostgreSQL ----------------------------------------------------------------------------

@dataclass
class PgServer:
    bindir: Path
    root: Path
    socket_dir: Path
    port: int
    counter: Iterator[int] = field(default_factory=itertools.count)

    def create_database(self) -> str:
        import psycopg

        name = f"dpa_test_{next(self.counter)}"
        with psycopg.connect(host=str(self.socket_dir), port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@/{name}?host={self.socket_dir}&port={self.port}"


def _postgres_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason} (.ci/system-deps installs Debian 'postgresql')")
    print(f"\nskipping PostgreSQL tests: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason} (apt-get install postgresql)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A throwaway cluster listening only on a unix socket in a private folder."""
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _unavailable("initdb/pg_ctl not found")
    assert bindir is not None
    as_root = os.geteuid() == 0
    prefix: list[str] = []
    if as_root:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            _unavailable("running as root without runuser")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root and there is no 'postgres' user")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="dpa-pg-"))
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    data, socket_dir, port = root / "data", root, 54329
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                    "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], **run)  # type: ignore[call-overload]
    options = (f"-k {socket_dir} -p {port} -c listen_addresses='' -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off")
    try:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l",
                        str(root / "server.log"), "-w", "-t", "60", "-o", options, "start"],
                       **run)  # type: ignore[call-overload]
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {exc.stderr}\n{log}")
    try:
        yield PgServer(bindir=bindir, root=root, socket_dir=socket_dir, port=port)
    finally:
        close_databases()
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'dpa.db'}"
    else:
        yield request.getfixturevalue("pg_server").create_database()
    close_databases()


@pytest.fixture
def db(db_url: str) -> Database:
    return open_database(db_url)


# --- library, texts, renderer ------------------------------------------------------------------

@pytest.fixture(scope="session")
def library() -> Library:
    return load_library(LIBRARY)


@pytest.fixture(scope="session")
def texts() -> NoticeTexts:
    return load_notice_texts(LIBRARY / "notices")


@pytest.fixture(scope="session")
def renderer() -> DocxRenderer:
    return DocxRenderer(TEMPLATE)


# --- clock -------------------------------------------------------------------------------

class Clock:
    """A settable clock for the library's `now`/`clock` parameters."""

    def __init__(self, moment: datetime.datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime.datetime:
        return self.moment

    def advance(self, **delta: float) -> datetime.datetime:
        self.moment += datetime.timedelta(**delta)
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(SPRING)


# --- SMTP -------------------------------------------------------------------------------

@dataclass
class Received:
    message_id: str
    recipients: list[str]
    message: EmailMessage
    at: float = 0.0  # time.monotonic() when the server had the whole message
    raw: bytes = b""  # the message exactly as the server received it (an .eml)


class Recorder:
    """An aiosmtpd handler that stores every accepted message and can misbehave on request."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self.delay = 0.0
        self.stall_first = 0.0  # seconds the first message's final reply is held back
        self.refuse: set[str] = set()
        self.tempfail_data = 0
        self.data_started = 0
        self.signal_at: int | None = None
        self.signal = threading.Event()
        self.peers: set[object] = set()  # the client connections that sent a message
        self.pipelining = True  # offer RFC 2920 PIPELINING, as real relays do
        self.max_connections: int | None = None  # refuse more at once (421), as relays may
        self.connections = 0  # open now
        self.refused_connections = 0
        self.ehlo_lines: list[str] = []
        self.refuse_sender_after: int | None = None  # 550 to MAIL FROM after this many messages
        # the first copy of the Nth different message taken, then the line cut unanswered
        self.hang_up_after: set[int] = set()
        self.on_data: Any = None  # called with each message's Message-ID as its DATA ends

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        self.ehlo_lines = responses
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if self.refuse_sender_after is not None and \
                len(self.messages) >= self.refuse_sender_after:
            return "550 5.7.1 sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        with self.lock:
            self.data_started += 1
            number = self.data_started
            self.peers.add(session.peer)
        if self.signal_at == number:
            self.signal.set()
        if self.tempfail_data > 0:
            self.tempfail_data -= 1
            return "451 4.3.0 temporarily unavailable, try again"
        if self.delay:
            await asyncio.sleep(self.delay)
        if number == 1 and self.stall_first:
            await asyncio.sleep(self.stall_first)  # longer than the client waits
        if server.transport is None or server.transport.is_closing():
            return "421 4.4.2 connection gone"  # the client vanished: nothing was accepted
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=default_policy)
        if self.on_data is not None:
            self.on_data(str(message["Message-ID"]))
        with self.lock:
            seen = {m.message_id for m in self.messages}
            new = str(message["Message-ID"]) not in seen
            self.messages.append(Received(str(message["Message-ID"]), list(envelope.rcpt_tos),
                                          message, at,  # type: ignore[arg-type]
                                          envelope.original_content or envelope.content))
        if new and len(seen) + 1 in self.hang_up_after:  # taken, but the client never hears so
            server.transport.close()
        return "250 2.0.0 accepted"

    def by_recipient(self) -> dict[str, list[Received]]:
        result: dict[str, list[Received]] = {}
        for received in self.messages:
            for recipient in received.recipients:
                result.setdefault(recipient, []).append(received)
        return result


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free loopback port not handed out before in this test run, so that a sender a
    finished test left retrying can never reach a later test's server on a reused port."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class CappedSMTP(SMTP):
    """Greets with 421 and hangs up when the recorder's `max_connections` are open."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        recorder: Recorder = self.event_handler
        with recorder.lock:
            recorder.connections += 1
            over = recorder.max_connections is not None and \
                recorder.connections > recorder.max_connections
            recorder.refused_connections += over
        super().connection_made(transport)
        if over:  # written before the greeting task runs
            transport.write(b"421 4.7.0 too many connections from your address\r\n")  # type: ignore[attr-defined]
            transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        recorder: Recorder = self.event_handler
        with recorder.lock:
            recorder.connections -= 1
        super().connection_lost(error)


class RecordingController(Controller):
    def factory(self) -> SMTP:
        return CappedSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class SmtpServer:
    recorder: Recorder
    port: int
    controller: Controller | None

    def settings(self, **overrides: Any) -> SmtpSettings:
        values: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "timeout": 10,
                                  "from_address": "notices@voxalis.example",
                                  "max_attempts": 3, "backoff_seconds": 0.0}
        values.update(overrides)
        return SmtpSettings(**values)

    def start(self) -> None:
        self.controller = RecordingController(self.recorder, hostname="127.0.0.1",
                                              port=self.port, ready_timeout=10)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(Recorder(), free_port(), None)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- deals ----------------------------------------------------------------------------------

def kbo(index: int) -> str:
    """A valid Belgian enterprise number (mod-97 check digits)."""
    first8 = f"0{4000000 + index:07d}"
    digits = first8 + f"{97 - int(first8) % 97:02d}"
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def write_deal(folder: Path, index: int, *, language: str = "nl",
               services: tuple[str, ...] = ("customer-service",),
               deviations: dict[str, Any] | None = None, version: int = 1,
               emails: list[str] | None = None) -> Path:
    """A deal file for a generated Belgian customer, next to a copy of the example provider."""
    if not (folder / "provider.yaml").exists():
        shutil.copy(EXAMPLES / "provider.yaml", folder / "provider.yaml")
    addresses = emails or [f"privacy@customer{index}.example"]
    lines = [
        "provider: provider.yaml",
        f"reference: DPA-TEST-{index:04d}",
        f"version: {version}",
        "customer:",
        f"  name: Customer {index} BV",
        "  legal_form: BV",
        f"  enterprise_number: {kbo(index)}",
        "  registered_office: {street: Kerkstraat 1, postal_code: '9000', city: Gent, country: BE}",
        f"  privacy_contact: {{name: DPO {index}, email: dpo@customer{index}.example}}",
        "  signatory: {name: Jan Janssens, title: zaakvoerder}",
        f"  notice_emails: [{', '.join(addresses)}]",
        f"language: {language}",
        f"services: [{', '.join(services)}]",
        "processing:",
    ]
    for service in services:
        lines += [
            f"  - service: {service}",
            "    purpose: Customer contacts.",
            "    nature: Handling calls.",
            "    data_subjects: [customers]",
            "    personal_data: [contact data]",
            "    retention: 12 months",
            "    duration: the term of the agreement",
        ]
    if deviations:
        lines.append("deviations:")
        lines += [f"  {key}: {value}" for key, value in deviations.items()]
    path = folder / f"deal-test-{index:03d}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
