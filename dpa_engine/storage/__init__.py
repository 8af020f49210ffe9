"""Storage of the notice workflow: SQLAlchemy 2 models and Alembic migrations.

SQLite by default (`.dpa/dpa.db`), PostgreSQL via `DPA_DATABASE_URL` / `--db`.
"""

from .database import (
    DATABASE_ENV,
    Database,
    StorageError,
    close_databases,
    open_database,
    resolve_url,
)

__all__ = ["DATABASE_ENV", "Database", "StorageError", "close_databases",
           "open_database",
           "resolve_url"]
