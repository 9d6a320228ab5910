"""The worker that keeps a derived database fresh (loader/derived/derived.py): it follows the log database's
`_changes` feed.

From the checkpoint in the derived database (`_local/couchrec-worker`; none yet
means a full rebuild first), it long-polls for the documents that feed it
(filtered server-side with `_selector`: orders for the neighbour lists, page
views for the page-time summaries), brings the documents of every key they touch
up to date in one batch (`Derivation.update`: the lists merge the new orders'
pairs into the stored lists; the summaries recompute their days from the views),
writes them, and only then stores the feed's `last_seq`: a crash anywhere replays
the batch, which is harmless. Sequences are opaque and passed back as given,
never compared. On PouchDB Server (no `_selector` filter for `_changes`, no
long-poll timeout) the feed is polled unfiltered and the derivation picks its
documents out.

On a cluster, a view read right after a change is seen can miss it (quorum
writes, one copy read per shard range), so each batch's keys are recomputed
once more after `settle` seconds, and the checkpoint passes a batch only when
that second pass is done.

A journaled derivation (counted neighbour lists: a batch adds to the stored
documents, so it must be added once) first writes the batch into the
checkpoint (its id, where it ends, its documents' ids), then the documents,
each marked with the batch's id, then the checkpoint past it. A worker that
finds a journaled batch replays exactly it; documents that carry its id have it
already. A rebuild resets such a checkpoint: the worker's next write of it fails
and it starts again from the rebuild's place; while a rebuild is unfinished the
worker waits.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from loader.couchdb.couch import Couch, CouchError, CouchUnavailable
from loader.derived.derived import (REBUILD_ID, BatchPlace, Derivation, default_settle, note_workers, read_checkpoint,
                                   rebuild, write_checkpoint)

LONGPOLL_MS = 10_000
POLL_MS = 500  # where the feed cannot be long-polled (PouchDB Server)
BATCH = 2000  # most changes a batch takes: a worker keeping up takes what has come, one behind takes this many,
# each popular item's list read and written once for them (at a million orders 4.2 lists an order against
# 5.5 in batches of 500: bench/worker_reads.py)
MAX_BACKOFF = 30.0


def read_changes(couch: Couch, since, *, selector: dict, limit: int, wait_ms: int, couchdb: bool) -> dict:
    """The changes after `since`, with their documents. On CouchDB: only those `selector` picks (the
    `_selector` filter), long-polled for up to `wait_ms`. PouchDB Server answers that filter with a
    404 and a dropped connection, and holds an empty long-poll past its `timeout`, so there: one
    unfiltered read, and the caller picks its documents out and polls again after a pause."""
    params = {"since": since, "limit": limit, "include_docs": "true"}
    if not couchdb:
        return couch.db_request("GET", "_changes", params=params).json()
    return couch.db_request("POST", "_changes", params={**params, "feed": "longpoll", "timeout": wait_ms,
                                                        "filter": "_selector"},
                            json={"selector": selector}, timeout=couch.timeout + wait_ms / 1000).json()


@dataclass
class Batch:
    items: set[str]
    due: float  # when to recompute the items again
    next_since: object  # the feed's last_seq after this batch: the checkpoint once it is settled


@dataclass
class Follower:
    """State of one worker between polls (the checkpoint itself lives in the derived database)."""

    derivation: Derivation
    batch: int = BATCH
    settle: float = 0.0
    wait_ms: int = LONGPOLL_MS
    say: Callable[[str], None] = lambda line: None
    checkpoint: dict | None = None
    settling: deque = field(default_factory=deque)
    changes_seen: int = 0
    docs_written: int = 0
    batches: int = 0
    seconds: dict = field(default_factory=lambda: {"feed": 0.0, "views": 0.0, "writes": 0.0})  # where the time goes

    def __post_init__(self):
        self.couch = self.derivation.couch
        self.target = self.derivation.target
        self.couchdb = self.couch.is_couchdb()
        if self.derivation.journaled:
            self.settle = 0.0  # counted from the changes themselves: nothing to read again

    def start(self) -> None:
        """Read the checkpoint; with none (or, journaled, one no rebuild wrote), rebuild first."""
        self.target.ensure_db()
        note_workers(self.target, self.derivation.workers)
        self.checkpoint = read_checkpoint(self.target, self.derivation.part)
        journaled = self.derivation.journaled
        counted = journaled and self.checkpoint is not None and "epoch" in self.checkpoint
        unfinished = self.target.get_doc(REBUILD_ID + self.derivation.part) if counted else None
        if unfinished is not None and unfinished.get("epoch") == self.checkpoint["epoch"]:
            self.target.delete_doc(unfinished["_id"], unfinished["_rev"])  # it had written the checkpoint: done
        elif unfinished is not None:
            self.checkpoint = None
            raise CouchError(503, "rebuilding", f"a rebuild of the {self.derivation.name} is unfinished: waiting "
                                                f"for it (`couchrec neighbours rebuild` finishes one that stopped)")
        if self.checkpoint is None or (journaled and not counted):
            self.say(f"no {self.derivation.name} yet" if self.checkpoint is None else
                     f"{self.derivation.name} kept without counts (an older couchrec, or a cluster's worker)")
            self.say(f"rebuilding the {self.derivation.name}")
            done = rebuild(self.derivation, settle=self.settle)
            self.say(f"rebuilt {done.items} {self.derivation.name} in {done.seconds:.1f} s")
            self.checkpoint = read_checkpoint(self.target, self.derivation.part)
            self.settling.clear()

    def step(self) -> int:
        """Take one batch of changes (waiting up to wait_ms for one); return how many it held."""
        if self.checkpoint is None:
            self.start()
        if self.derivation.journaled:
            return self.counted_step()
        since = self.settling[-1].next_since if self.settling else self.checkpoint["seq"]
        wait = self.wait_ms if not self.settling else max(0, int((self.settling[0].due - time.monotonic()) * 1000))
        started = time.monotonic()
        body = read_changes(self.couch, since, selector=self.derivation.selector, limit=self.batch, wait_ms=wait,
                            couchdb=self.couchdb)
        self.seconds["feed"] += time.monotonic() - started
        if not body["results"] and not self.couchdb:
            time.sleep(min(wait, POLL_MS) / 1000)
        touches = [(doc, self.derivation.touched(doc)) for doc in (change.get("doc") for change in body["results"])]
        feeding = [doc for doc, keys in touches if keys]
        items = {key for _, keys in touches for key in keys}
        if items:
            self.bring_up_to_date(lambda: self.derivation.update(feeding, None))
        self.changes_seen += len(body["results"])
        if self.settle and items:
            self.settling.append(Batch(items, time.monotonic() + self.settle, body["last_seq"]))
        elif not self.settling and body["results"]:
            self.save(body["last_seq"])
        elif self.settling and not items and body["results"]:
            self.settling[-1].next_since = body["last_seq"]
        self.settle_due()
        return len(body["results"])

    def counted_step(self) -> int:
        """step() for a journaled derivation: the journaled batch if there is one, else the next one journaled,
        then its documents, then the checkpoint past it."""
        started = time.monotonic()
        journal = self.checkpoint.get("batch")
        if journal:
            by_id = self.couch.get_docs(journal["ids"])
            feeding = [by_id[doc_id] for doc_id in journal["ids"] if doc_id in by_id]
            through, seen = journal["through"], len(journal["ids"])
        else:
            body = read_changes(self.couch, self.checkpoint["seq"], selector=self.derivation.selector,
                                limit=self.batch, wait_ms=self.wait_ms, couchdb=self.couchdb)
            if not body["results"]:
                self.seconds["feed"] += time.monotonic() - started
                if not self.couchdb:
                    time.sleep(POLL_MS / 1000)
                return 0
            feeding = [doc for doc in (change.get("doc") for change in body["results"]) if self.derivation.touched(doc)]
            through, seen = body["last_seq"], len(body["results"])
            if feeding:
                journal = {"id": uuid.uuid4().hex, "through": through, "ids": [doc["_id"] for doc in feeding]}
                self.checkpoint = write_checkpoint(self.target, self.checkpoint["seq"], self.checkpoint,
                                                   self.derivation.part, **self.carried([]), batch=journal)
        self.seconds["feed"] += time.monotonic() - started
        if feeding:
            place = BatchPlace(through, journal["id"], self.checkpoint)
            self.bring_up_to_date(lambda: self.derivation.update(feeding, place))
        self.changes_seen += seen
        self.save(through, **self.carried(feeding))
        return seen

    def carried(self, docs: list[dict]) -> dict:
        return self.derivation.carried(self.checkpoint, docs)

    def settle_due(self) -> None:
        """Recompute the batches whose settle time has passed; advance the checkpoint past them."""
        while self.settling and self.settling[0].due <= time.monotonic():
            batch = self.settling.popleft()
            self.bring_up_to_date(lambda: self.derivation.compute(batch.items))
            self.save(batch.next_since)

    def bring_up_to_date(self, compute: Callable[[], list[dict]]) -> None:
        """Compute documents (from the changes, or from the views on a settle pass) and write them."""
        started = time.monotonic()
        docs = compute()
        computed = time.monotonic()
        self.docs_written += self.derivation.write(docs)
        self.seconds["views"] += computed - started
        self.seconds["writes"] += time.monotonic() - computed
        self.batches += 1

    def save(self, seq, **fields) -> None:
        self.checkpoint = write_checkpoint(self.target, seq, self.checkpoint, self.derivation.part, **fields)

    def catch_up(self) -> None:
        """Process every change already in the feed, settle included, then return (for tests and benchmarks)."""
        while self.step() or self.settling:
            if self.settling:
                time.sleep(max(0.0, self.settling[0].due - time.monotonic()))


def follow(derivation: Derivation, *, batch: int = BATCH, settle: float | None = None,
           stop: Callable[[], bool] = lambda: False, say: Callable[[str], None] = print) -> Follower:
    """Keep a derived database fresh until `stop()`; database errors are reported and retried with backoff."""
    follower = None
    backoff = 1.0
    while not stop():
        try:
            if follower is None:
                settle_for = settle if settle is not None else default_settle(derivation.couch)
                follower = Follower(derivation, batch=batch, settle=settle_for, say=say)
                say(f"following {derivation.couch.db} for its {derivation.name} (batch {batch}, "
                    f"settle {settle_for:g} s)")
            follower.step()
            backoff = 1.0
        except (CouchUnavailable, CouchError) as exc:
            say(f"{exc}; retrying in {backoff:g} s")
            if follower is not None:
                follower.checkpoint = None  # re-read it: the derived database may have been dropped
                follower.settling.clear()  # those batches are replayed from the stored checkpoint
            time.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)
    return follower
