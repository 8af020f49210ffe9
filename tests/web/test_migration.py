"""Revision w001 adds the web app's tables and takes them away again."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from dpa_engine.storage import Database

MIGRATIONS = Path(__file__).resolve().parents[2] / "dpa_engine" / "storage" / "migrations"
WEB_TABLES = {"web_users", "web_sessions", "web_agreements"}


def _downgrade(db: Database, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_w001_upgrades_and_downgrades(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'dpa.db'}")
    db.migrate()
    assert set(inspect(db.engine).get_table_names()) >= WEB_TABLES
    _downgrade(db, "0001")
    assert not WEB_TABLES & set(inspect(db.engine).get_table_names())
    db.migrate()
    assert set(inspect(db.engine).get_table_names()) >= WEB_TABLES
    db.dispose()
