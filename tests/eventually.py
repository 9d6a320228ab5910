"""Retry a check until it holds: a CouchDB cluster may miss a just-acknowledged write for a moment.

A 3-node cluster acknowledges a write at quorum and a read takes each shard range from
whichever copy answers first, so a read right after a write can lag by a second or more.
Tests that read what they just wrote call `eventually(check)` instead of asserting once.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

from loader.couchdb.couch import Couch, doc_path

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.2) -> T:
    """Call `check` until it stops raising AssertionError; return its value, or re-raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def on_every_copy(couch: Couch, doc_ids: list[str]) -> None:
    """Make just-written documents reach every copy before the test goes on. A cluster acknowledges a write
    once two of its three copies have it; a read that waits for every copy (`r` = the database's n)
    repairs a copy that lacks the document before it answers. CI's cluster runs saw both sides of that
    moment: a rewrite of two ids answered `created`, and a view read answered from a copy without the
    shop's orders. A single node or PouchDB Server has nothing to do."""
    copies = couch.db_info().get("cluster", {}).get("n", 1)
    if copies > 1:
        for doc_id in doc_ids:
            assert couch.db_request("GET", doc_path(doc_id), params={"r": copies}).status_code == 200
