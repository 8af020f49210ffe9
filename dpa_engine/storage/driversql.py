"""Statements for hot loops, run straight on the database driver.

The notice sender records thousands of outcomes, a few rows per commit. Building, compiling
and executing an SQLAlchemy statement costs more per call than SQLite takes to run it, so
these few statements are written once as SQL in the driver's own parameter style and run with
the driver's executemany. Values still go through the columns' own SQLAlchemy types (UTC
datetimes, JSON), so what is stored is identical to what the ORM stores; a JSON value the
caller already encoded (e.g. with pydantic's fast encoder) can be passed as its text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection
from sqlalchemy.engine import Dialect

_NAME = re.compile(r":([a-z_]+)")


class DriverStatement:
    """`sql` names its parameters `:name`; `columns` gives the column whose type converts each
    one (parameters not listed are passed as they are). `json_text`: parameters given as JSON
    text for a JSON column (stored as that text on SQLite, cast to json on PostgreSQL)."""

    def __init__(self, sql: str, columns: Mapping[str, Column[Any]],
                 json_text: Collection[str] = ()) -> None:
        self.sql = sql
        self.columns = dict(columns)
        self.json_text = frozenset(json_text)
        self._prepared: dict[str, tuple[str, dict[str, Callable[[Any], Any]]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, dict[str, Callable[[Any], Any]]]:
        prepared = self._prepared.get(dialect.name)
        if prepared is None:
            if dialect.paramstyle in ("named", "qmark", "numeric"):  # sqlite3 takes :name
                sql = self.sql
            else:  # psycopg: pyformat
                sql = _NAME.sub(lambda name: f"CAST(%({name[1]})s AS JSON)"
                                if name[1] in self.json_text else f"%({name[1]})s",
                                self.sql.replace("%", "%%"))
            converters: dict[str, Callable[[Any], Any]] = {}
            for name, column in self.columns.items():
                processor = column.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    converters[name] = processor
            prepared = (sql, converters)
            self._prepared[dialect.name] = prepared
        return prepared

    def run(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        if not rows:
            return None
        sql, converters = self._for(connection.dialect)
        converted = [{name: (converters[name](value) if name in converters and value is not None
                             else value) for name, value in row.items()} for row in rows]
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if len(converted) == 1:
                cursor.execute(sql, converted[0])
                return cursor.fetchall() if cursor.description else None
            cursor.executemany(sql, converted)
            return None
        finally:
            cursor.close()
