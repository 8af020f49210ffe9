"""The web app's generation path: an account manager's form post to the .docx being ready.

    python benchmarks/bench_web.py [--quick]

Starts the app under uvicorn on a loopback port (library and template loaded once, as in a
worker), fills in one agreement, then times POST /agreements/<id>/generate plus the .docx
download, over real HTTP. Prints `web: new agreement p50 X ms (form post to .docx ready)`.
"""

from __future__ import annotations

import http.client
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import uvicorn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from dpa_engine.web import WebSettings, create_app  # noqa: E402
from dpa_engine.web.users import Role, add_user, start_session  # noqa: E402


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        self.cookie = f"dpa_session={token}"
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                              self.request("GET", "/login")[1].decode()).group(1)  # type: ignore[union-attr]

    def request(self, method: str, path: str, data: dict[str, object] | None = None
                ) -> tuple[http.client.HTTPResponse, bytes]:
        body = urlencode({"csrf_token": getattr(self, "csrf", ""), **(data or {})}, doseq=True)
        headers = {"cookie": self.cookie, "content-type": "application/x-www-form-urlencoded"}
        self.connection.request(method, path, body=body if method == "POST" else None,
                                headers=headers)
        response = self.connection.getresponse()
        return response, response.read()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(quick: bool = False) -> float:
    runs = 10 if quick else 40
    with tempfile.TemporaryDirectory(prefix="dpa-bench-web-") as folder:
        app = create_app(WebSettings(provider=ROOT / "examples" / "provider.yaml",
                                     database=f"sqlite:///{folder}/web.db"))
        with app.state.web.db.transaction() as session:
            user = add_user(session, "am@bench.example", "benchmark password", Role.account_manager)
            token = start_session(session, user)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        client = Client(port, token)
        response, _ = client.request("POST", "/agreements")
        agreement = response.getheader("location", "").split("/")[2]
        steps = {
            "customer": {"customer.name": "Bakkerij Peeters", "customer.legal_form": "BV",
                         "customer.country": "BE", "customer.enterprise_number": "0403.170.701",
                         "customer.street": "Grote Markt 12", "customer.postal_code": "9000",
                         "customer.city": "Gent", "customer.signatory_name": "An Peeters",
                         "customer.notice_emails": "privacy@bakkerijpeeters.example"},
            "language": {"language": "nl"},
            "services": {"services": ["customer-service"]},
        }
        for step, data in steps.items():
            client.request("POST", f"/agreements/{agreement}/step/{step}", data)
        samples = []
        for _ in range(runs + 1):
            started = time.perf_counter()
            response, _ = client.request("POST", f"/agreements/{agreement}/generate")
            assert response.status == 303, response.status
            response, docx = client.request("GET", f"/agreements/{agreement}/agreement.docx")
            assert response.status == 200 and docx.startswith(b"PK")
            samples.append((time.perf_counter() - started) * 1000)
        server.should_exit = True
        thread.join(timeout=10)
    p50 = statistics.median(samples[1:])  # the first run warms caches
    print(f"web: new agreement p50 {p50:.0f} ms (form post to .docx ready)")
    return p50


if __name__ == "__main__":
    main("--quick" in sys.argv)
