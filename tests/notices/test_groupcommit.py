"""Group commit: every thread's items are written, together when threads arrive together,
and a failed write reaches every thread whose items were in it."""

from __future__ import annotations

import threading
import time

import pytest

from dpa_engine.storage.groupcommit import GroupCommit


class DescribeGroupCommit:
    def it_writes_every_item_once_and_groups_concurrent_callers(self) -> None:
        written: list[list[int]] = []

        def write(items: list[int]) -> None:
            time.sleep(0.01)  # a disk sync: others arrive meanwhile
            written.append(list(items))

        ledger: GroupCommit[int] = GroupCommit(write)

        def worker(offset: int) -> None:
            for index in range(20):
                ledger.commit([offset + index])

        threads = [threading.Thread(target=worker, args=(1000 * n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flat = [item for batch in written for item in batch]
        assert sorted(flat) == sorted(1000 * n + i for n in range(4) for i in range(20))
        assert ledger.items == 80 and ledger.commits == len(written) < 80  # grouped
        for n in range(4):  # each thread's items stay in its order
            mine = [item for item in flat if item // 1000 == n]
            assert mine == sorted(mine)

    def it_hands_a_failed_write_to_each_caller_in_it(self) -> None:
        gate = threading.Event()

        def write(items: list[str]) -> None:
            gate.wait(5)
            if "bad" in items:
                raise OSError("disk full")

        ledger: GroupCommit[str] = GroupCommit(write)
        errors: list[BaseException] = []

        def call(item: str) -> None:
            try:
                ledger.commit([item])
            except OSError as exc:
                errors.append(exc)

        first = threading.Thread(target=call, args=("good",))
        first.start()
        time.sleep(0.05)  # the first write is in progress: the next two are grouped
        later = [threading.Thread(target=call, args=(item,)) for item in ("bad", "other")]
        for thread in later:
            thread.start()
        time.sleep(0.05)
        gate.set()
        for thread in [first, *later]:
            thread.join()
        assert len(errors) == 2 and all("disk full" in str(e) for e in errors)
        with pytest.raises(OSError):
            ledger.commit(["bad"])

    def it_writes_while_the_submitter_goes_on(self) -> None:
        gate = threading.Event()
        written: list[int] = []

        def write(items: list[int]) -> None:
            gate.wait(5)
            written.extend(items)

        ledger: GroupCommit[int] = GroupCommit(write)
        ticket = ledger.submit([1])  # returns at once, though the write cannot finish yet
        assert written == [] and not ticket.done
        gate.set()
        ledger.wait(ticket)
        assert written == [1]
        pending = ledger.submit([2, 3])
        ledger.close()  # what is queued is written before the writer stops
        assert pending.done and written == [1, 2, 3]
        with pytest.raises(RuntimeError, match="closed"):
            ledger.submit([4])


class DescribeCommitDelay:
    """With `delay` and `siblings`, the writer waits for more submissions, like PostgreSQL's
    commit_delay/commit_siblings; it stops waiting as soon as enough arrived or on close."""

    def it_waits_for_siblings_and_writes_them_in_one_transaction(self) -> None:
        written: list[list[str]] = []
        ledger: GroupCommit[str] = GroupCommit(written.append, delay=60, siblings=2)
        first = ledger.submit(["a"])
        # a lone submission is held back (up to a minute) for a sibling ...
        waiter = threading.Thread(target=ledger.wait, args=(first,))
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and written == []
        # ... which arrives: both go in one write, without waiting out the delay
        ledger.commit(["b"])
        waiter.join(30)
        assert not waiter.is_alive()
        assert written == [["a", "b"]]
        ledger.close()

    def it_writes_at_once_when_closed_while_waiting(self) -> None:
        written: list[list[str]] = []
        ledger: GroupCommit[str] = GroupCommit(written.append, delay=60, siblings=4)
        ticket = ledger.submit(["only"])
        closer = threading.Thread(target=ledger.close)
        closer.start()
        closer.join(30)
        assert not closer.is_alive()
        ledger.wait(ticket)
        assert written == [["only"]]

    def it_never_holds_back_a_lone_thread_when_siblings_is_one(self) -> None:
        written: list[list[str]] = []
        ledger: GroupCommit[str] = GroupCommit(written.append, delay=60, siblings=1)
        done = threading.Thread(target=lambda: [ledger.commit([str(i)]) for i in range(3)])
        done.start()
        done.join(30)
        assert not done.is_alive()
        assert written == [["0"], ["1"], ["2"]]
        ledger.close()
