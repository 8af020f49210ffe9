"""The audit log: append-only and hash-chained.

Each record's hash covers its own content and the previous record's hash, so editing,
deleting or reordering any record breaks the chain from there on; `verify` finds the first
broken record. The `audit_head` row holds the last sequence number and hash (it is locked
while appending, which also serialises concurrent writers, and reveals a truncated tail).
The database additionally refuses UPDATE/DELETE on the table (triggers).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ..storage.schema import AuditEventRow, AuditHeadRow

GENESIS = "0" * 64


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def record_hash(prev_hash: str, seq: int, recorded_at: datetime.datetime, actor: str, event: str,
                change_id: int | None, customer_key: str | None, data: str) -> str:
    """SHA-256 of the whole record as canonical JSON (`data`: the record's data, itself as
    canonical JSON text, exactly as stored)."""
    body = canonical_json({
        "prev": prev_hash, "seq": seq, "at": recorded_at.astimezone(datetime.UTC).isoformat(),
        "actor": actor, "event": event, "change": change_id, "customer": customer_key,
        "data": data,
    })
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Event:
    """One audit record to append."""

    event: str
    actor: str
    at: datetime.datetime
    change_id: int | None = None
    customer_key: str | None = None
    data: dict[str, Any] | None = None


def append_event(session: Session, event: str, *, actor: str, at: datetime.datetime,
                 change_id: int | None = None, customer_key: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
    """Append one record inside the caller's transaction (it commits or rolls back with it)."""
    append_events(session, [Event(event=event, actor=actor, at=at, change_id=change_id,
                                  customer_key=customer_key, data=data)])


# Core statements on the tables (no ORM bookkeeping)
_EVENTS = cast(Table, AuditEventRow.__table__)
_HEAD = cast(Table, AuditHeadRow.__table__)
_HEAD_NOW = select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1)
_READ_HEAD = _HEAD_NOW.with_for_update()  # on PostgreSQL the head row is locked
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(last_seq=bindparam("seq"),
                                                        last_hash=bindparam("digest"))


def head_of(session: Session | Connection) -> tuple[int, str]:
    """The log's last sequence number and hash as this transaction sees them (no lock)."""
    seq, digest = session.execute(_HEAD_NOW).one()
    return int(seq), str(digest)


def lock_log(session: Session | Connection) -> None:
    """Take the log's write lock now (PostgreSQL), before locking other rows: a transaction
    that appends to the log after locking rows another appender may wait for must do this
    first, or the two can deadlock."""
    session.execute(_READ_HEAD)


def append_events(session: Session | Connection, events: Sequence[Event]) -> None:
    """Append records in order inside the caller's transaction. The head row is read (and
    locked on PostgreSQL, which serialises concurrent writers) once for all of them."""
    if not events:
        return
    [(seq, prev)] = session.execute(_READ_HEAD).all()
    rows = []
    for item in events:
        seq += 1
        at = item.at.astimezone(datetime.UTC)
        text = canonical_json(item.data or {})
        digest = record_hash(prev, seq, at, item.actor, item.event, item.change_id,
                             item.customer_key, text)
        rows.append({"seq": seq, "recorded_at": at, "actor": item.actor, "event": item.event,
                     "change_id": item.change_id, "customer_key": item.customer_key,
                     "data": text, "prev_hash": prev, "hash": digest})
        prev = digest
    session.execute(insert(_EVENTS), rows)
    session.execute(_MOVE_HEAD, {"seq": seq, "digest": prev})


class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    seq: int
    recorded_at: datetime.datetime
    actor: str
    event: str
    change_id: int | None
    customer_key: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    model_config = ConfigDict(frozen=True)
    ok: bool
    records: int
    last_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None
    # notices whose stored bytes were checked against the digest their 'sent' record holds
    notices_checked: int = 0
    # every stored value found to differ from what the log says, one line each
    problems: list[str] = []


def records(session: Session, change_id: int | None = None) -> list[AuditRecord]:
    query = select(AuditEventRow).order_by(AuditEventRow.seq)
    if change_id is not None:
        query = query.where(AuditEventRow.change_id == change_id)
    return [AuditRecord(seq=r.seq, recorded_at=r.recorded_at, actor=r.actor, event=r.event,
                        change_id=r.change_id, customer_key=r.customer_key,
                        data=_readable(r.data), prev_hash=r.prev_hash, hash=r.hash)
            for r in session.execute(query).scalars()]


def stored_data(text: object) -> dict[str, Any] | None:
    """A record's data as stored (JSON text), or None when it is no longer a JSON object."""
    try:
        value = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _readable(text: object) -> dict[str, Any]:
    """Data that is no longer a JSON object (the chain check reports the record) is kept as
    found, so an evidence pack can still show it."""
    data = stored_data(text)
    return data if data is not None else {"unreadable": str(text)}


def _first_problem(row: AuditEventRow, expected_seq: int, prev: str) -> tuple[int, str] | None:
    if row.seq != expected_seq:
        return expected_seq, f"record {expected_seq} is missing (next record is {row.seq})"
    if row.prev_hash != prev:
        return row.seq, f"record {row.seq} does not link to record {row.seq - 1}"
    digest = record_hash(prev, row.seq, row.recorded_at, row.actor, row.event, row.change_id,
                          row.customer_key, row.data)
    if digest != row.hash:
        return row.seq, f"record {row.seq} ({row.event}) was altered after it was written"
    return None


def verify_chain(session: Session) -> AuditVerification:
    """Recompute every hash; report the first record that does not match (the chain only:
    `crosscheck.verify_log` also checks the tables the log speaks about)."""
    prev, count = GENESIS, 0
    for row in session.execute(select(AuditEventRow).order_by(AuditEventRow.seq)).scalars():
        problem = _first_problem(row, count + 1, prev)
        if problem is not None:
            return AuditVerification(ok=False, records=count, last_hash=prev,
                                     first_bad_seq=problem[0], problem=problem[1])
        prev, count = row.hash, count + 1
    last_seq, last_hash = head_of(session)
    if last_seq != count or last_hash != prev:
        return AuditVerification(ok=False, records=count, last_hash=prev,
                                 first_bad_seq=count + 1,
                                 problem=f"the log ends at record {count} but {last_seq} "
                                 "were written: records were removed from the end")
    return AuditVerification(ok=True, records=count, last_hash=prev)
