"""`dpa users add` and `dpa serve`, run as a user would (subprocesses)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi import FastAPI

from dpa_engine.web.users import Role

from .conftest import PROVIDER, Browserless
from .flows import fill_in

DPA = str(Path(sys.executable).parent / "dpa")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DPA, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def test_users_add_creates_a_user_once(tmp_path: Path) -> None:
    db = str(tmp_path / "dpa.db")
    password = {"DPA_NEW_PASSWORD": "a long passphrase"}
    first = run("users", "add", "An@Provider.example", "--role", "legal", "--db", db, env=password)
    assert first.returncode == 0, first.stderr
    assert "Added an@provider.example (legal)" in first.stdout
    again = run("users", "add", "an@provider.example", "--role", "admin", "--db", db, env=password)
    assert again.returncode == 2
    assert "a user 'an@provider.example' exists already" in again.stderr
    assert "Traceback" not in again.stderr


def test_users_add_refuses_a_short_password(tmp_path: Path) -> None:
    result = run("users", "add", "an@provider.example", "--role", "legal", "--db",
                 str(tmp_path / "dpa.db"), "--password", "short")
    assert result.returncode == 2
    assert "fewer than 12 characters" in result.stderr


def test_serve_needs_a_provider_profile(tmp_path: Path) -> None:
    result = run("serve", "--provider", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "provider profile not found" in result.stderr and "--provider" in result.stderr


def test_serve_starts_the_app(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([DPA, "serve", "--provider", str(PROVIDER), "--port", str(port),
                               "--db", str(tmp_path / "dpa.db")], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as page:
                    body = page.read().decode()
                    policy = page.headers["content-security-policy"]
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    log.flush()
                    pytest.fail(f"dpa serve did not answer: {(tmp_path / 'serve.log').read_text()}")
                time.sleep(0.2)
        assert "Log in" in body and "frame-ancestors 'none'" in policy
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.mark.libreoffice
def test_the_pdf_download_is_converted_by_libreoffice(app: FastAPI, soffice: object,
                                                      pdftotext: str, tmp_path: Path) -> None:
    am = Browserless(app, Role.account_manager)
    agreement_id = fill_in(am)
    am.post(f"/agreements/{agreement_id}/generate")
    pdf = am.get(f"/agreements/{agreement_id}/agreement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    target = tmp_path / "agreement.pdf"
    target.write_bytes(pdf.content)
    text = subprocess.run([pdftotext, str(target), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Bakkerij Peeters" in text
