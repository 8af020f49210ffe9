"""The one schema revision (0001) creates exactly the tables the models describe, and
upgrades and downgrades cleanly, on SQLite and PostgreSQL; a register made by a pre-release
is refused with the truth (no upgrade path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from dpa_engine.cli.app import app
from dpa_engine.storage import StorageError, open_database
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


def _named(connection: Connection) -> set[str]:
    """The unique constraints and indexes given a name of our own (later revisions may refer
    to them by name)."""
    inspector = inspect(connection)
    return {f"{table}.{item['name']}" for table in inspector.get_table_names()
            for item in [*inspector.get_unique_constraints(table), *inspector.get_indexes(table)]
            if item["name"] and item["name"].startswith(("uq_", "ix_"))}


def _named_in_models() -> set[str]:
    return {f"{table.name}.{item.name}" for table in Base.metadata.sorted_tables
            for item in [*table.constraints, *table.indexes]
            if isinstance(item.name, str) and item.name.startswith(("uq_", "ix_"))}


class DescribeTheInitialRevision:
    def it_starts_one_linear_history(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        revisions = list(ScriptDirectory.from_config(config).walk_revisions())
        # the pre-release revisions were squashed into 0001 for v0.2.0; later ones follow it
        assert [(r.revision, r.down_revision) for r in revisions] == [("0001", None)]

    def it_creates_the_tables_of_the_models_and_drops_them_again(self, db_url: str) -> None:
        engine = create_engine(db_url)
        try:
            with engine.begin() as connection:
                command.upgrade(_config(connection), "head")
                created, named = _columns(connection), _named(connection)
            expected = {table.name: {c.name: bool(c.nullable) for c in table.columns}
                        for table in Base.metadata.sorted_tables}
            assert created == expected
            assert named == _named_in_models()
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


def _stamped(db_url: str, revision: str) -> None:
    """A register whose schema revision says a pre-release of dpa-engine made it."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            command.upgrade(_config(connection), "head")
            connection.execute(text("UPDATE alembic_version SET version_num = :revision"),
                               {"revision": revision})
    finally:
        engine.dispose()


class DescribeARegisterMadeByAPreRelease:
    @pytest.mark.parametrize("revision", ["s001", "0004"])
    def it_says_there_is_no_upgrade_path(self, db_url: str, revision: str) -> None:
        _stamped(db_url, revision)
        with pytest.raises(StorageError) as raised:
            open_database(db_url)
        assert raised.value.what == (f"database schema revision {revision} was made by a "
                                     "pre-release of dpa-engine and has no upgrade path")
        assert raised.value.fix is not None and "dpa customers import" in raised.value.fix

    def it_tells_a_pre_release_0001_by_its_missing_tables(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'dpa.db'}"
        _stamped(url, "0001")
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE subscription_deliveries"))
        engine.dispose()
        with pytest.raises(StorageError, match="revision 0001 was made by a pre-release"):
            open_database(url)

    def it_prints_one_line_and_exits_2(self, tmp_path: Path) -> None:
        path = tmp_path / "dpa.db"
        _stamped(f"sqlite:///{path}", "w001")
        result = CliRunner().invoke(app, ["audit", "verify", "--db", str(path)])
        assert result.exit_code == 2
        [line] = result.output.strip().splitlines()
        assert "revision w001 was made by a pre-release" in line
        assert "dpa customers import" in line

    def it_still_calls_an_unknown_revision_newer(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'dpa.db'}"
        _stamped(url, "z999")
        with pytest.raises(StorageError, match="revision z999 is newer than this dpa-engine"):
            open_database(url)
