"""Group commit: single-log writes from many threads share `_bulk_docs` requests.

CouchDB spends most of a single-document PUT on per-request work (HTTP, the
update pipeline, the fsync of a commit), so one `_bulk_docs` of 20 logs costs
little more than one PUT of one. Each `GroupCommit` sends at most `flushers`
requests at a time; logs that arrive while those are in flight wait and go
together in the next one. Nothing waits on purpose: one writer alone gets a
request of one log (the same round trip as a PUT), many writers get batches as
large as their concurrency. Every caller still gets its own log's outcome, and
only after CouchDB acknowledged the request that carried it.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Callable

from loader.couch import DEADLINE, Couch, CouchUnavailable, time_left
from loader.ingest import Outcome, PendingLog, write_logs

DEFAULT_FLUSHERS = 2
MAX_BATCH = 200
GRACE = 1.0  # seconds a caller waits past its own deadline for its request's answer (or its error's cause)


@dataclass
class Queued:
    log: PendingLog
    future: Future
    deadline: float | None  # the caller's (loader.couch.DEADLINE), carried into the request that writes it


class GroupCommit:
    def __init__(self, couch: Couch, *, flushers: int = DEFAULT_FLUSHERS, max_batch: int = MAX_BATCH,
                 observe: Callable[[int], None] = lambda logs: None):
        self.couch = couch
        self.observe = observe  # called with the number of logs of each request
        self.flushers = flushers
        self.max_batch = max_batch
        self.ready = threading.Condition()
        self.queue: list[Queued] = []
        self.threads: list[threading.Thread] = []
        self.pid = None  # the flusher threads belong to one process: started again after a fork
        self.requests = 0
        self.logs = 0

    def write(self, log: PendingLog) -> Outcome:
        """Write one log and return its outcome; a request that fails raises its error here."""
        wait = time_left(self.couch.timeout) + GRACE
        try:
            return self.submit(log).result(timeout=wait)
        except FutureTimeout:
            raise CouchUnavailable(f"CouchDB did not acknowledge the write within {wait:.1f} s") from None

    def submit(self, log: PendingLog) -> Future:
        """Queue one log; the future's result is its Outcome, or the exception its request raised."""
        queued = Queued(log, Future(), DEADLINE.get())
        with self.ready:
            self.start_flushers()
            self.queue.append(queued)
            self.ready.notify()
        return queued.future

    def start_flushers(self) -> None:
        if self.pid == os.getpid():
            return
        self.pid = os.getpid()
        self.threads = [threading.Thread(target=self.flush_forever, name=f"group-commit-{n}", daemon=True)
                        for n in range(self.flushers)]
        for thread in self.threads:
            thread.start()

    def flush_forever(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                batch, self.queue = self.queue[:self.max_batch], self.queue[self.max_batch:]
                self.requests += 1
                self.logs += len(batch)
            self.observe(len(batch))
            self.flush(batch)

    def flush(self, batch: list[Queued]) -> None:
        """One `_bulk_docs` request for the batch, within the latest of its callers' deadlines (a caller
        whose own deadline passes first stops waiting; the others keep theirs)."""
        deadlines = [queued.deadline for queued in batch]
        token = DEADLINE.set(None if None in deadlines else max(deadlines))
        try:
            outcomes: list[Outcome] = write_logs(self.couch, [queued.log for queued in batch])
        except BaseException as exc:  # every waiting caller hears why its write failed
            for queued in batch:
                queued.future.set_exception(exc)
            return
        finally:
            DEADLINE.reset(token)
        for queued, outcome in zip(batch, outcomes):
            queued.future.set_result(outcome)
