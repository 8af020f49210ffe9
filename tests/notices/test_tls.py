"""Notices go out over TLS, STARTTLS and implicit, through the real send path: a loopback
aiosmtpd server with a certificate from a throwaway CA (trustme) that the sender is made to
trust the way an operator would, through OpenSSL's SSL_CERT_FILE."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dpa_engine.library import Library
from dpa_engine.mail.smtp import SmtpConnection
from dpa_engine.notices import NoticeTexts, SendReport, SmtpSettings, change_status, send_change
from dpa_engine.storage import Database
from dpa_engine.storage.schema import OutboxPayloadRow, OutboxRow, TargetRow

from .conftest import Clock, Recorder, SmtpServer, free_port
from .helpers import ACTOR, proposed_and_planned, register

Mode = Literal["starttls", "tls"]
SENDER = "notices@voxalis.example"


# --- a CA the tests make, and a server that speaks TLS -----------------------------------------

@dataclass(frozen=True)
class Authority:
    ca: trustme.CA
    ca_file: Path  # the CA's certificate, PEM: what SSL_CERT_FILE points at
    cert: trustme.LeafCert  # the server's, for 127.0.0.1 and localhost

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("tls") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Authority(ca, ca_file, ca.issue_cert("127.0.0.1", "localhost"))


@pytest.fixture
def trusted(authority: Authority, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sender trusts the test CA: ssl.create_default_context() (what smtp.connect uses)
    loads OpenSSL's default verify paths, and OpenSSL reads SSL_CERT_FILE when it does."""
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
    assert ssl.create_default_context().get_ca_certs() == [_ca_info(authority)]


@pytest.fixture
def untrusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system's default trust store, which does not know the test CA."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _ca_info(authority: Authority) -> dict[str, Any]:
    """The CA certificate as SSLContext.get_ca_certs() describes it."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.load_verify_locations(cafile=str(authority.ca_file))
    [info] = probe.get_ca_certs()
    return info


@dataclass
class Tls:
    """How one message reached the server."""

    peer: object
    version: str | None  # of the TLS connection the DATA came over; None: plaintext
    starttls: bool  # aiosmtpd's session.ssl, which it sets on a completed STARTTLS


class TlsRecorder(Recorder):
    """The conftest Recorder that also notes, per message, whether it came over TLS, and keeps
    the exact bytes the server received."""

    def __init__(self) -> None:
        super().__init__()
        self.tls: list[Tls] = []
        self.raw: dict[str, bytes] = {}  # Message-ID: the message as received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        with self.lock:
            self.tls.append(Tls(session.peer, ssl_object.version() if ssl_object else None,
                                session.ssl is not None))
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            content = bytes(envelope.original_content)
            message_id = str(BytesHeaderParser().parsebytes(content)["Message-ID"])
            with self.lock:
                self.raw[message_id] = content
        return reply


@dataclass
class TlsSmtpServer(SmtpServer):
    mode: Mode = "starttls"
    context: ssl.SSLContext | None = None

    def settings(self, **overrides: Any) -> SmtpSettings:
        return super().settings(**{"security": self.mode, **overrides})

    def start(self) -> None:
        if self.mode == "starttls":  # plaintext until STARTTLS; nothing else before it
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port,
                                         ready_timeout=10, tls_context=self.context,
                                         require_starttls=True)
        else:
            # TLS from the first byte. The controller's readiness probe (_trigger_server)
            # wraps its own connection with a non-verifying client context derived from this
            # one, so it needs no trust in the test CA.
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port,
                                         ready_timeout=10, ssl_context=self.context)
        self.controller.start()


@pytest.fixture(params=["starttls", "tls"])
def secure_smtp(request: pytest.FixtureRequest, authority: Authority) -> Iterator[TlsSmtpServer]:
    server = TlsSmtpServer(TlsRecorder(), free_port(), None, mode=request.param,
                           context=authority.server_context())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _recorder(server: TlsSmtpServer) -> TlsRecorder:
    assert isinstance(server.recorder, TlsRecorder)
    return server.recorder


# --- the notices ---------------------------------------------------------------------------

@pytest.fixture
def planned(db: Database, library: Library, clock: Clock) -> int:
    register(db, library, clock)
    return proposed_and_planned(db, clock).change.id


def send(db: Database, server: SmtpServer, texts: NoticeTexts, clock: Clock, change_id: int,
         **settings: object) -> SendReport:
    return send_change(db, change_id, settings=server.settings(**settings), texts=texts,
                       actor=ACTOR, clock=clock, sleep=lambda _: None)


def stored_mime(db: Database, change_id: int) -> dict[str, bytes]:
    """Message-ID: the MIME bytes the outbox holds for it (what it sends)."""
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxRow.message_id, OutboxPayloadRow.mime)
            .join(TargetRow, OutboxRow.target_id == TargetRow.id)
            .join(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
            .where(TargetRow.change_id == change_id)).all()
    return {r.message_id: bytes(r.mime) for r in rows}


def assert_all_notified_over_tls(db: Database, server: TlsSmtpServer, change_id: int,
                                 report: SendReport) -> None:
    recorder = _recorder(server)
    targets = change_status(db, change_id).targets
    customers = sorted(t.customer for t in targets)
    assert report.complete and not report.deferred and not report.failed
    assert sorted(report.sent) == customers
    assert all(t.status == "notified" and t.deadline is not None for t in targets), targets
    assert len(recorder.messages) == len(customers)
    assert len({m.message_id for m in recorder.messages}) == len(customers)
    # every message came over TLS (TLS 1.2 or later), STARTTLS ones after a completed STARTTLS
    assert len(recorder.tls) == len(customers)
    assert all(t.version in ("TLSv1.2", "TLSv1.3") for t in recorder.tls), recorder.tls
    assert all(t.starttls is (server.mode == "starttls") for t in recorder.tls), recorder.tls


# --- the tests ---------------------------------------------------------------------------

@pytest.mark.usefixtures("trusted")
class DescribeSendingOverTls:
    @pytest.mark.parametrize("secure_smtp", ["starttls"], indirect=True)
    def it_sends_every_notice_after_starttls(self, db: Database, planned: int,
                                             secure_smtp: TlsSmtpServer, texts: NoticeTexts,
                                             clock: Clock) -> None:
        # the server takes no mail in plaintext: without STARTTLS, MAIL FROM is refused
        with smtplib.SMTP("127.0.0.1", secure_smtp.port, timeout=10) as plain:
            plain.ehlo()
            assert plain.has_extn("starttls")
            code, _ = plain.mail(SENDER)
            assert code == 530
        report = send(db, secure_smtp, texts, clock, planned, connections=2)
        assert_all_notified_over_tls(db, secure_smtp, planned, report)

    @pytest.mark.parametrize("secure_smtp", ["tls"], indirect=True)
    def it_sends_every_notice_over_implicit_tls(self, db: Database, planned: int,
                                                secure_smtp: TlsSmtpServer, texts: NoticeTexts,
                                                clock: Clock) -> None:
        # the server speaks TLS from the first byte: a plaintext client gets no greeting
        with socket.create_connection(("127.0.0.1", secure_smtp.port), timeout=10) as plain:
            plain.sendall(b"EHLO plaintext.example\r\n")
            assert not plain.recv(1024).startswith(b"220")
        report = send(db, secure_smtp, texts, clock, planned, connections=2)
        assert_all_notified_over_tls(db, secure_smtp, planned, report)

    def it_delivers_the_stored_mime_byte_for_byte(self, db: Database, planned: int,
                                                  secure_smtp: TlsSmtpServer,
                                                  texts: NoticeTexts, clock: Clock) -> None:
        report = send(db, secure_smtp, texts, clock, planned, connections=2)
        assert report.complete and report.sent
        stored = stored_mime(db, planned)
        received = _recorder(secure_smtp).raw
        assert sorted(received) == sorted(stored)
        for message_id, mime in stored.items():
            assert len(mime) > 2048  # a few KB each: several TLS writes' worth of records
            # what the server got, dot-unstuffed, is what the outbox holds, plus the CRLF
            # that ends the DATA text if the stored MIME lacks it
            expected = mime if mime.endswith(b"\r\n") else mime + b"\r\n"
            assert received[message_id] == expected, message_id

    def it_carries_a_message_of_megabytes_intact(self, secure_smtp: TlsSmtpServer) -> None:
        # The notices fit in the socket buffers; a message of several MB, some lines starting
        # with a dot, must arrive byte for byte too.
        mime = big_message(6 * 1024 * 1024)
        connection = SmtpConnection(secure_smtp.settings(timeout=30))
        try:
            refused = connection.send(SENDER, ["big@customer.example"], mime)
        finally:
            connection.close()
        assert refused == {}
        [received] = _recorder(secure_smtp).raw.values()
        assert len(received) == len(mime) and received == mime
        [tls] = _recorder(secure_smtp).tls
        assert tls.version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.usefixtures("untrusted")
class DescribeAnUntrustedCertificate:
    def it_defers_the_notices_and_sends_nothing(self, db: Database, planned: int,
                                                secure_smtp: TlsSmtpServer, texts: NoticeTexts,
                                                clock: Clock, authority: Authority,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        report = send(db, secure_smtp, texts, clock, planned, connections=2, max_attempts=2)
        targets = change_status(db, planned).targets
        assert not report.complete and not report.sent and not report.failed
        assert sorted(d.customer for d in report.deferred) == sorted(t.customer for t in targets)
        for deferred in report.deferred:
            assert deferred.attempts == 2
            assert "cannot connect" in deferred.error, deferred.error
            assert "CERTIFICATE_VERIFY_FAILED" in deferred.error, deferred.error
        assert all(t.status != "notified" and t.deadline is None for t in targets)
        recorder = _recorder(secure_smtp)
        assert recorder.messages == [] and recorder.raw == {} and recorder.tls == []
        # once the operator trusts the CA, a rerun sends them all
        monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_file))
        rerun = send(db, secure_smtp, texts, clock, planned, connections=2)
        assert_all_notified_over_tls(db, secure_smtp, planned, rerun)


# --- a large message -------------------------------------------------------------------------

def big_message(size: int) -> bytes:
    """A plain-text message of about `size` bytes, in lines SMTP allows, some of which start
    with a dot (dot-stuffed on the way, unstuffed by the server)."""
    head = (f"From: {SENDER}\r\nTo: big@customer.example\r\nSubject: large\r\n"
            "Message-ID: <big.1@voxalis.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    lines = []
    for number in range(size // 80):
        prefix = "." if number % 7 == 0 else ""
        lines.append(f"{prefix}{number:08d} {'abcdefghij' * 7}\r\n".encode())
    return head + b"".join(lines)
