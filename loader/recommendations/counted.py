"""Pair totals at the worker's place in `_changes`, for tallies (loader/recommendations/tally.py) that are
exact there.

A view read answers at the view's own place, which may hold orders past the batch being counted (written
since, or in the worker's backlog); counting them now would count them twice when their batch comes.
Each query asks for the view's `update_seq`; the orders after the batch's end, less those after that
seq, are the ones the view holds too early, and their pairs are taken off. Only a single node's (and
PouchDB Server's) `_changes` read from a view's `update_seq` gives exactly the orders the view lacks;
a cluster's worker keeps totals instead (loader/recommendations/neighbours.py).
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from loader.couchdb.couch import Couch
from loader.recommendations.orders import order_items, order_pairs
from loader.recommendations.pair_counts import order_pages
from loader.recommendations.tally import Pair

QUERY_THREADS = 4  # CouchDB folds a `keys` query's keys one after another: parts in parallel are faster


def orders_after(couch: Couch, since: str | int) -> dict[str, list[str]]:
    """Every order after `since` in `_changes`, by id: its distinct items."""
    found = {}
    for docs, *_ in order_pages(couch, since):
        for doc in docs:
            items = order_items(doc)
            if items:
                found[doc["_id"]] = items
    return found


def totals_at(couch: Couch, pairs: list[Pair], through: str | int) -> dict[Pair, int]:
    """n_ab of `pairs` counting the orders up to `through` (a `_changes` seq) and none after."""
    parts = [pairs[n::QUERY_THREADS] for n in range(QUERY_THREADS) if pairs[n::QUERY_THREADS]]

    def ask(part: list[Pair]) -> tuple[list[dict], str | int]:
        body = couch.query_view("recommend", "co_purchase", group=True, update_seq=True,
                                keys=[list(pair) for pair in part])
        return body["rows"], body["update_seq"]

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        answers = list(pool.map(ask, parts))
    after_batch = orders_after(couch, through)  # read after the queries: holds every order they could hold
    wanted = set(pairs)
    totals: dict[Pair, int] = {}
    early_by_seq: dict[str, Counter] = {}
    for rows, seq in answers:
        key = str(seq)
        if key not in early_by_seq:
            lacking = orders_after(couch, seq) if after_batch else {}
            early_by_seq[key] = Counter(pair for order_id, items in after_batch.items() if order_id not in lacking
                                        for pair in order_pairs(items) if pair in wanted)
        early = early_by_seq[key]
        for row in rows:
            pair = (row["key"][0], row["key"][1])
            totals[pair] = (row.get("value") or 0) - early[pair]
    return totals
