"""View reads brought back to a position of the changes feed.

A view read with `update_seq=true` names the database position its index stood at (V). The orders
it counted beyond a feed position L are those in the feed after L but not after V, matched by
document id: positions are opaque, compared for equality only, never ordered. Taking their counts
off, and adding those after V but not after L (an index behind L), gives the view as of L. So the
worker reads with `update=lazy` and never waits for an index update. On a single node this is
exact; on a cluster a view read and the feed can come from different shard copies, so there the
worker's settle pass recomputes from the views.
"""

from __future__ import annotations

import threading

from loader.couch import Couch
from loader.follow import read_changes
from loader.orders import ORDER_SELECTOR, order_items

PAGE = 5000


def orders_after(couch: Couch, since, *, couchdb: bool) -> dict[str, list[str]]:
    """Every order in the feed after `since`: id -> its distinct items."""
    orders: dict[str, list[str]] = {}
    while True:
        body = read_changes(couch, since, selector=ORDER_SELECTOR, limit=PAGE, wait_ms=0, couchdb=couchdb)
        for change in body["results"]:
            items = order_items(change.get("doc"))
            if items:
                orders[change["id"]] = items
        if not body["results"]:
            return orders
        since = body["last_seq"]


class AsOf:
    """Corrections for view reads made now, to give what the views held at feed position `seq`."""

    def __init__(self, couch: Couch, seq, *, couchdb: bool):
        self.couch, self.seq, self.couchdb = couch, seq, couchdb
        self.corrections: dict[object, tuple[list[list[str]], list[list[str]]]] = {}
        self.lock = threading.Lock()

    def correction(self, view_seq) -> tuple[list[list[str]], list[list[str]]]:
        """For a view read answered at `view_seq` (call it after the read): the orders (their items) it counted
        beyond `seq`, to take off, and those up to `seq` it did not count yet, to add."""
        with self.lock:
            if view_seq not in self.corrections:
                if view_seq == self.seq:
                    self.corrections[view_seq] = ([], [])
                else:  # read after the view: every order it counted is in the feed by now
                    later = orders_after(self.couch, self.seq, couchdb=self.couchdb)
                    beyond = orders_after(self.couch, view_seq, couchdb=self.couchdb)
                    self.corrections[view_seq] = ([items for order_id, items in later.items() if order_id not in beyond],
                                                  [items for order_id, items in beyond.items() if order_id not in later])
            return self.corrections[view_seq]
