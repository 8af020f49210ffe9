"""Planning runs the same few queries for 2 customers or 12 (no query per customer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from dpa_engine.library import Library
from dpa_engine.notices import list_customers, plan_change
from dpa_engine.storage import Database

from .conftest import Clock, write_deal
from .helpers import ACTOR, propose, register, voicebot


class Statements:
    """Counts the SQL statements the database runs inside a `with` block."""

    def __init__(self, db: Database) -> None:
        self.db, self.count = db, 0

    def _count(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        event.listen(self.db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.db.engine, "before_cursor_execute", self._count)


def plan_statements(db: Database, clock: Clock, sub_id: str, customers: int) -> int:
    change = propose(db, clock, voicebot(id=sub_id, name=sub_id.title()))
    with Statements(db) as statements:
        plan = plan_change(db, change.id, actor=ACTOR, now=clock())
    assert len(plan.affected) == customers
    return statements.count


class DescribeScaling:
    def it_plans_with_the_same_queries_for_few_or_many_customers(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        languages = ("nl", "fr", "en")
        register(db, library, clock, *(write_deal(tmp_path, i, language=languages[i % 3])
                                       for i in range(2)))
        few = plan_statements(db, clock, "voicebot", 2)
        register(db, library, clock, *(write_deal(tmp_path, i, language=languages[i % 3])
                                       for i in range(2, 12)))
        many = plan_statements(db, clock, "speakbot", 12)
        assert many == few

    def it_lists_customers_with_the_same_queries_for_few_or_many(
            self, db: Database, library: Library, clock: Clock, tmp_path: Path) -> None:
        register(db, library, clock, write_deal(tmp_path, 0), write_deal(tmp_path, 1))
        with Statements(db) as few:
            assert len(list_customers(db)) == 2
        register(db, library, clock, *(write_deal(tmp_path, i) for i in range(2, 12)))
        with Statements(db) as many:
            assert len(list_customers(db)) == 12
        assert many.count == few.count
