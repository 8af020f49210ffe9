"""One writer thread for a burst of small transactions from many threads (the send loop).

A thread calls `write(function)` and blocks until `function(session)` is committed, getting
its result or its error. The writer takes every function queued so far and runs them in one
transaction, each in its own savepoint (one failing does not undo the others), then commits:
the functions queued while that commit is on its way to the disk go into the next one. So N
threads waiting for a commit pay about one disk sync, not N, and nothing waits on purpose.
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
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with self.db.transaction() as session:
                for function, future in batch:
                    try:
                        with session.begin_nested():
                            outcomes.append((future, function(session), None))
                    except Exception as exc:  # this function's error, the others go on
                        outcomes.append((future, None, exc))
        except BaseException as exc:  # the commit failed: nothing of the batch is written
            for _, future in batch:
                future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
