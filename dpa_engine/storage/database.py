"""Opening the register database: URL resolution, engine, transactions, migrations.

SQLite (a file, by default `.dpa/dpa.db` in the current folder) needs no server;
PostgreSQL is used through a URL (`DPA_DATABASE_URL` or `--db`). Alembic migrations ship
inside the package and are applied on first use; there is no alembic.ini.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import DpaError

DATABASE_ENV = "DPA_DATABASE_URL"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class StorageError(DpaError):
    """The register database cannot be opened, migrated or written."""


# Revisions of pre-releases, squashed into 0001 for v0.2.0: no upgrade path is kept from them
# (so later revisions must not reuse these ids). A pre-release 0001 lacks the tables added
# after it (subscription_deliveries is the last).
PRE_RELEASE_REVISIONS = frozenset({"0002", "0003", "0004", "w001", "p001", "n001", "s001"})
PRE_RELEASE_FIX = ("keep that database as it is (its audit log is evidence) and start a new "
                   "register in a new SQLite file or an empty PostgreSQL database with "
                   "'dpa customers import'")


DEFAULT_FOLDER = ".dpa"


def default_database_file() -> Path:
    """.dpa/dpa.db in the current folder (the folder is created)."""
    folder = Path.cwd() / DEFAULT_FOLDER
    folder.mkdir(exist_ok=True)
    return folder / "dpa.db"


def resolve_url(option: str | None = None) -> str:
    """`--db` (a URL or a SQLite file path), else $DPA_DATABASE_URL, else .dpa/dpa.db."""
    raw = option or os.environ.get(DATABASE_ENV) or str(default_database_file())
    if "://" not in raw:
        return f"sqlite:///{raw}"
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):  # psycopg 3 is the driver we ship
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


SQLITE_HEADER = b"SQLite format 3\x00"


def database_file(option: str | None) -> Path | None:
    """The SQLite file `--db`/$DPA_DATABASE_URL names, or None (PostgreSQL, in memory)."""
    url = resolve_url(option)
    if not url.startswith("sqlite:///"):
        return None
    name = url.removeprefix("sqlite:///").split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


def check_database(option: str | None, *, create: bool = False) -> None:
    """Refuse a SQLite register that does not exist (a typo in --db must not start a new,
    empty register: only `customers import` creates one) or a file that is not SQLite."""
    path = database_file(option)
    if path is None:
        return
    where = "--db" if option else ("$DPA_DATABASE_URL" if os.environ.get("DPA_DATABASE_URL")
                                   else "the default database .dpa/dpa.db")
    try:
        info = path.stat()
    except FileNotFoundError:
        if create:
            return
        raise StorageError("no register database here", path=path, field=where,
                       fix="check the name (a typo creates nothing); 'dpa customers import' "
                           "creates the register") from None
    except OSError as exc:
        raise StorageError(f"cannot open the database ({exc.strerror})", path=path, field=where,
                       fix="give the path of the register's SQLite file") from None
    if not stat.S_ISREG(info.st_mode):
        raise StorageError("this is not a database file", path=path, field=where,
                       fix="give the path of the register's SQLite file")
    if info.st_size == 0:
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StorageError(f"cannot open the database ({exc.strerror})", path=path, field=where,
                       fix="check the file's permissions") from None
    if header != SQLITE_HEADER:
        raise StorageError("this file is not a SQLite database", path=path, field=where,
                       fix="give the path of the register's SQLite file, or a PostgreSQL URL")


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


class Database:
    """An engine plus short transactions; every write happens inside `transaction()`."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StorageError(f"'{url}' is not a database URL", field="--db / DPA_DATABASE_URL",
                               fix="use sqlite:///path/to/dpa.db or postgresql://user@host/db"
                               ) from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise StorageError(f"database '{self.dialect}' is not supported",
                               field="--db / DPA_DATABASE_URL",
                               fix="use a sqlite:/// or postgresql:// URL")
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not Path(database).parent.exists():
                raise StorageError("the folder of the SQLite file does not exist",
                                   path=database, fix="create the folder or give another --db")
            kwargs["connect_args"] = {"timeout": 30}
        else:
            if parsed.get_driver_name() == "psycopg" and importlib.util.find_spec("psycopg") is None:
                raise StorageError("PostgreSQL needs the psycopg driver, which is not installed",
                                   field="--db / DPA_DATABASE_URL",
                                   fix="pip install 'dpa-engine[postgres]'")
            kwargs["connect_args"] = {"connect_timeout": 10}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _serialise_sqlite_writers(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time: the threads of this process take turns here rather
        # than in SQLite's busy handler, which sleeps in steps of up to 100 ms
        self._turn = threading.RLock() if self.dialect == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One atomic unit of work: committed on success, rolled back on any error."""
        with self._sqlite_turn():
            session = self._sessions()
            try:
                with session.begin():
                    yield session
            except OperationalError as exc:
                raise self._unreachable(exc) from None
            finally:
                session.close()

    @contextmanager
    def _sqlite_turn(self) -> Iterator[None]:
        if self._turn is None:
            yield
            return
        with self._turn:
            yield

    def _unreachable(self, exc: SQLAlchemyError) -> StorageError:
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return StorageError(f"database {_display(self.url)} is not usable ({detail})",
                            fix="check DPA_DATABASE_URL / --db, that the server runs and that "
                            "you may write to it")

    def migrate(self) -> None:
        """Bring the schema to the newest revision shipped with this package."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        script = ScriptDirectory.from_config(config)
        try:
            with self.engine.connect() as connection, _foreign_keys_off(connection), \
                    connection.begin():
                if self.dialect == "postgresql":  # two first runs at once must not race
                    connection.execute(text("SELECT pg_advisory_xact_lock(28032028)"))
                current = set(MigrationContext.configure(connection).get_current_heads())
                _refuse_pre_release(connection, current)
                heads = set(script.get_heads())
                if current == heads:
                    return
                unknown = current - {s.revision for s in script.walk_revisions()}
                if unknown:
                    raise StorageError(
                        f"database schema revision {', '.join(sorted(unknown))} is newer than "
                        "this dpa-engine", fix="upgrade dpa-engine before using this database")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except OperationalError as exc:
            raise self._unreachable(exc) from None

    def dispose(self) -> None:
        self.engine.dispose()


def _refuse_pre_release(connection: Connection, current: set[str]) -> None:
    """A register made by a pre-release of dpa-engine cannot be upgraded: say so."""
    old = sorted(current & PRE_RELEASE_REVISIONS)
    if not old and current == {"0001"} and not inspect(connection).has_table(
            "subscription_deliveries"):
        old = ["0001"]
    if old:
        raise StorageError(f"database schema revision {', '.join(old)} was made by a "
                           "pre-release of dpa-engine and has no upgrade path",
                           fix=PRE_RELEASE_FIX)


@contextmanager
def _foreign_keys_off(connection: Any) -> Iterator[None]:
    """SQLite: a migration may rebuild a table other tables refer to (SQLite cannot alter a
    constraint in place), which it can do only with foreign keys off; set outside a
    transaction, and checked before they are on again."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        if raw.execute("PRAGMA foreign_key_check").fetchall():  # pragma: no cover - a bug
            raise StorageError("a schema migration left rows that refer to missing rows",
                               fix="report this as a bug, with the database")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _serialise_sqlite_writers(engine: Engine) -> None:
    """SQLite: take the write lock at BEGIN, so two processes never deadlock on upgrade.

    The journal is a write-ahead log (WAL): a commit appends the changed pages to `dpa.db-wal`
    and syncs that one file (synchronous=FULL, so a committed transaction survives a crash or
    power loss) instead of writing and deleting a rollback journal. The sender commits twice
    per notice, so this roughly doubles the send rate. A file database keeps `-wal` and `-shm`
    files next to it while open; it must be on a local file system.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # ':memory:' silently stays 'memory'
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


_opened: dict[str, Database] = {}


def open_database(option: str | None = None) -> Database:
    """The database for `--db`/$DPA_DATABASE_URL, migrated to the newest schema (once per process)."""
    url = resolve_url(option)
    database = _opened.get(url)
    if database is None:
        database = Database(url)
        try:
            database.migrate()
        except StorageError:
            database.dispose()  # no pooled connection left behind for a refused database
            raise
        _opened[url] = database
    return database


def close_databases() -> None:
    """Dispose of every engine `open_database` opened (tests, long-running hosts)."""
    while _opened:
        _, database = _opened.popitem()
        database.dispose()
