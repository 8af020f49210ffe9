"""The customer's notice page under a bounded loopback load.

    python benchmarks/bench_public.py [--quick] [--requests N] [--threads N]

A fresh SQLite register gets the examples and one change (VoiceBot) sent to a loopback
aiosmtpd server; uvicorn serves the public router with 2 workers on a free loopback port;
then a thread pool of httpx clients (keep-alive) GETs one customer's notice page N times
(after a warm-up) and every response must be 200 with the page's title. Client and server
share this machine's cores, as they would not in production.

The last line is the figure: `web: notice page N req/s, p99 X ms` (goal: >= 500 req/s,
p99 < 50 ms).
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from aiosmtpd.controller import Controller
from common import EXAMPLES, ROOT

from dpa_engine.library import load_library
from dpa_engine.models import SubProcessor
from dpa_engine.notices import (
    Proposal,
    SmtpSettings,
    import_deals,
    load_notice_texts,
    plan_change,
    propose_change,
    send_change,
)
from dpa_engine.notices.links import notice_url
from dpa_engine.storage import open_database

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret-not-for-production"


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(folder: Path) -> tuple[str, str]:
    """(database URL, the notice path of bakkerij-peeters) with change 1 sent."""
    url = f"sqlite:///{folder / 'dpa.db'}"
    db = open_database(url)
    import_deals(db, [EXAMPLES], load_library(ROOT / "clauses"), actor="bench")
    now = datetime.datetime.now(datetime.UTC)
    sub = SubProcessor.model_validate({
        "id": "voicebot", "name": "VoiceBot", "legal_entity": "VoiceBot Inc.", "country": "US",
        "locations": ["US", "IE"], "services": ["customer-service", "speech-analytics"],
        "purpose": {"nl": "spraakherkenning", "fr": "reconnaissance vocale",
                    "en": "speech recognition"}, "transfer": {"kind": "scc", "scc_module": 3}})
    change = propose_change(db, Proposal(action="add", subprocessor=sub, effective_on=(
        now + datetime.timedelta(days=60)).date()), actor="bench")
    plan_change(db, change.id, actor="bench")
    smtp_port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        send_change(db, change.id, settings=SmtpSettings(
            host="127.0.0.1", port=smtp_port, from_address="notices@voxalis.example"),
            texts=load_notice_texts(ROOT / "clauses" / "notices"), actor="bench")
    finally:
        controller.stop()
    deadline = now + datetime.timedelta(days=30)
    path = notice_url("", change.id, "bakkerij-peeters", deadline, secret=SECRET)
    return url, path


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DPA_DATABASE_URL": url, "DPA_SECRET_KEY": SECRET,
           "DPA_PUBLIC_URL": f"http://127.0.0.1:{port}", "DPA_LIBRARY": str(ROOT / "clauses"),
           "PYTHONPATH": str(HERE)}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "public_app:create", "--host",
         "127.0.0.1", "--port", str(port), "--workers", "2", "--log-level", "warning",
         "--no-access-log"], cwd=HERE, env=env)
    started = time.monotonic()
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/public-static/style.css").status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() - started > 30 or server.poll() is not None:
            server.kill()
            raise SystemExit("uvicorn did not start")
        time.sleep(0.1)


def load(base: str, path: str, count: int, threads: int) -> tuple[float, list[float]]:
    """(seconds for all, latency of each in ms); every response checked."""
    per_thread = count // threads

    def worker(_: int) -> list[float]:
        samples = []
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(per_thread):
                started = time.perf_counter()
                response = client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
                wanted = "VoiceBot" if path.startswith("/notice") else ""
                if response.status_code != 200 or wanted not in response.text:
                    raise SystemExit(f"bad response {response.status_code}")
        return samples

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))  # warm-up, not counted
        started = time.perf_counter()
        results = list(pool.map(worker, range(threads)))
        elapsed = time.perf_counter() - started
    return elapsed, [s for r in results for s in r]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    count = args.requests or (800 if args.quick else 4000)
    with tempfile.TemporaryDirectory() as tmp:
        url, path = prepare(Path(tmp))
        port = free_port()
        server = serve(url, port)
        try:
            elapsed, samples = load(f"http://127.0.0.1:{port}", path, count, args.threads)
        finally:
            server.terminate()
            server.wait(timeout=30)
    ordered = sorted(samples)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(f"{len(samples)} requests from {args.threads} threads (keep-alive), uvicorn 2 workers, "
          f"SQLite; p50 {p50:.1f} ms")
    print(f"web: notice page {len(samples) / elapsed:.0f} req/s, p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
