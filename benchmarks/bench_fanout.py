"""Notice fan-out: plan and send one sub-processor change to many customers, exactly once.

    python benchmarks/bench_fanout.py [--quick] [--connections N]

10,000 generated customers (1,000 with --quick) are registered in a fresh SQLite register
from generated deal files; a new sub-processor used by a service every customer buys is
proposed; then

- plan: `plan_change` is timed on its own (target: < 2 s for 10,000 customers on SQLite);
- send: `send_change` is timed as a whole (queueing every notice in the outbox, then the
  SMTP transactions, each notice rendered as it starts, with their durable commits) against
  a loopback aiosmtpd server running in its own process, as a real mail server would (N
  connections, default 8 as in the product);
- the server offers PIPELINING (RFC 2920) as real relays do, so both our sender and the
  replay send the envelope and DATA in one write (`--no-pipelining`: one reply per command);
- server limit: afterwards the very same messages (the outbox's MIME bytes) are replayed to
  the same server by a plain smtplib loop over the same number of connections, with no
  database and no rendering: the most that server takes from a client. The send rate is
  given as a share of it, for the whole command and for its SMTP phase (from the server's
  first message to its last), with how busy the server process was meanwhile;
- CPU per message, of our process and of the server's, for our run and for the replay: on
  one machine they share the cores, so the share of the limit is close to the ratio of the
  two sums; and the CPU ceiling that follows for our run, cores / (client + server CPU per
  message), as a share of the limit: no arrangement of the same work on these cores could
  send faster;
- exactly once: the server received exactly N messages with N distinct Message-IDs, which are
  exactly the outbox's Message-IDs; every outbox entry is 'sent' with one attempt; every
  notice address got one message; the audit chain verifies.

The last line is the figure, e.g.
`fan-out: plan 10000 customers 1.0 s, sent exactly once; SMTP phase 1100 msg/s = 88 % of
server limit (server busy 90 %); whole send 760 msg/s = 61 % (queueing 2.0 s first); CPU
ceiling 72 % of the limit`;
if exactly-once does not hold it says `NOT exactly once (...)` and the script exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import multiprocessing
import os
import re
import smtplib
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from common import EXAMPLES, ROOT
from sqlalchemy import func, select

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
    verify_audit,
)
from dpa_engine.storage import open_database
from dpa_engine.storage.schema import OutboxPayloadRow, OutboxRow, TargetRow

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

    def __init__(self, delay: float = 0.0, pipelining: bool = True) -> None:
        self.lock = threading.Lock()
        self.delay = delay
        self.pipelining = pipelining
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.messages = 0
            self.ids: Counter[str] = Counter()
            self.recipients: Counter[str] = Counter()
            self.first: float | None = None
            self.last: float | None = None
            self.cpu_reset = time.process_time()  # the server's CPU time since reset: `cpu`
            # the server process's CPU time at the first and the last message: how busy the
            # server was while it received (near 100 %: the server is what bounds the rate)
            self.cpu_first = self.cpu_last = 0.0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # RFC 2920, as real relays offer it
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        content: bytes = envelope.original_content or envelope.content
        header = FOLDED.sub(b" ", content.split(b"\r\n\r\n", 1)[0])
        found = MESSAGE_ID.search(header)
        now, cpu = time.perf_counter(), time.process_time()
        with self.lock:
            self.messages += 1
            self.ids[found.group(1).decode().strip() if found else "(none)"] += 1
            self.recipients.update(envelope.rcpt_tos)
            if self.first is None:
                self.first, self.cpu_first = now, cpu
            self.last, self.cpu_last = now, cpu
        return "250 2.0.0 accepted"


def _busy(handler: Counting) -> float:
    """Share of one core the server process used between its first and last message."""
    if handler.first is None or handler.last is None or handler.last <= handler.first:
        return 0.0
    return (handler.cpu_last - handler.cpu_first) / (handler.last - handler.first)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(port: int, commands: Any, delay: float, pipelining: bool) -> None:
    """The server process: aiosmtpd with the counting handler; answers 'stats' and 'reset'."""
    handler = Counting(delay, pipelining)
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
                                   "first": handler.first, "last": handler.last,
                                   "busy": _busy(handler),
                                   "cpu": time.process_time() - handler.cpu_reset})
    finally:
        controller.stop()


class Server:
    """A loopback SMTP server in its own process (it does not share our interpreter)."""

    def __init__(self, delay: float = 0.0, pipelining: bool = True) -> None:
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.commands, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(self.port, theirs, delay, pipelining),
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


def replay(port: int, messages: list[tuple[list[str], bytes]], connections: int) -> float:
    """Messages/s of plain smtplib loops sending `messages` over `connections` connections: the
    server limit for these messages, with no database or rendering on our side."""
    def loop(part: list[tuple[list[str], bytes]]) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
            smtp.ehlo()
            piped = smtp.has_extn("pipelining")
            for recipients, mime in part:
                if not piped:
                    smtp.sendmail("notices@voxalis.example", recipients, mime)
                    continue
                # what smtplib does, with the envelope and DATA in one write (RFC 2920)
                smtp.send("".join(["MAIL FROM:<notices@voxalis.example>\r\n",
                                   *(f"RCPT TO:<{r}>\r\n" for r in recipients), "DATA\r\n"]))
                replies = [smtp.getreply() for _ in range(len(recipients) + 2)]
                if replies[-1][0] != 354:
                    raise SystemExit(f"replay refused: {replies}")
                text = smtplib._quote_periods(mime)  # as smtplib's data() sends it
                smtp.send(text + (b".\r\n" if text.endswith(b"\r\n") else b"\r\n.\r\n"))
                if smtp.getreply()[0] != 250:
                    raise SystemExit("replay message refused")

    threads = [threading.Thread(target=loop, args=(messages[index::connections],))
               for index in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(messages) / (time.perf_counter() - started)


# --- the run -----------------------------------------------------------------------------------

def main(count: int, connections: int, delay_ms: float, pipelining: bool) -> int:
    library = load_library(ROOT / "clauses")
    texts = load_notice_texts(ROOT / "clauses" / "notices")
    with tempfile.TemporaryDirectory(prefix="dpa-fanout-") as work:
        folder = Path(work)
        started = time.perf_counter()
        write_deals(folder / "deals", count)
        db = open_database(f"sqlite:///{folder / 'dpa.db'}")
        report = import_deals(db, [folder / "deals"], library, actor=ACTOR, now=NOW)
        assert len(report.agreements) == count, report.notes
        print(f"register: {count} generated customers imported in "
              f"{time.perf_counter() - started:.1f} s (setup, not part of the figure)")

        change = propose_change(db, Proposal(action="add", subprocessor=voicebot(),
                                             effective_on=datetime.date(2026, 6, 1)),
                                actor=ACTOR, now=NOW)
        started = time.perf_counter()
        plan = plan_change(db, change.id, actor=ACTOR, now=NOW)
        plan_seconds = time.perf_counter() - started
        kinds = Counter(e.kind for e in plan.affected)
        print(f"plan: {len(plan.affected)} affected ("
              + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
              + f"), {len(plan.unaffected)} unaffected in {plan_seconds:.3f} s "
              f"({len(plan.affected) / plan_seconds:,.0f} customers/s)")

        # `dpa change send` runs in a fresh process: the 10,000 deals imported above are setup,
        # so they are kept out of the cyclic collector's passes during the timed send
        gc.collect()
        gc.freeze()
        server = Server(delay_ms / 1000, pipelining)
        try:
            settings = SmtpSettings(host="127.0.0.1", port=server.port, timeout=60,
                                    from_address="notices@voxalis.example",
                                    connections=connections)
            server.reset()
            started, cpu = time.perf_counter(), time.process_time()
            sent = send_change(db, change.id, settings=settings, texts=texts, actor=ACTOR,
                               clock=lambda: NOW)
            send_seconds, send_cpu = time.perf_counter() - started, time.process_time() - cpu
            received = server.stats()
            messages = outbox_messages(db, change.id)
            server.reset()
            cpu = time.process_time()
            limit = replay(server.port, messages, connections)
            replay_cpu = time.process_time() - cpu
            replay_stats = server.stats()
            replayed = replay_stats["messages"]
        finally:
            server.stop()
        if replayed != count:
            print(f"fan-out: the replay delivered {replayed} of {count}")
            return 1
        size = sum(len(mime) for _, mime in messages) / len(messages)
        accepting = f", each accepted after {delay_ms:g} ms" if delay_ms else ""
        accepting += ", envelope pipelined" if pipelining else ", no pipelining"
        print(f"server limit: plain smtplib, the same {count} messages ({size / 1024:.1f} KB "
              f"each{accepting}) over {connections} connection(s), {limit:,.0f} msg/s, the "
              f"server process busy {100 * replay_stats['busy']:.0f} % of a core")
        rate = count / send_seconds
        share = 100 * rate / limit
        first, last = received["first"], received["last"]
        wire = (count - 1) / (last - first) if first and last and last > first else 0.0
        queued = received["first"] - started if received["first"] else 0.0
        print(f"send: {len(sent.sent)} notices in {send_seconds:.1f} s = {rate:,.0f} msg/s "
              f"({share:.0f} % of the server limit), of which {queued:.1f} s queueing every "
              f"notice in the outbox before the first went out; the SMTP phase ran at "
              f"{wire:,.0f} msg/s ({100 * wire / limit:.0f} %), the server process busy "
              f"{100 * received['busy']:.0f} % of a core")

        # On one machine the client and the server share the cores: the share above is close
        # to the ratio of CPU per message (client + server) of the replay and of ours.
        print(f"CPU per message: change send {1000 * send_cpu / count:.2f} ms client + "
              f"{1000 * received['cpu'] / count:.2f} ms server; replay "
              f"{1000 * replay_cpu / count:.2f} ms client + "
              f"{1000 * replay_stats['cpu'] / count:.2f} ms server")
        cores = len(os.sched_getaffinity(0))
        ceiling = cores * count / (send_cpu + received["cpu"])
        print(f"CPU ceiling: {cores} cores / ({1000 * send_cpu / count:.2f} + "
              f"{1000 * received['cpu'] / count:.2f}) ms = {ceiling:,.0f} msg/s = "
              f"{100 * ceiling / limit:.0f} % of the server limit; the whole send reached "
              f"{100 * rate / ceiling:.0f} % of it")
        problems = check_exactly_once(db, change.id, count, received, sent)
        audit = verify_audit(db)
        if not audit.ok:
            problems.append(f"audit chain broken: {audit.problem}")
        figure = f"fan-out: plan {count} customers {plan_seconds:.1f} s"
        if problems:
            print(f"{figure}, NOT exactly once ({'; '.join(problems)})")
            return 1
        print(f"exactly once: server got {received['messages']} messages, "
              f"{len(received['ids'])} distinct Message-IDs = the outbox's; every outbox entry "
              f"'sent' after 1 attempt; {len(received['recipients'])} addresses got 1 each; "
              f"audit chain of {audit.records} records verifies")
        print(f"{figure}, sent exactly once; SMTP phase {wire:.0f} msg/s = "
              f"{100 * wire / limit:.0f} % of server limit (server busy "
              f"{100 * received['busy']:.0f} %); whole send {rate:.0f} msg/s = {share:.0f} % "
              f"(queueing {queued:.1f} s first); CPU ceiling {100 * ceiling / limit:.0f} % of "
              "the limit")
        return 0


def outbox_messages(db: Any, change_id: int) -> list[tuple[list[str], bytes]]:
    """Each outbox entry's recipients and MIME bytes, as sent."""
    with db.transaction() as session:
        rows = session.execute(
            select(TargetRow.recipients, OutboxPayloadRow.mime)
            .join(OutboxRow, OutboxRow.target_id == TargetRow.id)
            .join(OutboxPayloadRow, OutboxPayloadRow.outbox_id == OutboxRow.id)
            .where(TargetRow.change_id == change_id).order_by(OutboxRow.id)).all()
    return [(list(r.recipients), bytes(r.mime)) for r in rows]


def check_exactly_once(db: Any, change_id: int, count: int, received: dict[str, Any],
                       sent: Any) -> list[str]:
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
    if not sent.complete or len(sent.sent) != count or sent.in_doubt_resent or sent.failed \
            or sent.deferred:
        problems.append(f"send report: {len(sent.sent)} sent, complete={sent.complete}, "
                        f"{len(sent.failed)} failed, {len(sent.deferred)} deferred, "
                        f"{len(sent.in_doubt_resent)} in doubt")
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 customers instead of 10,000")
    parser.add_argument("--customers", type=int, default=None,
                        help="how many customers (default 10,000; 1,000 with --quick)")
    parser.add_argument("--connections", type=int, default=SmtpSettings().connections,
                        help="parallel SMTP connections (default: the product's default)")
    parser.add_argument("--server-delay-ms", type=float, default=0.0,
                        help="milliseconds the server takes to accept each message, as a mail "
                        "server syncing its queue to disk does (default 0: accept at once)")
    parser.add_argument("--no-pipelining", action="store_true",
                        help="the server does not offer PIPELINING (RFC 2920), so every command "
                        "waits for its reply (default: offered, as real relays do)")
    options = parser.parse_args()
    if options.connections < 1 or options.server_delay_ms < 0:
        parser.error("--connections must be at least 1 and --server-delay-ms not negative")
    if options.customers is not None and options.customers < 1:
        parser.error("--customers must be at least 1")
    customers = options.customers or (1_000 if options.quick else 10_000)
    sys.exit(main(customers, options.connections,
                  options.server_delay_ms, not options.no_pipelining))
