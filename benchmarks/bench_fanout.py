"""Notice fan-out: plan and send one sub-processor change to many customers, exactly once.

    python benchmarks/bench_fanout.py [--quick] [--customers N] [--connections N]
        [--server-delay-ms MS] [--postgres --senders 1,2,3]

10,000 generated customers (1,000 with --quick) are registered from generated deal files; a
new sub-processor used by a service every customer buys is proposed; then

- plan: `plan_change` is timed on its own (target: < 2 s for 10,000 customers on SQLite);
- send (SQLite, the default): `send_change` is timed as a whole (queueing every notice in
  the outbox, then rendering and sending each, with its durable commits before and after the
  SMTP transaction; target: < 60 s for 10,000) against a loopback aiosmtpd server running in
  its own process, as a real mail server would (N connections, default 8 as in the product);
- send (--postgres): a throwaway PostgreSQL cluster (fsync on); for each number of senders
  in --senders, a fresh copy of the planned register and that many `dpa change send`
  processes started at once, sharing the change's notices; timed from their start until the
  last exits (process start-up included);
- exactly once: the server received exactly N messages with N distinct Message-IDs, which are
  exactly the outbox's Message-IDs; every outbox entry is 'sent' with one attempt; every
  notice address got one message; the audit chain verifies.

The last line is the figure, e.g.
`fan-out: plan 10000 customers 1.2 s, sent exactly once in 52.0 s = 192 msg/s (queueing
1.9 s first)` or, with --postgres,
`fan-out postgres: 10000 customers sent exactly once by 1 / 2 / 3 senders at 150 / 210 /
230 msg/s`; if exactly-once does not hold it says `NOT exactly once (...)` and the script
exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import multiprocessing
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from common import EXAMPLES, ROOT, throwaway_postgres
from sqlalchemy import func, select

from dpa_engine.library import load_library
from dpa_engine.models import SubProcessor
from dpa_engine.notices import (
    Proposal,
    SendReport,
    SmtpSettings,
    import_deals,
    load_notice_texts,
    plan_change,
    propose_change,
    send_change,
    verify_audit,
)
from dpa_engine.storage import Database, close_databases, open_database
from dpa_engine.storage.schema import OutboxRow, TargetRow

ACTOR = "bench@fanout"
# A fixed clock (a Wednesday) keeps the run reproducible; windows cross the DST switch.
NOW = datetime.datetime(2026, 3, 25, 9, 0, tzinfo=datetime.UTC)
LANGUAGES = ("nl", "fr", "en")
FOLDED = re.compile(rb"\r?\n[ \t]+")
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(.+?)\r?$", re.IGNORECASE | re.MULTILINE)


# --- generated data ---------------------------------------------------------------------------

def enterprise_number(index: int) -> str:
    """A valid Belgian enterprise number (mod-97 check digits), distinct per index."""
    first8 = f"0{5000000 + index:07d}"
    digits = first8 + f"{97 - int(first8) % 97:02d}"
    return f"{digits[:4]}.{digits[4:7]}.{digits[7:]}"


def deal_text(index: int) -> str:
    """One generated customer: every one buys customer-service; a mix of languages, extra
    services, specific authorisation (consent) and negotiated windows in business days."""
    language = LANGUAGES[index % 3]
    services = ["customer-service"] + (["speech-analytics"] if index % 4 == 0 else [])
    deviations: dict[str, Any] = {}
    if index % 7 == 3:
        deviations["subprocessor_authorisation"] = "specific"
    if index % 5 == 1:
        deviations.update(objection_window_days=14, objection_window_unit="business")
    lines = [
        "provider: provider.yaml",
        f"reference: FAN-{index:05d}",
        "customer:",
        f"  name: Fan-out Customer {index} BV",
        "  legal_form: BV",
        f"  enterprise_number: {enterprise_number(index)}",
        "  registered_office: {street: Kerkstraat 1, postal_code: '9000', city: Gent, "
        "country: BE}",
        f"  privacy_contact: {{name: DPO {index}, email: dpo@customer{index}.example}}",
        "  signatory: {name: Jan Janssens, title: zaakvoerder}",
        f"  notice_emails: [privacy@customer{index}.example]",
        f"language: {language}",
        f"services: [{', '.join(services)}]",
        "processing:",
    ]
    for service in services:
        lines += [f"  - service: {service}",
                  "    purpose: Customer contacts.",
                  "    nature: Handling calls.",
                  "    data_subjects: [customers]",
                  "    personal_data: [contact data]",
                  "    retention: 12 months",
                  "    duration: the term of the agreement"]
    if deviations:
        lines.append("deviations:")
        lines += [f"  {key}: {value}" for key, value in deviations.items()]
    return "\n".join(lines) + "\n"


def write_deals(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "provider.yaml").write_bytes((EXAMPLES / "provider.yaml").read_bytes())
    for index in range(count):
        (folder / f"deal-{index:05d}.yaml").write_text(deal_text(index), encoding="utf-8")


def voicebot() -> SubProcessor:
    """The new sub-processor: systematic, outside the EEA (SCCs), used by customer-service."""
    return SubProcessor.model_validate({
        "id": "voicebot", "name": "VoiceBot", "legal_entity": "VoiceBot Inc.", "country": "US",
        "locations": ["US", "IE"],
        "purpose": {"nl": "spraakherkenning", "fr": "reconnaissance vocale",
                    "en": "speech recognition"},
        "services": ["customer-service", "speech-analytics"],
        "transfer": {"kind": "scc", "scc_module": 3}})


# --- the loopback SMTP server -------------------------------------------------------------------

class Counting:
    """aiosmtpd handler: counts accepted messages, their Message-IDs and recipients. `delay`:
    seconds each message takes to be accepted (a real mail server writes it to its queue and
    syncs it to disk before answering 250); the wait does not use the server's CPU."""

    def __init__(self, delay: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.delay = delay
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages = 0
            self.ids: Counter[str] = Counter()
            self.recipients: Counter[str] = Counter()
            self.first: float | None = None
            self.last: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content: bytes = envelope.original_content or envelope.content
        header = FOLDED.sub(b" ", content.split(b"\r\n\r\n", 1)[0])
        found = MESSAGE_ID.search(header)
        now = time.perf_counter()
        with self.lock:
            self.messages += 1
            self.ids[found.group(1).decode().strip() if found else "(none)"] += 1
            self.recipients.update(envelope.rcpt_tos)
            if self.first is None:
                self.first = now
            self.last = now
        return "250 2.0.0 accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int, commands: Any, delay: float) -> None:
    """The server process: aiosmtpd with the counting handler; answers 'stats' and 'reset'."""
    handler = Counting(delay)
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    commands.send("ready")
    try:
        while True:
            command = commands.recv()
            if command == "stop":
                break
            if command == "reset":
                handler.reset()
                commands.send("ok")
            else:
                with handler.lock:
                    commands.send({"messages": handler.messages, "ids": dict(handler.ids),
                                   "recipients": dict(handler.recipients),
                                   "first": handler.first, "last": handler.last})
    finally:
        controller.stop()


class Server:
    """A loopback SMTP server in its own process (it does not share our interpreter)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.commands, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(self.port, theirs, delay),
                                       daemon=True)
        self.process.start()
        if not self.commands.poll(60) or self.commands.recv() != "ready":
            raise SystemExit("the SMTP server process did not start")

    def stats(self) -> dict[str, Any]:
        self.commands.send("stats")
        result: dict[str, Any] = self.commands.recv()
        return result

    def reset(self) -> None:
        self.commands.send("reset")
        self.commands.recv()

    def stop(self) -> None:
        self.commands.send("stop")
        self.process.join(30)


# --- the runs ------------------------------------------------------------------------------------

def planned_register(db: Database, folder: Path, count: int) -> tuple[int, float]:
    """`count` generated customers registered in `db` and the change planned: (change, seconds
    planning took)."""
    library = load_library(ROOT / "clauses")
    started = time.perf_counter()
    write_deals(folder / "deals", count)
    report = import_deals(db, [folder / "deals"], library, actor=ACTOR, now=NOW)
    assert len(report.agreements) == count, report.notes
    print(f"register: {count} generated customers imported in "
          f"{time.perf_counter() - started:.1f} s (setup, not part of the figure)")
    change = propose_change(db, Proposal(action="add", subprocessor=voicebot(),
                                         effective_on=datetime.date(2026, 6, 1)),
                            actor=ACTOR, now=NOW)
    started = time.perf_counter()
    plan = plan_change(db, change.id, actor=ACTOR, now=NOW)
    seconds = time.perf_counter() - started
    kinds = Counter(e.kind for e in plan.affected)
    print(f"plan: {len(plan.affected)} affected ("
          + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
          + f"), {len(plan.unaffected)} unaffected in {seconds:.3f} s "
          f"({len(plan.affected) / seconds:,.0f} customers/s)")
    return change.id, seconds


def on_sqlite(count: int, connections: int, delay_ms: float) -> int:
    texts = load_notice_texts(ROOT / "clauses" / "notices")
    with tempfile.TemporaryDirectory(prefix="dpa-fanout-") as work:
        db = open_database(f"sqlite:///{Path(work) / 'dpa.db'}")
        change_id, plan_seconds = planned_register(db, Path(work), count)
        # `dpa change send` runs in a fresh process: the deals imported above are setup, so
        # they are kept out of the cyclic collector's passes during the timed send
        gc.collect()
        gc.freeze()
        server = Server(delay_ms / 1000)
        try:
            settings = SmtpSettings(host="127.0.0.1", port=server.port, timeout=60,
                                    from_address="notices@voxalis.example",
                                    connections=connections)
            started = time.perf_counter()
            report = send_change(db, change_id, settings=settings, texts=texts, actor=ACTOR,
                                 clock=lambda: NOW)
            seconds = time.perf_counter() - started
            received = server.stats()
        finally:
            server.stop()
        queued = received["first"] - started if received["first"] else 0.0
        accepting = f", each accepted after {delay_ms:g} ms" if delay_ms else ""
        print(f"send: {len(report.sent)} notices in {seconds:.1f} s = {count / seconds:,.0f} "
              f"msg/s over {connections} connection(s){accepting}, of which {queued:.1f} s "
              "queueing every notice in the outbox before the first went out")
        problems = check_exactly_once(db, change_id, count, received, report)
        figure = f"fan-out: plan {count} customers {plan_seconds:.1f} s"
        if problems:
            print(f"{figure}, NOT exactly once ({'; '.join(problems)})")
            return 1
        print(f"{figure}, sent exactly once in {seconds:.1f} s = {count / seconds:.0f} msg/s "
              f"(queueing {queued:.1f} s first)")
        return 0


def on_postgres(count: int, connections: int, delay_ms: float, senders: list[int]) -> int:
    rates: list[float] = []
    with throwaway_postgres() as database, tempfile.TemporaryDirectory() as work:
        base = open_database(database("fanout_base"))
        change_id, _ = planned_register(base, Path(work), count)
        close_databases()  # (a template must have no connections)
        for n in senders:
            url = database(f"fanout_{n}", template="fanout_base")
            server = Server(delay_ms / 1000)
            try:
                started = time.perf_counter()
                processes = [sender_process(url, change_id, server.port, connections)
                             for _ in range(n)]
                outputs = [p.communicate() for p in processes]
                seconds = time.perf_counter() - started
                received = server.stats()
            finally:
                server.stop()
            failed = [out + err for p, (out, err) in zip(processes, outputs, strict=True)
                      if p.returncode != 0]
            db = open_database(url)
            problems = check_exactly_once(db, change_id, count, received, None)
            problems += [f"a sender failed: {text.strip().splitlines()[-1]}" for text in failed]
            busy = len({p.pid for p in processes})
            print(f"send: {n} sender process(es) x {connections} connections: {count} notices "
                  f"in {seconds:.1f} s = {count / seconds:,.0f} msg/s (all {busy} started at "
                  "once, start-up included)")
            if problems:
                print(f"fan-out postgres: {n} sender(s), NOT exactly once "
                      f"({'; '.join(problems)})")
                return 1
            rates.append(count / seconds)
            close_databases()
    print(f"fan-out postgres: {count} customers sent exactly once by "
          f"{' / '.join(str(n) for n in senders)} sender(s) at "
          f"{' / '.join(f'{r:.0f}' for r in rates)} msg/s")
    return 0


def sender_process(url: str, change_id: int, port: int, connections: int
                   ) -> subprocess.Popen[str]:
    dpa = Path(sys.executable).parent / "dpa"
    return subprocess.Popen(
        [str(dpa), "change", "send", str(change_id), "--db", url, "--smtp-host", "127.0.0.1",
         "--smtp-port", str(port), "--smtp-from", "notices@voxalis.example", "--library",
         str(ROOT / "clauses"), "--actor", ACTOR, "--connections", str(connections)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check_exactly_once(db: Database, change_id: int, count: int, received: dict[str, Any],
                       report: SendReport | None) -> list[str]:
    problems = []
    ids: dict[str, int] = received["ids"]
    recipients: dict[str, int] = received["recipients"]
    if received["messages"] != count:
        problems.append(f"server received {received['messages']} messages for {count} customers")
    repeated = [i for i, n in ids.items() if n > 1]
    if len(ids) != count or repeated:
        problems.append(f"{len(ids)} distinct Message-IDs, {len(repeated)} repeated")
    twice = [r for r, n in recipients.items() if n != 1]
    if len(recipients) != count or twice:
        problems.append(f"{len(recipients)} addresses, {len(twice)} not exactly once")
    with db.transaction() as session:
        rows = session.execute(
            select(OutboxRow.message_id, OutboxRow.status, OutboxRow.attempts,
                   OutboxRow.in_doubt_resends)
            .join(TargetRow, OutboxRow.target_id == TargetRow.id)
            .where(TargetRow.change_id == change_id)).all()
        targets = session.execute(select(func.count()).select_from(TargetRow).where(
            TargetRow.change_id == change_id, TargetRow.status == "notified")).scalar_one()
    if len(rows) != count:
        problems.append(f"{len(rows)} outbox entries for {count} customers")
    unsent = [r for r in rows if r.status != "sent"]
    if unsent:
        problems.append(f"{len(unsent)} outbox entries not marked sent")
    retried = [r for r in rows if r.attempts != 1 or r.in_doubt_resends]
    if retried:
        problems.append(f"{len(retried)} outbox entries sent more than once")
    if {r.message_id for r in rows} != set(ids):
        problems.append("the server's Message-IDs are not the outbox's")
    if targets != count:
        problems.append(f"{targets} customers recorded as notified")
    if report is not None and (not report.complete or len(report.sent) != count
                               or report.in_doubt_resent or report.failed or report.deferred):
        problems.append(f"send report: {len(report.sent)} sent, complete={report.complete}, "
                        f"{len(report.failed)} failed, {len(report.deferred)} deferred, "
                        f"{len(report.in_doubt_resent)} in doubt")
    audit = verify_audit(db)
    if not audit.ok:
        problems.append(f"audit chain broken: {audit.problem}")
    else:
        print(f"exactly once: server got {received['messages']} messages, {len(ids)} distinct "
              f"Message-IDs = the outbox's; every outbox entry 'sent' after 1 attempt; "
              f"{len(recipients)} addresses got 1 each; audit chain of {audit.records} records "
              "verifies")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers instead of 10,000")
    parser.add_argument("--customers", type=int, default=None,
                        help="how many customers (default 10,000; 1,000 with --quick)")
    parser.add_argument("--connections", type=int, default=SmtpSettings().connections,
                        help="parallel SMTP connections per sender (default: the product's)")
    parser.add_argument("--server-delay-ms", type=float, default=0.0,
                        help="milliseconds the server takes to accept each message, as a mail "
                        "server syncing its queue to disk does (default 0: accept at once)")
    parser.add_argument("--postgres", action="store_true",
                        help="send from --senders processes at once through a throwaway "
                        "PostgreSQL cluster instead of SQLite in this process")
    parser.add_argument("--senders", default="1,2,3",
                        help="with --postgres: the numbers of sender processes to measure")
    options = parser.parse_args()
    if options.connections < 1 or options.server_delay_ms < 0:
        parser.error("--connections must be at least 1 and --server-delay-ms not negative")
    if options.customers is not None and options.customers < 1:
        parser.error("--customers must be at least 1")
    try:
        senders = [int(n) for n in options.senders.split(",")]
    except ValueError:
        senders = []
    if not senders or min(senders) < 1:
        parser.error("--senders must be numbers of at least 1, e.g. 1,2,3")
    customers = options.customers or (1_000 if options.quick else 10_000)
    if options.postgres:
        sys.exit(on_postgres(customers, options.connections, options.server_delay_ms, senders))
    sys.exit(on_sqlite(customers, options.connections, options.server_delay_ms))
