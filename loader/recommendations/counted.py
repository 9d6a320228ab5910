"""Pair totals at the worker's place in `_changes`, for tallies (loader/recommendations/tally.py) that are
exact there.

A view read answers at the view's own place, which may hold orders past the batch being counted (written
since, or in the worker's backlog) and may lack some before its end (not indexed yet). Each query asks
for the view's `update_seq` and does not wait for the index (`update=lazy`: indexing 2,000 new orders
holds a read for about 13 s at a million orders); of the orders after the batch's end and those after
the view's seq, the ones only in the first set are in the view too early and their pairs are taken off,
the ones only in the second are missing from it and their pairs are added. Only a single node's (and
PouchDB Server's) `_changes` read from a view's `update_seq` gives exactly the orders the view lacks; a
cluster's worker keeps totals instead (loader/recommendations/neighbours.py).
"""

from __future__ import annotations

from collections import Counter

from loader.couchdb.couch import Couch
from loader.couchdb.parts import in_parts
from loader.recommendations.orders import order_items, order_pairs
from loader.recommendations.pair_counts import order_pages
from loader.recommendations.tally import Pair


def pair_rows(couch: Couch, pairs: list[Pair], **params) -> list[tuple[list[Pair], dict]]:
    """The grouped `co_purchase` rows of `pairs` (with `params`, e.g. update_seq): each part asked and its answer.
    CouchDB folds a `keys` query's keys one after another (~0.3-0.4 ms a key on 2 cores), so any number of
    keys goes in concurrent parts (measured on 16,370 pairs: 7.2 s in one query, 5.9 s in 4 parts)."""
    def ask(part: list[Pair]) -> tuple[list[Pair], dict]:
        return part, couch.query_view("recommend", "co_purchase", group=True, keys=[list(pair) for pair in part],
                                      **params)
    return in_parts(ask, pairs, many=1)


def orders_after(couch: Couch, since: str | int) -> dict[str, list[str]]:
    """Every order after `since` in `_changes`, by id: its distinct items."""
    return read_orders_after(couch, since)[0]


def read_orders_after(couch: Couch, since: str | int) -> tuple[dict[str, list[str]], str | int]:
    """orders_after, and the seq the read ended at."""
    found, last_seq = {}, since
    for docs, _, _, last_seq in order_pages(couch, since):
        for doc in docs:
            items = order_items(doc)
            if items:
                found[doc["_id"]] = items
    return found, last_seq


def totals_at(couch: Couch, pairs: list[Pair], through: str | int) -> dict[Pair, int]:
    """n_ab of `pairs` counting the orders up to `through` (a `_changes` seq) and none after."""
    answers = pair_rows(couch, pairs, update_seq=True, update="lazy")
    after_batch, read_to = read_orders_after(couch, through)  # read after the queries: every order they could hold
    after_views = {str(body["update_seq"]): orders_after(couch, body["update_seq"]) for _, body in answers}
    arrived = orders_after(couch, read_to)  # written while these were read: in a later read only
    wanted = set(pairs)
    totals: dict[Pair, int] = {}
    correction_by_seq: dict[str, Counter] = {}
    for part, body in answers:
        key = str(body["update_seq"])
        if key not in correction_by_seq:
            after_view = after_views[key]
            correction = Counter(pair for order_id, items in after_view.items()
                                 if order_id not in after_batch and order_id not in arrived
                                 for pair in order_pairs(items) if pair in wanted)  # up to the batch, not indexed
            correction.subtract(pair for order_id, items in after_batch.items() if order_id not in after_view
                                for pair in order_pairs(items) if pair in wanted)  # indexed, past the batch
            correction_by_seq[key] = correction
        indexed = {(row["key"][0], row["key"][1]): row.get("value") or 0 for row in body["rows"]}
        for pair in part:  # a pair without a row: none of its orders indexed yet
            totals[pair] = indexed.get(pair, 0) + correction_by_seq[key][pair]
    return totals
