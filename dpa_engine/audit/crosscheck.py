"""What the audit log proves about the rest of the database.

The hash chain proves the log itself; this module checks the tables the log speaks about:

- every stored artefact of a sent notice (its text, HTML, letter source and exact MIME
  bytes) against the digests its 'sent' record holds;
- every `change_targets.deadline`, `status` and `notified_at` and every `outbox.status`
  against the value the audited events imply (they are derived data: recompute and
  compare).

Values are read raw (plain SQL, no column types), so a value whose type was changed behind
the product's back (bytes that became text, JSON that is no longer an object) is reported
as such instead of failing the check.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from ..storage import Database
from .chain import AuditVerification, canonical_json, stored_data, verify_chain

# the digests a 'sent' record holds, and what each covers (for messages)
ARTEFACTS = {"text_sha256": "text", "html_sha256": "HTML", "letter_sha256": "letter source",
             "mime_sha256": "MIME bytes"}
# outbox statuses of a message the log says is not sent yet (claimed/sending are not audited)
UNSENT = ("pending", "deferred", "claimed", "sending")


def artefact_digests(*, body_text: str, body_html: str, letter: dict[str, Any]
                     ) -> dict[str, str]:
    """The digests of a notice's text, HTML and letter source (of its canonical JSON), as a
    'sent' record holds them next to the digest of the MIME bytes sent."""
    covered = (("text_sha256", body_text), ("html_sha256", body_html),
               ("letter_sha256", canonical_json(letter)))
    return {key: hashlib.sha256(value.encode("utf-8")).hexdigest() for key, value in covered}


@dataclass(frozen=True)
class Problem:
    """One stored value that is not what the log says; `seq`: the record that says so."""

    seq: int
    text: str


@dataclass
class _Sent:
    seq: int
    change_id: int | None
    customer: str | None
    digests: dict[str, str]


def _events(session: Session, names: tuple[str, ...]
            ) -> Iterator[tuple[int, str, int | None, str | None, Any, object]]:
    """(seq, event, change, customer, data, recorded_at) of the named events, in order; data
    that is not a JSON object comes back as None."""
    rows = session.execute(text(
        "SELECT seq, event, change_id, customer_key, data, recorded_at FROM audit_events "
        "WHERE event IN :names ORDER BY seq").bindparams(bindparam("names", expanding=True)),
        {"names": names})
    for seq, event, change_id, customer, data, recorded_at in rows:
        yield seq, event, change_id, customer, stored_data(data), recorded_at


def _kind(value: object) -> str:
    return {str: "text", bytes: "bytes", int: "a number", float: "a number",
            type(None): "empty"}.get(type(value), type(value).__name__)


def _stored(value: object, label: str, *, json_parsed: bool) -> tuple[bytes | None, str | None]:
    """The bytes a digest covers, or why there are none (a changed type). `json_parsed`: the
    driver returns JSON columns parsed (PostgreSQL), not as their text (SQLite)."""
    if label == "MIME bytes":
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value), None
        return None, f"are no longer bytes (found {_kind(value)})"
    if label == "letter source":
        if not json_parsed and isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                return None, "is no longer valid JSON"
        if not isinstance(value, dict):
            return None, f"is no longer a JSON object (found {_kind(value)})"
        return canonical_json(value).encode("utf-8"), None
    if not isinstance(value, str):
        return None, f"is no longer text (found {_kind(value)})"
    return value.encode("utf-8"), None


def check_sent_notices(session: Session) -> tuple[int, list[Problem]]:
    """Each 'sent' record holds digests of the notice's stored text, HTML, letter source and
    MIME bytes. Recompute them."""
    sent: dict[str, _Sent] = {}  # by message id; those found in the outbox are taken out
    problems: list[Problem] = []
    for seq, _, change_id, customer, data, _ in _events(session, ("sent",)):
        if data is None or not isinstance(data.get("message_id"), str) or \
                not all(isinstance(data.get(key), str) for key in ARTEFACTS):
            problems.append(Problem(seq, f"record {seq} (sent) does not hold a readable "
                                         "message digest"))
            continue
        sent[data["message_id"]] = _Sent(seq, change_id, customer,
                                         {key: data[key] for key in ARTEFACTS})
    checked = len(sent)
    json_parsed = session.get_bind().dialect.name == "postgresql"
    rows = session.execute(text(
        "SELECT o.message_id, p.body_text, p.body_html, p.letter_source, p.mime "
        "FROM outbox o JOIN outbox_payloads p ON p.outbox_id = o.id"
    ).execution_options(yield_per=500))  # streamed: the payloads are not all held at once
    for message_id, body_text, body_html, letter, mime in rows:
        record = sent.pop(message_id, None)
        if record is None:
            continue
        values = {"text_sha256": body_text, "html_sha256": body_html,
                  "letter_sha256": letter, "mime_sha256": mime}
        for key, digest in record.digests.items():
            label = ARTEFACTS[key]
            data, changed = _stored(values[key], label, json_parsed=json_parsed)
            if changed is None and data is not None and \
                    hashlib.sha256(data).hexdigest() == digest:
                continue
            what = changed or ("are" if label == "MIME bytes" else "is") + " not what was sent"
            problems.append(Problem(record.seq, (
                f"record {record.seq}: the stored {label} of the notice to customer "
                f"'{record.customer}' for change {record.change_id} ({message_id}) {what}: "
                "it was altered after sending")))
    problems += [Problem(r.seq, f"record {r.seq}: the notice to customer '{r.customer}' for "
                                f"change {r.change_id} ({message_id}) that it says was sent is "
                                "no longer in the outbox")
                 for message_id, r in sent.items()]
    return checked, sorted(problems, key=lambda p: p.seq)


# --- derived values: deadlines and statuses -----------------------------------------------------

@dataclass
class _Expected:
    seq: int  # the record the expectation follows from
    deadline: str | None = None  # ISO text, as in the 'sent' record
    statuses: tuple[str, ...] = UNSENT  # of the customer's notice
    # of its withdrawal notice (None: none was queued), and the record that implies it
    withdrawal: tuple[str, ...] | None = None
    withdrawal_seq: int = 0
    # the customer's status (change_targets.status), when it was notified, and the record
    target: str = "queued"
    notified_at: object = None
    target_seq: int = 0


_EFFECTS = ("queued", "sent", "send-failed", "taken-over", "in-doubt-resend", "bounced",
            "letter-sent", "cancelled", "withdrawn", "withdrawal-queued")


def _message_status(event: str, values: dict[str, Any]) -> tuple[str, ...]:
    """The outbox status a message event implies."""
    if event == "sent":
        return ("sent",)
    if event == "bounced":
        return ("bounced",) if values.get("after_acceptance") else ("failed",)
    return UNSENT


def _later(deadline: str | None, closed: object) -> bool:
    moment, end = _moment(deadline), _moment(closed)
    return moment is not None and end is not None and moment > end


def _expected(session: Session) -> dict[tuple[int, str], _Expected]:
    """Per (change, customer): the deadline and outbox statuses the audited events imply.

    A withdrawal notice (queued by 'withdrawal-queued', its message id named there) has its
    own outbox status and never moves the deadline; 'letter-sent' starts a window from the
    letter; 'withdrawn' closes every open window at the moment it names; 'cancelled' marks a
    notice that was never sent. The customer is notified by 'sent' (at its moment) or
    'letter-sent' (at the letter's), and no longer by 'bounced'."""
    expected: dict[tuple[int, str], _Expected] = {}
    withdrawals: set[object] = set()  # message ids of withdrawal notices
    for seq, event, change_id, customer, data, recorded_at in _events(session, _EFFECTS):
        values = data or {}
        if event == "withdrawn":
            closed = values.get("windows_closed_at")
            for (change, _), now in expected.items():
                if change == change_id and closed is not None and _later(now.deadline, closed):
                    now.deadline, now.seq = str(closed), seq
            continue
        if change_id is None or customer is None:
            continue
        now = expected.setdefault((change_id, customer), _Expected(seq))
        if event == "withdrawal-queued":
            withdrawals.add(values.get("message_id"))
            now.withdrawal, now.withdrawal_seq = UNSENT, seq
        elif values.get("purpose") == "withdrawal" or values.get("message_id") in withdrawals:
            now.withdrawal, now.withdrawal_seq = _message_status(event, values), seq
        elif event == "letter-sent":
            deadline = values.get("deadline")
            now.deadline, now.seq = deadline if isinstance(deadline, str) else None, seq
            now.target, now.notified_at, now.target_seq = "notified", values.get("sent_at"), seq
        elif event == "cancelled":
            now.statuses, now.seq = ("withdrawn",), seq
        else:
            now.seq, now.statuses = seq, _message_status(event, values)
            if event == "sent":
                deadline = values.get("deadline")
                now.deadline = deadline if isinstance(deadline, str) else None
                now.target, now.notified_at, now.target_seq = "notified", recorded_at, seq
            elif event in ("bounced", "queued"):
                now.deadline = None
                now.target = "queued" if event == "queued" else "not-notified"
                now.notified_at, now.target_seq = None, seq
    return expected


def _moment(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment


def _show(value: object) -> str:
    moment = _moment(value)
    if moment is not None:
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "none" if value is None else repr(value)


def check_derived(session: Session) -> list[Problem]:
    """Every stored deadline, customer status, notified time and outbox status that differs
    from what the log implies."""
    expected = _expected(session)
    problems: list[Problem] = []
    rows = session.execute(text(
        "SELECT t.change_id, c.key, t.deadline, o.status, o.purpose, t.status, t.notified_at "
        "FROM change_targets t JOIN customers c ON c.id = t.customer_id "
        "LEFT JOIN outbox o ON o.target_id = t.id ORDER BY t.change_id, c.key, o.purpose"))
    for change_id, customer, deadline, status, purpose, target, notified_at in rows:
        wanted = expected.get((change_id, customer))
        where = f"change {change_id}, customer '{customer}'"
        if purpose == "withdrawal":
            if wanted is None or wanted.withdrawal is None:
                problems.append(Problem(0, f"{where}: no audit record queued this withdrawal "
                                           "notice"))
            elif status not in wanted.withdrawal:
                problems.append(_status_problem(f"{where}: withdrawal notice", status,
                                                wanted.withdrawal, wanted.withdrawal_seq))
            continue
        if wanted is None:
            problems.append(Problem(0, f"{where}: no audit record queued this notice"))
            continue
        if _moment(deadline) != _moment(wanted.deadline) or \
                (deadline is not None and _moment(deadline) is None):
            problems.append(Problem(wanted.seq, (
                f"{where}: deadline is {_show(deadline)} but the audit log (record "
                f"{wanted.seq}) gives {_show(wanted.deadline)}")))
        if status is not None and status not in wanted.statuses:
            problems.append(_status_problem(where, status, wanted.statuses, wanted.seq))
        problems.extend(_target_problems(where, target, notified_at, wanted))
    return problems


def _target_problems(where: str, status: object, notified_at: object, wanted: _Expected
                     ) -> list[Problem]:
    """The customer's status and notified time against what the log implies."""
    seq, problems = wanted.target_seq, []
    if status != wanted.target:
        problems.append(Problem(seq, f"{where}: status is {_show(status)} but the audit log "
                                     f"(record {seq}) gives '{wanted.target}'"))
    if _moment(notified_at) != _moment(wanted.notified_at) or \
            (notified_at is not None and _moment(notified_at) is None):
        problems.append(Problem(seq, f"{where}: notified at {_show(notified_at)} but the "
                                     f"audit log (record {seq}) gives "
                                     f"{_show(wanted.notified_at)}"))
    return problems


def _status_problem(where: str, status: object, wanted: tuple[str, ...], seq: int) -> Problem:
    shown = "/".join(wanted[:2]) + (" (not sent yet)" if wanted == UNSENT else "")
    return Problem(seq, f"{where}: outbox status is '{status}' but the audit log (record {seq}) "
                        f"gives {shown}")


def verify_log(session: Session) -> AuditVerification:
    """The chain, then every sent notice's artefacts and every derived deadline and status:
    all problems are listed (one line each), the first is `problem`."""
    chain = verify_chain(session)
    if not chain.ok:
        return chain
    checked, problems = check_sent_notices(session)
    problems = sorted(problems + check_derived(session), key=lambda p: p.seq)
    if not problems:
        return chain.model_copy(update={"notices_checked": checked})
    first = next((p for p in problems if p.seq), problems[0])
    return chain.model_copy(update={
        "ok": False, "first_bad_seq": first.seq or None, "problem": first.text,
        "problems": [p.text for p in problems], "notices_checked": checked})


def verify_audit(db: Database) -> AuditVerification:
    """`verify_log` in a transaction of its own (what `dpa audit verify` runs)."""
    with db.transaction() as session:
        return verify_log(session)


__all__ = ["ARTEFACTS", "Problem", "artefact_digests", "check_derived", "check_sent_notices",
           "verify_audit", "verify_log"]
