"""Shared steps of the notice tests: fill the register, propose and plan a change."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dpa_engine.audit.chain import GENESIS, canonical_json
from dpa_engine.library import Library
from dpa_engine.models import SubProcessor
from dpa_engine.notices import ChangeSummary, Plan, Proposal, import_deals, plan_change, propose_change
from dpa_engine.storage import Database

from .conftest import EXAMPLES, Clock

ACTOR = "tester@example"


def voicebot(**overrides: Any) -> SubProcessor:
    values: dict[str, Any] = {
        "id": "voicebot", "name": "VoiceBot", "legal_entity": "VoiceBot Inc.", "country": "US",
        "locations": ["US", "IE"],
        "purpose": {"nl": "spraakherkenning", "fr": "reconnaissance vocale",
                    "en": "speech recognition"},
        "services": ["customer-service", "speech-analytics", "reception-desk"],
        "transfer": {"kind": "scc", "scc_module": 3}}
    values.update(overrides)
    return SubProcessor.model_validate(values)


def register(db: Database, library: Library, clock: Clock, *paths: Path) -> None:
    import_deals(db, list(paths) or [EXAMPLES], library, actor=ACTOR, now=clock())


def propose(db: Database, clock: Clock, sub: SubProcessor | None = None, *, action: str = "add",
            target: str | None = None, effective_on: datetime.date = datetime.date(2026, 6, 1)
            ) -> ChangeSummary:
    proposal = Proposal(action=action, subprocessor=sub if action != "remove" else None,  # type: ignore[arg-type]
                        target=target, effective_on=effective_on)
    return propose_change(db, proposal, actor=ACTOR, now=clock())


def proposed_and_planned(db: Database, clock: Clock, sub: SubProcessor | None = None,
                         **kwargs: Any) -> Plan:
    change = propose(db, clock, sub if sub is not None or kwargs.get("action") == "remove"
                     else voicebot(), **kwargs)
    return plan_change(db, change.id, actor=ACTOR, now=clock())


def refuse_updates(db: Database, when: str, message: str = "disk full") -> None:
    """From now on the database refuses (aborts the transaction of) any UPDATE of `outbox`
    whose new row satisfies `when`, an SQL condition on NEW: a database that refuses a commit."""
    with db.engine.begin() as connection:
        if db.dialect == "sqlite":
            connection.execute(text(f"CREATE TRIGGER refuse_outbox BEFORE UPDATE ON outbox "
                                    f"WHEN {when} BEGIN SELECT RAISE(ABORT, '{message}'); END"))
        else:
            connection.execute(text(
                "CREATE FUNCTION refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF {when} THEN RAISE EXCEPTION '{message}'; END IF; RETURN NEW; END $$"))
            connection.execute(text("CREATE TRIGGER refuse_outbox BEFORE UPDATE ON outbox "
                                    "FOR EACH ROW EXECUTE FUNCTION refuse_outbox()"))


def accept_updates(db: Database) -> None:
    with db.engine.begin() as connection:
        if db.dialect == "sqlite":
            connection.execute(text("DROP TRIGGER refuse_outbox"))
        else:
            connection.execute(text("DROP TRIGGER refuse_outbox ON outbox"))
            connection.execute(text("DROP FUNCTION refuse_outbox()"))


def drop_audit_guards(db: Database) -> None:
    with db.transaction() as session:
        if db.dialect == "sqlite":
            session.execute(text("DROP TRIGGER audit_events_no_update"))
            session.execute(text("DROP TRIGGER audit_events_no_delete"))
        else:
            session.execute(text("DROP TRIGGER audit_events_no_change ON audit_events"))


def rewrite_chain_from(db: Database, seq: int) -> None:
    """What an attacker with database access does: edit record `seq`, then recompute every
    later hash and the head, so the unkeyed chain verifies again."""
    with db.transaction() as session:
        session.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :s"),
                        {"s": seq})
        rows = session.execute(text(
            "SELECT seq, recorded_at, actor, event, change_id, customer_key, data "
            "FROM audit_events ORDER BY seq")).all()
        prev = GENESIS
        for row in rows:
            recorded = row.recorded_at
            if isinstance(recorded, str):
                recorded = datetime.datetime.fromisoformat(recorded)
            if recorded.tzinfo is None:
                recorded = recorded.replace(tzinfo=datetime.UTC)
            body = canonical_json({
                "prev": prev, "seq": row.seq, "at": recorded.astimezone(datetime.UTC).isoformat(),
                "actor": row.actor, "event": row.event, "change": row.change_id,
                "customer": row.customer_key, "data": row.data})
            digest = hashlib.sha256(body.encode()).hexdigest()
            session.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h "
                                 "WHERE seq = :s"), {"p": prev, "h": digest, "s": row.seq})
            prev = digest
        session.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})
