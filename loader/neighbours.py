"""Item neighbour lists: the step chained after the `recommend` views.

For every item a, one document `n:<a>` in the derived database `<db>-neighbours`
holds n_a and a's K co-bought items with the highest n_ab (ties by item id).
Top-K by n_ab is top-K by count and by confidence (n_ab / n_a), so those two
scores are served from the lists exactly for one seed; scores that read n_b
stay on the exact view path. Beside each list, the worker's tally `t:<a>`
(loader/tally.py) holds the counts it is cut from, which the worker counts
forward from new orders. Both are written whole, and the whole database can be
dropped and rebuilt from the views at any time. Beside the lists the same
worker keeps the best sellers (loader/bestsellers.py).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Iterable, Iterator

from loader import derived
from loader.bestsellers import BEST_SELLERS_ID, DEFAULT_P, BestSellers, read_best_sellers, with_counts
from loader.bulk import chunks
from loader.couch import Couch, CouchError
from loader.derived import Rebuild, derived_db, is_cluster, write_over
from loader.orders import ORDER_SELECTOR, order_items
from loader.purchases import all_purchase_counts, purchase_counts
from loader.shards import EVERY_ITEM, Shard
from loader.tally import TALLY_SIZE, Tally, updated_tallies

DEFAULT_K = 100
LIST_SCORES = ("count", "confidence")  # top-K by n_ab is exactly top-K by these
SUFFIX = "-neighbours"
PREFIX = "n:"  # item ids may start with "_", document ids may not
QUERY_THREADS = 4
TORN_READ_ATTEMPTS = 5
TORN_READ_PAUSE = 1.0
PAGE_ROWS = 10_000  # grouped co_purchase rows a request, in a rebuild's streaming pass


@dataclass
class NeighbourList:
    item: str
    n_a: int
    neighbours: dict[str, int]  # b -> n_ab, the K largest
    complete: bool  # False when a has more than K co-bought items
    rev: str | None = None  # the stored revision this list was read from, if it was

    def as_doc(self) -> dict:
        return {"_id": PREFIX + self.item, **({"_rev": self.rev} if self.rev else {}), "item": self.item,
                "n_a": self.n_a, "complete": self.complete,
                "neighbours": [[b, n_ab] for b, n_ab in self.neighbours.items()], "computed_at": time.time()}

    @classmethod
    def from_doc(cls, doc: dict) -> "NeighbourList":
        return cls(doc["item"], doc["n_a"], {b: n_ab for b, n_ab in doc["neighbours"]}, doc["complete"],
                   doc.get("_rev"))


def lists_db(couch: Couch) -> Couch:
    """The derived database beside the log database `couch`."""
    return derived_db(couch, SUFFIX)


def compute_tallies(couch: Couch, items: Iterable[str], *, k: int = DEFAULT_K, size: int = TALLY_SIZE) -> list[Tally]:
    """The tallies of `items` from the views: n_a in one query, one grouped co_purchase range per item. Their
    position is unknown (None): the views may already count orders the worker has not reached.

    On a cluster the two reads can be answered by shard copies at different points (quorum writes,
    one copy read per shard range); a tally whose n_a is below one of its n_ab is such a torn read,
    and those items are read again, up to TORN_READ_ATTEMPTS times."""
    tallies = read_tallies_from_views(couch, sorted(set(items)), max(size, k))
    for _ in range(TORN_READ_ATTEMPTS - 1):
        torn = [one.item for one in tallies if not one.consistent]
        if not torn:
            break
        time.sleep(TORN_READ_PAUSE)
        again = {one.item: one for one in read_tallies_from_views(couch, torn, max(size, k))}
        tallies = [again.get(one.item, one) for one in tallies]
    return tallies


def compute_lists(couch: Couch, items: Iterable[str], *, k: int = DEFAULT_K) -> list[NeighbourList]:
    """The lists of `items` as the views give them now."""
    return [listed(one, k) for one in compute_tallies(couch, items, k=k)]


def listed(tally: Tally, k: int) -> NeighbourList:
    """The served list of a tally: its K first counts."""
    return NeighbourList(tally.item, tally.n_a, dict(list(tally.counts.items())[:k]),
                         not tally.floor and len(tally.counts) <= k)


def read_tallies_from_views(couch: Couch, items: list[str], size: int) -> list[Tally]:
    if not items:
        return []
    counts = purchase_counts(couch.query_view, items)

    def pairs_of(item: str) -> dict[str, int]:
        rows = couch.query_view("recommend", "co_purchase", group=True, startkey=[item], endkey=[item, {}])["rows"]
        return {row["key"][1]: row["value"] for row in rows}

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        all_pairs = list(pool.map(pairs_of, items))
    return [Tally.of(item, counts.get(item, 0), pairs, size) for item, pairs in zip(items, all_pairs)]


def pairs_in_order(couch: Couch, first: str, page: int = PAGE_ROWS) -> Iterator[tuple[str, dict[str, int]]]:
    """Every item's pairs from one pass over the grouped `co_purchase` view, item by item in the view's
    order (rows come sorted by [a, b], so an item's pairs are contiguous), from item `first` on, `page`
    rows a request: memory bounded by a page and one item's pairs."""
    params: dict = {"startkey": [first]}
    item, pairs = None, {}
    while True:
        rows = couch.query_view("recommend", "co_purchase", group=True, limit=page, **params)["rows"]
        for row in rows:
            a, b = row["key"]
            if a != item:
                if item is not None:
                    yield item, pairs
                item, pairs = a, {}
            pairs[b] = row["value"]
        if len(rows) < page:
            break
        params = {"startkey": rows[-1]["key"], "skip": 1}
    if item is not None:
        yield item, pairs


def stream_tallies(couch: Couch, items: list[str], n_a: dict[str, int], size: int) -> Iterator[Tally]:
    """The tallies of `items` (in the view's order, as all_keys gives them) from one streaming pass."""
    if not items:
        return
    position = {item: n for n, item in enumerate(items)}
    stream = pairs_in_order(couch, items[0])
    ahead = next(stream, None)
    for item in items:
        while ahead is not None and position.get(ahead[0], -1) < position[item]:
            ahead = next(stream, None)  # an item first bought after all_keys was read: the worker's to count
        yield Tally.of(item, n_a.get(item, 0), ahead[1] if ahead is not None and ahead[0] == item else {}, size)


@dataclass
class NeighbourLists:
    """The neighbour lists as a derivation of the log database (loader/derived.py)."""

    couch: Couch
    k: int = DEFAULT_K
    p: int = DEFAULT_P  # best sellers kept
    size: int = TALLY_SIZE  # counts kept in each tally (at least k)
    shard: Shard = EVERY_ITEM  # the items this worker keeps (loader/shards.py)
    name = "neighbour lists"
    selector = ORDER_SELECTOR

    def __post_init__(self):
        self.target = lists_db(self.couch)
        self.part = self.shard.suffix

    def touched(self, doc: dict | None) -> set[str]:
        return {item for item in order_items(doc) if self.shard.owns(item)}

    def all_keys(self) -> list[str]:
        return [item for item in all_purchase_counts(self.couch.query_view) if self.shard.owns(item)]

    @cached_property
    def couchdb(self) -> bool:
        return self.couch.server_info().vendor == "couchdb"

    def compute(self, items: Iterable[str]) -> list[dict]:
        return self.with_best_sellers(compute_tallies(self.couch, items, k=self.k, size=self.size))

    def compute_all(self, items: list[str], batch: int) -> Iterator[tuple[list[str], list[dict]]]:
        """Every list in one pass over the grouped `co_purchase` view (docs/decisions.md measures it against one
        range per item); a torn tally (n_a and its pairs read at different moments) is read again by range."""
        n_a = all_purchase_counts(self.couch.query_view)
        for part in chunks(stream_tallies(self.couch, items, n_a, max(self.size, self.k)), batch):
            torn = [one.item for one in part if not one.consistent]
            again = {one.item: one for one in compute_tallies(self.couch, torn, k=self.k, size=self.size)}
            yield [one.item for one in part], self.with_best_sellers([again.get(one.item, one) for one in part])

    def update(self, docs: list[dict], upto) -> list[dict]:
        """The tallies and lists of the orders' items, counted forward to feed position `upto` (loader/tally.py).
        On a cluster they are provisional until the settle pass reads them from the views, so the best sellers,
        which keep the larger of two counts, take theirs from that pass only."""
        orders = [order_items(doc) for doc in docs]
        from_views = partial(compute_tallies, self.couch, k=self.k, size=self.size) if self.cluster else None
        tallies = updated_tallies(self.couch, self.target, orders, upto, k=self.k, size=max(self.size, self.k),
                                  owns=self.shard.owns, couchdb=self.couchdb, from_views=from_views)
        if self.cluster:
            return [doc for one in tallies for doc in (one.as_doc(), listed(one, self.k).as_doc())]
        return self.with_best_sellers(tallies)

    @cached_property
    def cluster(self) -> bool:
        return is_cluster(self.couch)

    def with_best_sellers(self, tallies: list[Tally]) -> list[dict]:
        """The tallies' and lists' documents, and the best sellers (loader/bestsellers.py) with their n_a merged in."""
        if not tallies:
            return []
        best = with_counts(self.couch, self.target, {one.item: one.n_a for one in tallies}, self.p, self.shard)
        return [doc for one in tallies for doc in (one.as_doc(), listed(one, self.k).as_doc())] + [best.as_doc()]

    def write(self, docs: list[dict]) -> int:
        def recompute(ids: list[str]) -> list[dict]:
            """Lists another writer got to first, computed again; the best sellers, if another writer
            merged into them first, from every item's count (the counts merged in the lost write are gone)."""
            best_id = BEST_SELLERS_ID + self.part
            items = {doc_id.split(":", 1)[1] for doc_id in ids if doc_id != best_id}
            tallies = compute_tallies(self.couch, items, k=self.k, size=self.size)
            again = [doc for one in tallies for doc in (one.as_doc(), listed(one, self.k).as_doc())]
            if best_id in ids:
                owned = {item: n for item, n in all_purchase_counts(self.couch.query_view).items() if self.shard.owns(item)}
                again.append(with_counts(self.couch, self.target, owned, self.p, self.shard).as_doc())
            return again

        return write_over(self.target, docs, recompute)


def rebuild(couch: Couch, *, k: int = DEFAULT_K, shard: Shard = EVERY_ITEM, **options) -> Rebuild:
    """Recompute every item's list, or a shard's (options as loader.derived.rebuild)."""
    return derived.rebuild(NeighbourLists(couch, k, shard=shard), **options)


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
