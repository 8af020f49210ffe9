"""One writer thread for a burst of small transactions from many threads (the send loop).

A thread calls `write(function)` and blocks until `function(session)` is committed, getting
its result or its error. The writer takes every function queued so far and runs them in one
transaction, then commits: the functions queued while that commit is on its way to the disk
go into the next one. So N threads waiting for a commit pay about one disk sync, not N, and
nothing waits on purpose. If one function fails, the transaction is rolled back and every
function of it gets that error (none of them was written).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from .database import Database

Result = TypeVar("Result")


class Writer:
    def __init__(self, db: Database, *, name: str = "dpa-writer") -> None:
        self.db = db
        self._queued: list[tuple[Callable[[Session], Any], Future[Any]]] = []
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, function: Callable[[Session], Result]) -> Result:
        """Run `function` in a transaction and return once it is committed."""
        future: Future[Result] = Future()
        with self._changed:
            if self._closing:
                raise RuntimeError("write() on a closed writer")
            self._queued.append((function, future))
            self._changed.notify()
        return future.result()

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queued and not self._closing:
                    self._changed.wait()
                if not self._queued:
                    return
                batch, self._queued = self._queued, []
            self._commit(batch)

    def _commit(self, batch: list[tuple[Callable[[Session], Any], Future[Any]]]) -> None:
        try:
            with self.db.transaction() as session:
                results = [function(session) for function, _ in batch]
        except BaseException as exc:  # nothing of the batch is written
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
