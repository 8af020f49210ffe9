"""Shared steps of the notice tests: fill the register, propose and plan a change."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

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
