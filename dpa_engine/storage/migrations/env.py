"""Alembic environment: always run programmatically on a connection the caller opened.

`dpa_engine.storage.database.migrate` builds the Alembic Config in code and passes the
connection in `config.attributes["connection"]`; there is no alembic.ini.
"""

from __future__ import annotations

from alembic import context

from dpa_engine.storage.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running alembic by hand
    raise RuntimeError("run migrations through dpa_engine.storage.database.migrate()")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
