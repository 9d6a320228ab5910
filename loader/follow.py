"""The worker that keeps neighbour lists fresh: it follows the log database's `_changes` feed.

From the checkpoint in the lists database (`_local/couchrec-worker`; none yet
means a full rebuild first), it long-polls for orders (filtered server-side
with `_selector`), recomputes the lists of every item in them from the views in
one batch, writes them, and only then stores the feed's `last_seq`: a crash
anywhere replays the batch, which is harmless. Sequences are opaque and passed
back as given, never compared. On PouchDB Server (no `_selector` filter for
`_changes`, no long-poll timeout) the feed is polled unfiltered and orders are
picked out here.

On a cluster, a view read right after a change is seen can miss it (quorum
writes, one copy read per shard range), so each batch's items are recomputed
once more after `settle` seconds, and the checkpoint passes a batch only when
that second pass is done.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from loader.couch import Couch, CouchError, CouchUnavailable
from loader.neighbours import (DEFAULT_K, compute_lists, default_settle, lists_db, read_checkpoint, rebuild,
                               write_checkpoint, write_lists)

ORDER_TYPES = ("checkout", "purchase")
ORDER_SELECTOR = {"log_type": {"$in": list(ORDER_TYPES)}}
LONGPOLL_MS = 10_000
POLL_MS = 500  # where the feed cannot be long-polled (PouchDB Server)
MAX_BACKOFF = 30.0


def order_items(doc: dict | None) -> list[str]:
    """The distinct item ids of an order document (as designdocs/_lib/order_items.js reads them)."""
    if not doc or doc.get("log_type") not in ORDER_TYPES:
        return []
    lines = [doc.get("item_id")] if doc["log_type"] == "purchase" else doc.get("items") or []
    ids = [line.get("item_id") if isinstance(line, dict) else line for line in lines]
    return list(dict.fromkeys(item for item in ids if isinstance(item, str)))


def read_changes(couch: Couch, since, *, limit: int, wait_ms: int, couchdb: bool) -> dict:
    """The changes after `since`, with their documents. On CouchDB: only orders (the `_selector` filter),
    long-polled for up to `wait_ms`. PouchDB Server answers that filter with a 404 and a dropped
    connection, and holds an empty long-poll past its `timeout`, so there: one unfiltered read, and
    the caller polls again after a pause."""
    params = {"since": since, "limit": limit, "include_docs": "true"}
    if not couchdb:
        return couch.db_request("GET", "_changes", params=params).json()
    return couch.db_request("POST", "_changes", params={**params, "feed": "longpoll", "timeout": wait_ms,
                                                        "filter": "_selector"},
                            json={"selector": ORDER_SELECTOR}, timeout=couch.timeout + wait_ms / 1000).json()


def pending_changes(couch: Couch) -> dict:
    """How far behind the lists are: changes to the log database after the worker's checkpoint.

    Counts every change (orders and other logs), so it is an upper bound on the orders not yet
    reflected; `checkpoint_age_s` is how long ago the worker last advanced its checkpoint."""
    checkpoint = read_checkpoint(lists_db(couch)) if db_exists(lists_db(couch)) else None
    if checkpoint is None:
        return {"lists": "absent", "pending_changes": None, "checkpoint_age_s": None}
    body = couch.db_request("GET", "_changes", params={"since": checkpoint["seq"], "limit": 1}).json()
    if "pending" in body:
        pending = body["pending"] + len(body["results"])
    else:  # PouchDB Server sends no `pending`: count the rest of the feed
        pending = len(couch.db_request("GET", "_changes", params={"since": checkpoint["seq"]}).json()["results"])
    return {"lists": "present", "pending_changes": pending,
            "checkpoint_age_s": round(max(0.0, time.time() - checkpoint["written_at"]), 1)}


def db_exists(couch: Couch) -> bool:
    return couch.db_request("HEAD", ok=(200, 404)).status_code == 200


@dataclass
class Batch:
    items: set[str]
    due: float  # when to recompute the items again
    next_since: object  # the feed's last_seq after this batch: the checkpoint once it is settled


@dataclass
class Follower:
    """State of one worker between polls (the checkpoint itself lives in the database)."""

    couch: Couch
    k: int = DEFAULT_K
    batch: int = 500
    settle: float = 0.0
    wait_ms: int = LONGPOLL_MS
    say: Callable[[str], None] = lambda line: None
    checkpoint: dict | None = None
    settling: deque = field(default_factory=deque)
    orders_seen: int = 0
    lists_written: int = 0
    batches: int = 0
    seconds: dict = field(default_factory=lambda: {"feed": 0.0, "views": 0.0, "writes": 0.0})  # where the time goes

    def __post_init__(self):
        self.target = lists_db(self.couch)
        self.couchdb = self.couch.server_info().vendor == "couchdb"

    def step(self) -> int:
        """Take one batch of orders (waiting up to wait_ms for one); return how many orders it held."""
        if self.checkpoint is None:
            self.checkpoint = read_checkpoint(self.target) if db_exists(self.target) else None
            if self.checkpoint is None:
                self.say("no lists yet: rebuilding every item's list")
                done = rebuild(self.couch, k=self.k, settle=self.settle)
                self.say(f"rebuilt {done.items} lists in {done.seconds:.1f} s")
                self.checkpoint = read_checkpoint(self.target)
                self.settling.clear()
        since = self.settling[-1].next_since if self.settling else self.checkpoint["seq"]
        wait = self.wait_ms if not self.settling else max(0, int((self.settling[0].due - time.monotonic()) * 1000))
        started = time.monotonic()
        body = read_changes(self.couch, since, limit=self.batch, wait_ms=wait, couchdb=self.couchdb)
        self.seconds["feed"] += time.monotonic() - started
        if not body["results"] and not self.couchdb:
            time.sleep(min(wait, POLL_MS) / 1000)
        items = {item for change in body["results"] for item in order_items(change.get("doc"))}
        if items:
            self.recompute(items)
        self.orders_seen += len(body["results"])
        if self.settle and items:
            self.settling.append(Batch(items, time.monotonic() + self.settle, body["last_seq"]))
        elif not self.settling and body["results"]:
            self.save(body["last_seq"])
        elif self.settling and not items and body["results"]:
            self.settling[-1].next_since = body["last_seq"]
        self.settle_due()
        return len(body["results"])

    def settle_due(self) -> None:
        """Recompute the batches whose settle time has passed; advance the checkpoint past them."""
        while self.settling and self.settling[0].due <= time.monotonic():
            batch = self.settling.popleft()
            self.recompute(batch.items)
            self.save(batch.next_since)

    def recompute(self, items: set[str]) -> None:
        """Recompute the lists of `items` from the views and write them."""
        started = time.monotonic()
        lists = compute_lists(self.couch, items, k=self.k)
        computed = time.monotonic()
        self.lists_written += write_lists(self.target, lists, lambda some: compute_lists(self.couch, some, k=self.k))
        self.seconds["views"] += computed - started
        self.seconds["writes"] += time.monotonic() - computed
        self.batches += 1

    def save(self, seq) -> None:
        self.checkpoint = write_checkpoint(self.target, seq, self.checkpoint)

    def catch_up(self) -> None:
        """Process every order already in the feed, settle included, then return (for tests and benchmarks)."""
        while self.step() or self.settling:
            if self.settling:
                time.sleep(max(0.0, self.settling[0].due - time.monotonic()))


def follow(couch: Couch, *, k: int = DEFAULT_K, batch: int = 500, settle: float | None = None,
           stop: Callable[[], bool] = lambda: False, say: Callable[[str], None] = print) -> Follower:
    """Keep the lists fresh until `stop()`; database errors are reported and retried with backoff."""
    follower = None
    backoff = 1.0
    while not stop():
        try:
            if follower is None:
                settle_for = settle if settle is not None else default_settle(couch)
                follower = Follower(couch, k=k, batch=batch, settle=settle_for, say=say)
                say(f"following {couch.db} (K={k}, batch {batch}, settle {settle_for:g} s)")
            follower.step()
            backoff = 1.0
        except (CouchUnavailable, CouchError) as exc:
            say(f"{exc}; retrying in {backoff:g} s")
            if follower is not None:
                follower.checkpoint = None  # re-read it: the lists database may have been dropped
                follower.settling.clear()  # those batches are replayed from the stored checkpoint
            time.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)
    return follower
