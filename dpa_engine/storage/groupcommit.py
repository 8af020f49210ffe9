"""Group commit: writes that several threads need durable, made durable together.

A thread `submit`s its items and gets a ticket; one writer thread takes every item queued so
far (from all threads) and writes them in one transaction, then the next batch, and so on.
`wait(ticket)` returns once the thread's items are committed (or raises the error that kept
them from it). So N threads that each need a commit cost about one commit, not N; and since
submitting does not block, a thread can do other work (e.g. send the next message's envelope)
while its items are being written, and still know they are durable before it goes on.
`commit(items)` is submit and wait in one.
"""

from __future__ import annotations

import threading
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
    def __init__(self, write: Callable[[list[Item]], None], *, name: str = "group-commit"
                 ) -> None:
        """`write(items)` writes the items in one transaction, in the order given; it runs on
        the group commit's own thread, one call at a time."""
        self._write = write
        self._name = name
        self._condition = threading.Condition()
        self._queued: list[tuple[Sequence[Item], Ticket]] = []
        self._writer: threading.Thread | None = None
        self._closing = False
        self.commits = 0
        self.items = 0

    def submit(self, items: Sequence[Item]) -> Ticket:
        """Queue `items` for the next transaction; does not wait for it."""
        ticket = Ticket()
        with self._condition:
            if self._closing:
                raise RuntimeError("submit() on a closed group commit")
            self._queued.append((items, ticket))
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._writer.start()
            self._condition.notify_all()
        return ticket

    def wait(self, ticket: Ticket) -> None:
        """Return once the ticket's items are committed; raise the write's error if not."""
        with self._condition:
            while not ticket.done:
                self._condition.wait()
        if ticket.error is not None:
            raise ticket.error

    def commit(self, items: Sequence[Item]) -> None:
        self.wait(self.submit(items))

    def close(self) -> None:
        """Write what is still queued, then stop the writer thread."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
            writer = self._writer
        if writer is not None:
            writer.join()

    def __enter__(self) -> GroupCommit[Item]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        with self._condition:
            while True:
                while not self._queued and not self._closing:
                    self._condition.wait()
                if not self._queued:
                    return
                batch, self._queued = self._queued, []
                self._condition.release()
                error: BaseException | None = None
                try:
                    self._write([item for queued, _ in batch for item in queued])
                except BaseException as exc:  # every waiter of this batch gets it
                    error = exc
                finally:
                    self._condition.acquire()
                self.commits += 1
                self.items += sum(len(queued) for queued, _ in batch)
                for _, ticket in batch:
                    ticket.done, ticket.error = True, error
                self._condition.notify_all()
