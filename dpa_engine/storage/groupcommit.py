"""Group commit: writes that several threads need durable, made durable together.

A thread `submit`s its items and gets a ticket; one writer thread takes every item queued so
far (from all threads) and writes them in one transaction, then the next batch, and so on.
`wait(ticket)` returns once the thread's items are committed (or raises the error that kept
them from it). So N threads that each need a commit cost about one commit, not N; and since
submitting does not block, a thread can do other work (e.g. send the next message's envelope)
while its items are being written, and still know they are durable before it goes on.
`commit(items)` is submit and wait in one.

Like PostgreSQL's commit_delay/commit_siblings, the writer may wait a moment (`delay`) for
more submissions when fewer than `siblings` are queued: a busy sender whose threads commit
out of step then pays for one commit per few messages instead of one per message (each
commit is a disk sync plus a transaction's fixed cost), while a lone thread never waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Ticket:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[Item]):
    def __init__(self, write: Callable[[list[Item]], None], *, name: str = "group-commit",
                 delay: float = 0.0, siblings: int = 1,
                 on_commit: Callable[[], None] | None = None) -> None:
        """`write(items)` writes the items in one transaction, in the order given; it runs on
        the group commit's own thread, one call at a time. With fewer than `siblings`
        submissions queued, the writer waits up to `delay` seconds for more before writing.
        `on_commit()` runs on the writer thread after each transaction (committed or failed)
        once its tickets are done, e.g. to wake an event loop that polls `Ticket.done`."""
        self._write = write
        self._on_commit = on_commit
        self._name = name
        self._delay, self._siblings = delay, siblings
        # one lock, two conditions: submitting wakes only the writer, a commit only the waiters
        lock = threading.Lock()
        self._queue_changed = threading.Condition(lock)
        self._committed = threading.Condition(lock)
        self._queued: list[tuple[Sequence[Item], Ticket]] = []
        self._writer: threading.Thread | None = None
        self._closing = False
        self._hurried = False
        self.commits = 0
        self.items = 0

    def submit(self, items: Sequence[Item]) -> Ticket:
        """Queue `items` for the next transaction; does not wait for it."""
        ticket = Ticket()
        with self._queue_changed:
            if self._closing:
                raise RuntimeError("submit() on a closed group commit")
            self._queued.append((items, ticket))
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._writer.start()
            self._queue_changed.notify()
        return ticket

    def wait(self, ticket: Ticket) -> None:
        """Return once the ticket's items are committed; raise the write's error if not."""
        with self._committed:
            while not ticket.done:
                self._committed.wait()
        if ticket.error is not None:
            raise ticket.error

    def hurry(self) -> None:
        """Someone waits for what is queued: write it now instead of gathering more."""
        with self._queue_changed:
            if self._queued and not self._hurried:
                self._hurried = True
                self._queue_changed.notify()

    def commit(self, items: Sequence[Item]) -> None:
        self.wait(self.submit(items))

    def close(self) -> None:
        """Write what is still queued, then stop the writer thread."""
        with self._queue_changed:
            self._closing = True
            self._queue_changed.notify()
            writer = self._writer
        if writer is not None:
            writer.join()

    def __enter__(self) -> GroupCommit[Item]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        with self._queue_changed:
            while True:
                while not self._queued and not self._closing:
                    self._queue_changed.wait()
                if not self._queued:
                    return
                self._gather()
                batch, self._queued, self._hurried = self._queued, [], False
                self._queue_changed.release()
                error: BaseException | None = None
                try:
                    self._write([item for queued, _ in batch for item in queued])
                except BaseException as exc:  # every waiter of this batch gets it
                    error = exc
                finally:
                    self._queue_changed.acquire()
                self.commits += 1
                self.items += sum(len(queued) for queued, _ in batch)
                for _, ticket in batch:
                    ticket.done, ticket.error = True, error
                self._committed.notify_all()
                if self._on_commit is not None:
                    self._on_commit()

    def _gather(self) -> None:
        """Wait up to `delay` for `siblings` submissions, or until `hurry` (waiting on the
        condition releases its lock, so they can be queued meanwhile)."""
        if self._delay <= 0 or len(self._queued) >= self._siblings or self._hurried:
            return
        until = time.monotonic() + self._delay
        while len(self._queued) < self._siblings and not self._closing and not self._hurried:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._queue_changed.wait(left)
