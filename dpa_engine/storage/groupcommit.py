"""Group commit: writes that several threads need durable, made durable together.

A thread calls `commit(items)` and returns only once its items are committed. Whoever finds no
commit in progress becomes the leader: it takes every item queued so far (its own and those
of threads that arrived meanwhile) and writes them in one transaction; the others wait for it.
So N threads that each need a commit cost about one commit, not N, and each thread still
knows its own items are durable before it goes on (or gets the error if they are not).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")


class _Ticket:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[Item]):
    def __init__(self, write: Callable[[list[Item]], None]) -> None:
        """`write(items)` writes the items in one transaction, in the order given."""
        self._write = write
        self._condition = threading.Condition()
        self._queued: list[tuple[Sequence[Item], _Ticket]] = []
        self._leading = False
        self.commits = 0
        self.items = 0

    def commit(self, items: Sequence[Item]) -> None:
        ticket = _Ticket()
        with self._condition:
            self._queued.append((items, ticket))
            while not ticket.done:
                if self._leading:
                    self._condition.wait()
                    continue
                self._leading = True
                batch, self._queued = self._queued, []
                self._condition.release()
                error: BaseException | None = None
                try:
                    self._write([item for queued, _ in batch for item in queued])
                except BaseException as exc:  # every waiter of this batch gets it
                    error = exc
                finally:
                    self._condition.acquire()
                    self._leading = False
                    self.commits += 1
                    self.items += sum(len(queued) for queued, _ in batch)
                    for _, waiting in batch:
                        waiting.done, waiting.error = True, error
                    self._condition.notify_all()
        if ticket.error is not None:
            raise ticket.error
