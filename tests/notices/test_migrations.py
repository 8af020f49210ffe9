"""The one schema revision (0001) creates exactly the tables the models describe, and
upgrades and downgrades cleanly, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from dpa_engine.storage.database import MIGRATIONS
from dpa_engine.storage.schema import Base


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _columns(connection: Connection) -> dict[str, dict[str, bool]]:
    """Every table (but Alembic's own) with each column's nullability."""
    inspector = inspect(connection)
    return {table: {c["name"]: bool(c["nullable"]) for c in inspector.get_columns(table)}
            for table in inspector.get_table_names() if table != "alembic_version"}


class DescribeTheInitialRevision:
    def it_starts_one_linear_history(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        revisions = list(ScriptDirectory.from_config(config).walk_revisions())
        # the squashed initial revision, then the web app's and the customer side's tables,
        # then withdrawal notices in the outbox, then subscribers told of a withdrawal
        assert [(r.revision, r.down_revision) for r in revisions] == [
            ("s001", "n001"), ("n001", "p001"), ("p001", "w001"), ("w001", "0001"), ("0001", None)]

    def it_creates_the_tables_of_the_models_and_drops_them_again(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            with engine.begin() as connection:
                command.upgrade(_config(connection), "head")
                created = _columns(connection)
            expected = {table.name: {c.name: bool(c.nullable) for c in table.columns}
                        for table in Base.metadata.sorted_tables}
            assert created == expected
            with engine.begin() as connection:
                command.downgrade(_config(connection), "base")
                assert _columns(connection) == {}
            with engine.begin() as connection:  # and up again, from nothing
                command.upgrade(_config(connection), "head")
                assert _columns(connection) == expected
                assert connection.execute(text(
                    "SELECT last_seq FROM audit_head WHERE id = 1")).scalar_one() == 0
        finally:
            engine.dispose()

    def it_makes_the_audit_log_append_only(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            with engine.begin() as connection:
                command.upgrade(_config(connection), "head")
                connection.execute(text(
                    "INSERT INTO audit_events (seq, recorded_at, actor, event, data, prev_hash, "
                    "hash) VALUES (1, '2026-03-25 09:00:00', 'a', 'e', '{}', 'p', 'h')"))
            for statement in ("UPDATE audit_events SET actor = 'b'", "DELETE FROM audit_events"):
                with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
                    connection.execute(text(statement))
        finally:
            engine.dispose()
