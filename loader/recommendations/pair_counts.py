"""Every item's co-purchase counts made from the orders themselves: the lists rebuild's source.

A pass over the grouped `co_purchase` view reads every distinct pair twice, merged across the shard
ranges by one request at a time (45 million rows at a million orders, about 20,000 a second on a
2-core machine). The orders are far fewer: one pass over `_changes` (orders picked by `_selector`
on CouchDB) keeps each item's purchase count and each order's paired items, as numbers in a
temporary file; then numpy counts the pairs a bucket of items at a time, reading the orders back
in chunks, so memory holds neither every pair of the catalogue nor every order. The counts follow
the views' rules (loader/recommendations/orders.py, the Python twins of their `_lib`), so the lists
are the ones the views give for the same orders.
"""

from __future__ import annotations

import tempfile
from array import array
from collections import Counter
from typing import Callable, Iterator

import numpy as np

from loader.couchdb.ahead import read_ahead
from loader.couchdb.couch import Couch
from loader.recommendations.orders import ORDER_SELECTOR, order_items, paired_items
from loader.recommendations.tally import Tally, cut_at

FEED_PAGE = 5_000  # orders a `_changes` request
PAIR_BUDGET = 4_000_000  # pair occurrences in one bucket's count (32 MB of keys), unless one item alone has more
CHUNK_ITEMS = 4_000_000  # order items read back from the file at once (16 MB)
EMPTY = np.empty(0, dtype=np.int32)


Progress = Callable[[int, int], None]  # (changes read, changes in the feed)


def order_pages(couch: Couch, since: str | int = 0) -> Iterator[tuple[list[dict], int | None, int, str | int]]:
    """Every order document after `since` (from the start of `_changes`), a page at a time, with the changes left after
    the page where the server says (CouchDB's `pending`), the changes the page covered, and the seq it
    ends at. PouchDB Server has no `_selector` filter for `_changes`: there every document comes, and
    OrderCounts skips the others."""
    filtered = couch.is_couchdb()
    while True:
        params = {"since": since, "limit": FEED_PAGE, "include_docs": "true", "seq_interval": FEED_PAGE}
        if filtered:
            body = couch.db_request("POST", "_changes", params={**params, "filter": "_selector"},
                                    json={"selector": ORDER_SELECTOR}).json()
        else:
            body = couch.db_request("GET", "_changes", params=params).json()
        results, left = body["results"], body.get("pending")
        yield [row["doc"] for row in results if row.get("doc")], left, len(results), body["last_seq"]
        if not results or left == 0 or (left is None and len(results) < FEED_PAGE):
            return
        since = body["last_seq"]


class OrderCounts:
    """What the orders say: each item's purchase count (n_a), the order count (N), and every order's
    paired items, as numbers in a temporary file (4 bytes an item), to count pairs from."""

    def __init__(self):
        self.n_a: Counter = Counter()
        self.orders = 0
        self.last_seq: str | int = 0  # where the pass over `_changes` ended: every order up to it is counted
        self.number: dict[str, int] = {}  # item -> its number in the file, in the order first seen
        self.lengths = array("B")  # each order's paired items (at most 50), in the file's order
        self.pending = array("i")  # numbers not yet written to the file
        self.file = tempfile.TemporaryFile(prefix="couchrec-orders-")

    @classmethod
    def read(cls, couch: Couch, progress: Progress = lambda done, total: None,
             leave_out: set[str] = frozenset()) -> "OrderCounts":
        """One pass over every order in the database (the next page read while this one is counted), but
        those of `leave_out` (ids)."""
        info = couch.db_info()
        total = info.get("doc_count", 0) + info.get("doc_del_count", 0)  # one change a document in the feed
        counts, done = cls(), 0
        for docs, left, covered, counts.last_seq in read_ahead(order_pages(couch)):
            for doc in docs:
                if doc["_id"] not in leave_out:
                    counts.add(doc)
            done = max(done, total - left) if left is not None else done + covered
            total = max(total, done)
            progress(done, total)
        counts.seal()
        return counts

    def add(self, doc: dict) -> None:
        items = order_items(doc)
        if not items:
            return
        self.orders += 1
        self.n_a.update(items)
        paired = paired_items(items)
        self.lengths.append(len(paired))
        self.pending.extend(self.number.setdefault(item, len(self.number)) for item in paired)
        if len(self.pending) >= CHUNK_ITEMS:
            self.seal()

    def seal(self) -> None:
        """Write the numbers not yet in the file (after the last order, before `lists`)."""
        self.file.write(self.pending.tobytes())
        self.pending = array("i")

    def close(self) -> None:
        self.file.close()

    def lists(self, items: list[str], k: int, keep: int) -> Iterator[tuple[str, Tally]]:
        """For each of `items` (sorted by id), its tally (loader/recommendations/tally.py): its neighbours
        ranked by n_ab, ties by id (the rule of loader/recommendations/ranking.py), cut as the tally's rule
        cuts them for the k shown and `keep` in all."""
        ordered = sorted(self.n_a)
        rank = {item: n for n, item in enumerate(ordered)}
        rank_of = np.empty(len(self.number), dtype=np.int64)
        for item, number in self.number.items():
            rank_of[number] = rank[item]
        occurrences = np.zeros(len(ordered))  # an item's pairs in all orders, repeats counted
        for ranks, lengths in self.chunks(rank_of):
            occurrences += np.bincount(ranks, weights=np.repeat(lengths - 1, lengths), minlength=len(ordered))
        for bucket in buckets([rank[item] for item in items], occurrences):
            counted = count_bucket(self.chunks(rank_of), bucket, len(ordered))
            for a in bucket:
                b, n_ab = counted.get(a, (EMPTY, EMPTY))
                end, bound = cut_at(n_ab, k, keep)
                yield ordered[a], Tally(self.n_a[ordered[a]], {ordered[one]: int(n) for one, n in zip(b[:end], n_ab[:end])},
                                        bound)

    def chunks(self, rank_of: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The orders read back from the file about CHUNK_ITEMS items at a time, cut between orders:
        (every item's rank, each order's length)."""
        lengths = np.frombuffer(self.lengths, dtype=np.uint8).astype(np.int64)
        ends = np.cumsum(lengths)
        first = 0
        while first < len(lengths):
            taken = int(ends[first - 1]) if first else 0
            last = max(int(np.searchsorted(ends, taken + CHUNK_ITEMS, side="right")), first + 1)
            size = int(ends[last - 1]) - taken
            self.file.seek(taken * 4)
            numbers = np.frombuffer(self.file.read(size * 4), dtype=np.int32)
            yield rank_of[numbers], lengths[first:last]
            first = last


def buckets(ranks: list[int], occurrences: np.ndarray) -> Iterator[list[int]]:
    """`ranks` cut, in order, into runs whose pair occurrences stay within PAIR_BUDGET."""
    bucket, held = [], 0
    for a in ranks:
        if bucket and held + occurrences[a] > PAIR_BUDGET:
            yield bucket
            bucket, held = [], 0
        bucket.append(a)
        held += occurrences[a]
    if bucket:
        yield bucket


def count_bucket(chunks: Iterator[tuple[np.ndarray, np.ndarray]], bucket: list[int],
                 size: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Every pair (a, b) with a in `bucket`, counted over the orders: for each a, its b ranked by n_ab
    (largest first, ties by b's rank, which is the order of ids) and those n_ab."""
    inside = np.zeros(size, dtype=bool)
    inside[bucket] = True
    keys = []
    for ranks, lengths in chunks:
        starts = np.cumsum(lengths) - lengths
        for length in np.unique(lengths[lengths > 1]):
            baskets = ranks[starts[lengths == length][:, None] + np.arange(length)]
            held = inside[baskets]
            for column in np.flatnonzero(held.any(axis=0)):
                chosen = baskets[held[:, column]]
                others = np.delete(chosen, column, axis=1)
                keys.append((chosen[:, column, None] * size + others).ravel())
    if not keys:
        return {}
    every = np.concatenate(keys)
    keys.clear()  # the parts freed before the sort's copy is made
    pairs, n_ab = np.unique(every, return_counts=True)
    del every
    a, b = (part.astype(np.int32) for part in np.divmod(pairs, size))
    del pairs
    order = np.lexsort((b, -n_ab, a))
    a, b, n_ab = a[order], b[order], n_ab[order].astype(np.int32)
    edges = np.concatenate(([0], np.flatnonzero(np.diff(a)) + 1, [len(a)]))
    return {int(a[start]): (b[start:end], n_ab[start:end]) for start, end in zip(edges[:-1], edges[1:])}
