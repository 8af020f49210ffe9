"""Who may send: a lease per running sender, recorded in the database itself.

A sender inserts its lease (a random id, host, process id, expiry) and renews it every
RENEW_SECONDS while it lives. Every message it claims carries its id. Another sender takes a
message over only when the claiming sender's lease has expired, or, on the same host (same
name and boot), its process is gone (so a rerun after kill -9 need not wait). Because the lease lives in the
database, every way of naming it (a symlink, a hard link, a relative path, another URL
spelling) sees the same leases. SQLite has one sender at a time: a second is refused while a
live lease exists. PostgreSQL lets several share a change's notices (see outbox.claim).
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update
from sqlalchemy.orm import Session

from ...storage import Database
from ...storage.schema import SendLeaseRow
from ..errors import NoticeError

LEASE_SECONDS = 30.0
RENEW_SECONDS = 5.0
# a sender stops starting messages this long before its lease could have expired unrenewed
MARGIN_SECONDS = 10.0


def database_now(session: Session) -> datetime.datetime:
    """The database's clock (PostgreSQL: the server's, shared by every sender machine)."""
    if session.get_bind().dialect.name == "postgresql":
        moment: datetime.datetime = session.execute(select(func.now())).scalar_one()
        return moment.astimezone(datetime.UTC)
    return datetime.datetime.now(datetime.UTC)


def this_host() -> str:
    """The host name and the kernel's boot id: two machines with the same name, or one
    machine rebooted, are different hosts (a container shares its host's boot id, but not its
    process ids: give containers distinct host names, as container runtimes do)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        boot = "unknown"
    return f"{socket.gethostname()} (boot {boot})"


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, under another user
        return False
    return False


def expire_dead_leases(session: Session) -> None:
    """Delete the leases of senders that are no longer alive: expired, or of a process on this
    host that no longer exists. Their claimed messages can then be taken over."""
    now, host = database_now(session), this_host()
    for lease in session.execute(select(SendLeaseRow).with_for_update()).scalars().all():
        if lease.expires_at <= now or (lease.host == host and _process_gone(lease.pid)):
            session.delete(lease)
    session.flush()


class SenderLease:
    """This process's lease; `exclusive`: refuse to start while another sender lives."""

    def __init__(self, db: Database, *, exclusive: bool) -> None:
        self.db, self.exclusive = db, exclusive
        self.id = uuid.uuid4().hex
        self.valid_until = 0.0  # time.monotonic() after which we may no longer start messages
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        started = time.monotonic()
        with self.db.transaction() as session:
            expire_dead_leases(session)
            other = session.execute(select(SendLeaseRow).order_by(SendLeaseRow.started_at)
                                    ).scalars().first()
            if self.exclusive and other is not None:
                raise NoticeError(
                    f"another 'dpa change send' is running on this database (process {other.pid} "
                    f"on {other.host}, since {other.started_at:%Y-%m-%d %H:%M:%S} UTC)",
                    fix="wait for it to finish, then rerun if it reports deferred notices")
            now = database_now(session)
            session.execute(insert(SendLeaseRow).values(
                sender=self.id, host=this_host(), pid=os.getpid(), started_at=now,
                expires_at=now + datetime.timedelta(seconds=LEASE_SECONDS)))
        self.valid_until = started + LEASE_SECONDS - MARGIN_SECONDS
        self._renewer = threading.Thread(target=self._renew_while_alive,
                                         name="dpa-send-lease", daemon=True)
        self._renewer.start()

    def check(self) -> None:
        """Raise unless this sender may still start a message."""
        if self.lost is None and time.monotonic() > self.valid_until:
            self.lost = "it could not be renewed in time"
        if self.lost is not None:
            raise NoticeError(f"this sender lost its lease on the database ({self.lost})",
                              fix="check that the database is reachable, then rerun dpa change "
                              "send (what was under way is taken over)")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self.db.transaction() as session:
            session.execute(delete(SendLeaseRow).where(SendLeaseRow.sender == self.id))

    def _renew_while_alive(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            started = time.monotonic()
            try:
                with self.db.transaction() as session:
                    now = database_now(session)
                    renewed = cast(CursorResult[Any], session.execute(
                        update(SendLeaseRow).where(SendLeaseRow.sender == self.id)
                        .values(expires_at=now + datetime.timedelta(seconds=LEASE_SECONDS))
                    )).rowcount
            except Exception:  # the database is unreachable for now: `check` stops the sender
                continue  # in time, unless a later renewal succeeds
            if not renewed:
                self.lost = "another sender found it expired and took its messages over"
                return
            self.valid_until = started + LEASE_SECONDS - MARGIN_SECONDS
