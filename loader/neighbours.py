"""Item neighbour lists: the step chained after the `recommend` views.

For every item a, one document `n:<a>` in the derived database `<db>-neighbours`
holds n_a, the order count N when it was computed, and a's K co-bought items
with the highest n_ab (ties by item id). Top-K by n_ab is top-K by count and by
confidence (n_ab / n_a), so those two scores are served from the lists exactly
for one seed; scores that read n_b stay on the exact view path. The lists are
recomputed from the views, never edited in place, so writing one twice is
harmless, and the whole database can be dropped and rebuilt at any time.
Beside the lists the same worker keeps the best sellers (loader/bestsellers.py).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from loader import derived
from loader.bestsellers import BEST_SELLERS_ID, DEFAULT_P, BestSellers, read_best_sellers, with_counts
from loader.couch import Couch, CouchError
from loader.derived import Rebuild, derived_db, write_over
from loader.orders import ORDER_SELECTOR, order_items, order_pairs
from loader.purchases import all_purchase_counts, order_count, purchase_counts

DEFAULT_K = 100
LIST_SCORES = ("count", "confidence")  # top-K by n_ab is exactly top-K by these
SUFFIX = "-neighbours"
PREFIX = "n:"  # item ids may start with "_", document ids may not
QUERY_THREADS = 4
TORN_READ_ATTEMPTS = 5
TORN_READ_PAUSE = 1.0


@dataclass
class NeighbourList:
    item: str
    n_a: int
    orders: int
    neighbours: dict[str, int]  # b -> n_ab, the K largest
    complete: bool  # False when a has more than K co-bought items
    rev: str | None = None  # the stored revision this list was read from, if it was

    @property
    def consistent(self) -> bool:
        """No n_ab can exceed n_a: a list breaking that was read from two shard copies at different points."""
        return self.n_a >= max(self.neighbours.values(), default=0)

    def as_doc(self) -> dict:
        return {"_id": PREFIX + self.item, **({"_rev": self.rev} if self.rev else {}), "item": self.item,
                "n_a": self.n_a, "orders": self.orders, "complete": self.complete,
                "neighbours": [[b, n_ab] for b, n_ab in self.neighbours.items()], "computed_at": time.time()}

    @classmethod
    def from_doc(cls, doc: dict) -> "NeighbourList":
        return cls(doc["item"], doc["n_a"], doc["orders"], {b: n_ab for b, n_ab in doc["neighbours"]}, doc["complete"],
                   doc.get("_rev"))


def lists_db(couch: Couch) -> Couch:
    """The derived database beside the log database `couch`."""
    return derived_db(couch, SUFFIX)


def top_k(pairs: dict[str, int], k: int) -> dict[str, int]:
    """The k items with the largest n_ab, ties broken by item id (the order recommend() ranks in)."""
    return dict(sorted(pairs.items(), key=lambda pair: (-pair[1], pair[0]))[:k])


def compute_lists(couch: Couch, items: Iterable[str], *, k: int = DEFAULT_K) -> list[NeighbourList]:
    """Compute the lists of `items` from the views: n_a in one query, one grouped co_purchase range per item.

    On a cluster the two reads can be answered by shard copies at different points (quorum writes,
    one copy read per shard range); a list whose n_a is below one of its n_ab is such a torn read,
    and those items are read again, up to TORN_READ_ATTEMPTS times."""
    lists = read_lists(couch, sorted(set(items)), k)
    for _ in range(TORN_READ_ATTEMPTS - 1):
        torn = [one.item for one in lists if not one.consistent]
        if not torn:
            break
        time.sleep(TORN_READ_PAUSE)
        again = {one.item: one for one in read_lists(couch, torn, k)}
        lists = [again.get(one.item, one) for one in lists]
    return lists


def updated_lists(couch: Couch, target: Couch, orders: list[list[str]], *, k: int = DEFAULT_K) -> list[NeighbourList]:
    """The lists of the items in `orders` (new orders), brought up to date without reading whole ranges.

    An order changes n_a for its items and n_ab only for pairs inside it, so a stored list is
    updated by reading just those: n_a, N and the n_ab of the orders' pairs (one keys query each),
    merged into the stored neighbours and cut to the top K again. The values read are totals, not
    increments, so an order merged twice (a replayed batch) changes nothing; every count only grows,
    so a value below the stored one is a lagging shard copy and the larger is kept.

    An item without a stored list whose every order is in this batch (n_a equals its orders here:
    a new product) has all its pairs among these, so its list is made the same way. Any other item
    without a list, or whose merged list is torn (n_a below some n_ab), is computed from its range."""
    items = sorted({item for order in orders for item in order})
    # [a, b] and [b, a] count alike, so one key serves both lists
    pairs = sorted({pair for order in orders for pair in order_pairs(order)})
    with ThreadPoolExecutor(max_workers=3) as pool:  # the stored lists and the counts, while the pairs are read
        reads = [pool.submit(ListReader(target).read, items), pool.submit(purchase_counts, couch.query_view, items),
                 pool.submit(order_count, couch.query_view)]
        fresh: dict[str, dict[str, int]] = {}
        for row in pair_totals(couch, pairs):
            if row.get("value"):
                a, b = row["key"]
                fresh.setdefault(a, {})[b] = fresh.setdefault(b, {})[a] = row["value"]
        stored, counts, total = (read.result() for read in reads)
    in_batch = Counter(item for order in orders for item in order)
    new = {item: NeighbourList(item, 0, 0, {}, True) for item in items
           if item not in stored and counts.get(item, 0) == in_batch[item]}
    merging = {**stored, **new}
    merged = []
    for item, old in merging.items():
        neighbours = dict(old.neighbours)
        for b, n_ab in fresh.get(item, {}).items():
            neighbours[b] = max(neighbours.get(b, 0), n_ab)
        kept = top_k(neighbours, k)
        merged.append(NeighbourList(item, max(old.n_a, counts.get(item, 0)), max(old.orders, total), kept,
                                    old.complete and len(neighbours) <= k, old.rev))
    ready = [one for one in merged if one.consistent]
    done = {one.item for one in ready}
    return ready + compute_lists(couch, [item for item in items if item not in done], k=k)


def pair_totals(couch: Couch, pairs: list[tuple[str, str]]) -> list[dict]:
    """The grouped `co_purchase` rows of `pairs`. CouchDB folds a `keys` query's keys one after another
    (~0.3-0.4 ms a key on 2 cores), so the keys go in QUERY_THREADS concurrent parts (measured on
    16,370 pairs: 7.2 s in one query, 5.9 s in 4 parts)."""
    parts = [pairs[n::QUERY_THREADS] for n in range(QUERY_THREADS) if pairs[n::QUERY_THREADS]]

    def ask(part: list[tuple[str, str]]) -> list[dict]:
        return couch.query_view("recommend", "co_purchase", group=True, keys=[list(pair) for pair in part])["rows"]

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        return [row for rows in pool.map(ask, parts) for row in rows]


def read_lists(couch: Couch, items: list[str], k: int) -> list[NeighbourList]:
    if not items:
        return []
    counts, orders = purchase_counts(couch.query_view, items), order_count(couch.query_view)

    def pairs_of(item: str) -> dict[str, int]:
        rows = couch.query_view("recommend", "co_purchase", group=True, startkey=[item], endkey=[item, {}])["rows"]
        return {row["key"][1]: row["value"] for row in rows}

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        all_pairs = list(pool.map(pairs_of, items))
    return [NeighbourList(item, counts.get(item, 0), orders, top_k(pairs, k), len(pairs) <= k)
            for item, pairs in zip(items, all_pairs)]


@dataclass
class NeighbourLists:
    """The neighbour lists as a derivation of the log database (loader/derived.py)."""

    couch: Couch
    k: int = DEFAULT_K
    p: int = DEFAULT_P  # best sellers kept
    name = "neighbour lists"
    selector = ORDER_SELECTOR

    def __post_init__(self):
        self.target = lists_db(self.couch)

    def touched(self, doc: dict | None) -> set[str]:
        return set(order_items(doc))

    def all_keys(self) -> list[str]:
        return list(all_purchase_counts(self.couch.query_view))

    def compute(self, items: Iterable[str]) -> list[dict]:
        return self.with_best_sellers(compute_lists(self.couch, items, k=self.k))

    def update(self, docs: list[dict]) -> list[dict]:
        return self.with_best_sellers(updated_lists(self.couch, self.target, [order_items(doc) for doc in docs],
                                                    k=self.k))

    def with_best_sellers(self, lists: list[NeighbourList]) -> list[dict]:
        """The lists' documents, and the best sellers (loader/bestsellers.py) with the lists' n_a merged in."""
        if not lists:
            return []
        best = with_counts(self.couch, self.target, {one.item: one.n_a for one in lists}, self.p)
        return [one.as_doc() for one in lists] + [best.as_doc()]

    def write(self, docs: list[dict]) -> int:
        def recompute(ids: list[str]) -> list[dict]:
            """Lists another writer got to first, computed again; the best sellers, if another writer
            merged into them first, from every item's count (the counts merged in the lost write are gone)."""
            items = [doc_id[len(PREFIX):] for doc_id in ids if doc_id != BEST_SELLERS_ID]
            again = [one.as_doc() for one in compute_lists(self.couch, items, k=self.k)]
            if BEST_SELLERS_ID in ids:
                every_count = all_purchase_counts(self.couch.query_view)
                again.append(with_counts(self.couch, self.target, every_count, self.p).as_doc())
            return again

        return write_over(self.target, docs, recompute)


def rebuild(couch: Couch, *, k: int = DEFAULT_K, **options) -> Rebuild:
    """Recompute every item's list (options as loader.derived.rebuild)."""
    return derived.rebuild(NeighbourLists(couch, k), **options)


class ListReader:
    """Reads stored lists for serving: every seed's list in one `_all_docs` round trip."""

    def __init__(self, target: Couch):
        self.target = target

    def read(self, items: list[str]) -> dict[str, NeighbourList]:
        """The stored lists of `items` (items without one, or no lists database at all, are left out)."""
        try:
            docs = self.target.get_docs(PREFIX + item for item in items)
        except CouchError as exc:
            if exc.status == 404:  # no lists database yet
                return {}
            raise
        return {doc["item"]: NeighbourList.from_doc(doc) for doc in docs.values()}

    def best_sellers(self) -> BestSellers | None:
        """The stored best sellers, None when none are stored yet."""
        return read_best_sellers(self.target)
