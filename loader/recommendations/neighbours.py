"""Item neighbour lists: the step chained after the `recommend` views.

For every item a, one document `n:<a>` in the derived database `<db>-neighbours`
holds n_a, the order count N when it was computed, and a's K co-bought items
with the highest n_ab (ties by item id). Top-K by n_ab is top-K by count and by
confidence (n_ab / n_a), so those two scores are served from the lists exactly
for one seed; scores that read n_b stay on the exact view path. Beside the K
shown, a document keeps more neighbours and a bound on the rest (a tally,
loader/recommendations/tally.py): on a single node the worker brings the tallies
forward by each batch's own counts, exact at its place in `_changes`; a
cluster's worker merges totals read from the views. A rebuild makes every list
from the orders; the whole database can be dropped and rebuilt at any time.
Beside the lists the same worker keeps the best sellers (loader/recommendations/bestsellers.py).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Iterator

from loader.couchdb.couch import Couch, CouchError, chunks
from loader.derived import derived
from loader.derived.derived import BatchPlace, Rebuild, derived_db, is_cluster, write_over
from loader.derived.shards import EVERY_ITEM, Shard
from loader.recommendations.bestsellers import BEST_SELLERS_ID, DEFAULT_P, BestSellers, read_best_sellers, with_counts
from loader.recommendations.orders import ORDER_SELECTOR, order_items, order_pairs
from loader.recommendations.pair_counts import OrderCounts, Progress
from loader.recommendations.purchases import all_purchase_counts, order_count, purchase_counts
from loader.recommendations.counted import orders_after, pair_rows, totals_at
from loader.recommendations.neighbour_list import PREFIX, NeighbourList
from loader.recommendations.ranking import by_count
from loader.recommendations.tally import BatchCounts, Tally, advance

DEFAULT_K = 100
KEPT_PER_SHOWN = 6  # a tally keeps up to 6 K neighbours: at a million orders, 0.5 pair totals read an order
# against 8.8 with 3 K (bench/worker_reads.py, docs/decisions.md)
LIST_SCORES = ("count", "confidence")  # top-K by n_ab is exactly top-K by these
SUFFIX = "-neighbours"
QUERY_THREADS = 4
TORN_READ_ATTEMPTS = 5
TORN_READ_PAUSE = 1.0


def lists_db(couch: Couch) -> Couch:
    """The derived database beside the log database `couch`."""
    return derived_db(couch, SUFFIX)


def top_k(pairs: dict[str, int], k: int) -> dict[str, int]:
    """The k items with the largest n_ab, ties broken by item id (the order recommend() ranks in)."""
    return {b: pairs[b] for b in by_count(pairs, k)}


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


def updated_lists(couch: Couch, target: Couch, orders: list[list[str]], *, k: int = DEFAULT_K,
                  shard: Shard = EVERY_ITEM) -> list[NeighbourList]:
    """The lists of the items in `orders` (new orders), brought up to date without reading whole ranges.

    An order changes n_a for its items and n_ab only for pairs inside it, so a stored list is
    updated from n_a, N and the n_ab of the batch's pairs, merged into the stored neighbours and cut
    to the top K again. The n_ab read are totals, not increments, so an order merged twice (a
    replayed batch) changes nothing; every count only grows, so a value below the stored one is a
    lagging shard copy and the larger is kept. A pair's total is read only when a list needs it
    (`PairNeeds`); the others are known without a read.

    An item without a stored list whose every order is in this batch (n_a equals its orders here:
    a new product) has all its pairs among these, so its list is made the same way. Any other item
    without a list, or whose merged list is torn (n_a below some n_ab), is computed from its range.
    Only the lists of `shard`'s items are brought up to date."""
    every_item = sorted({item for order in orders for item in order})
    items = [item for item in every_item if shard.owns(item)]
    in_batch = Counter(item for order in orders for item in order)
    # [a, b] and [b, a] count alike, so one key serves both lists
    in_orders = Counter(pair for order in orders for pair in order_pairs(order)
                        if shard.owns(pair[0]) or shard.owns(pair[1]))
    with ThreadPoolExecutor(max_workers=3) as pool:
        reads = [pool.submit(ListReader(target).read, items), pool.submit(purchase_counts, couch.query_view, every_item),
                 pool.submit(order_count, couch.query_view)]
        stored, counts, total = (read.result() for read in reads)
    new = {item: NeighbourList(item, 0, 0, {}, True) for item in items
           if item not in stored and counts.get(item, 0) == in_batch[item]}
    merging = {**stored, **new}
    needs = PairNeeds(merging, counts)
    read = [pair for pair in in_orders if needs.total(*pair)]
    fresh: dict[str, dict[str, int]] = {}
    for row in pair_totals(couch, sorted(read)):
        if row.get("value"):
            a, b = row["key"]
            fresh.setdefault(a, {})[b] = fresh.setdefault(b, {})[a] = row["value"]
    for a, b in in_orders.keys() - set(read):  # first seen together, by one side or both
        for one, other in ((a, b), (b, a)):
            if needs.known_new(one, other):
                fresh.setdefault(one, {})[other] = in_orders[a, b]
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


@dataclass
class PairNeeds:
    """Which of a batch's pairs need their total read from `co_purchase`, from the lists being merged.

    For a's list and a pair (a, b) of the batch:
    - b already in the list: its new total is read;
    - the list complete (every item ever bought with a) and b not in it: a and b were never bought
      together before, so n_ab is the number of the batch's orders holding both, known without a read;
    - the list full (K neighbours) and b not in it: b enters only if n_ab reaches the K-th count, and
      n_ab ≤ n_b; when n_b is below the K-th count, b stays out and nothing is read.
    A pair is read when either of its lists needs it. An item without a list to merge is computed from
    its range, so it needs nothing here."""

    lists: dict[str, NeighbourList]
    counts: dict[str, int]  # n_a of the batch's items, fresh from the views

    def total(self, a: str, b: str) -> bool:
        return self.side_needs(a, b) or self.side_needs(b, a)

    def side_needs(self, a: str, b: str) -> bool:
        listed = self.lists.get(a)
        if listed is None:
            return False
        if b in listed.neighbours:
            return True
        return not listed.complete and self.counts.get(b, 0) >= min(listed.neighbours.values(), default=0)

    def known_new(self, a: str, b: str) -> bool:
        """True when a's list is complete without b: the batch's count is then n_ab."""
        listed = self.lists.get(a)
        return listed is not None and listed.complete and b not in listed.neighbours


def pair_totals(couch: Couch, pairs: list[tuple[str, str]]) -> list[dict]:
    """The grouped `co_purchase` rows of `pairs`, as the views hold them now."""
    return [row for _, body in pair_rows(couch, pairs) for row in body["rows"]]


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
    """The neighbour lists as a derivation of the log database (loader/derived/derived.py): one worker's, or the
    part of them one of several workers keeps (the items its shard owns, loader/derived/shards.py).

    On a single node (and PouchDB Server) the lists are counted: a rebuild makes every tally from the orders,
    exact at the rebuild's place in `_changes`, and the worker adds each batch to them, reading only the
    pair totals a list's top K could need (loader/recommendations/tally.py), at the batch's place
    (loader/recommendations/counted.py); the follower journals each batch so a replay adds it once. A
    cluster's views and feed answer from shard copies at different places, so there the worker merges
    totals read from the views (updated_lists)."""

    couch: Couch
    k: int = DEFAULT_K
    p: int = DEFAULT_P  # best sellers kept
    shard: Shard = EVERY_ITEM
    keep: int = 0  # neighbours a tally keeps; 0: KEPT_PER_SHOWN times k
    name = "neighbour lists"
    selector = ORDER_SELECTOR
    read_to = None  # set by all_keys (Derivation)
    epoch = None  # set by the rebuild (Derivation)
    pairs_read = 0  # pair totals the last counted batch read

    def __post_init__(self):
        self.target = lists_db(self.couch)
        self.part = self.shard.suffix
        self.workers = self.shard.count
        self.keep = self.keep or KEPT_PER_SHOWN * self.k

    @cached_property
    def journaled(self) -> bool:
        """Counted lists (a single node, PouchDB Server) rather than totals merged (a cluster)."""
        return not is_cluster(self.couch)

    def touched(self, doc: dict | None) -> set[str]:
        return {item for item in order_items(doc) if self.shard.owns(item)}

    def all_keys(self, progress: Progress = lambda done, total: None, leave_out_after=None) -> list[str]:
        """Every item bought, in id order, from one pass over the orders (but those after `leave_out_after`,
        a seq); the pass is kept for compute_all."""
        leave_out = set(orders_after(self.couch, leave_out_after)) if leave_out_after is not None else frozenset()
        self.counts = OrderCounts.read(self.couch, progress, leave_out)
        self.read_to = self.counts.last_seq
        return [item for item in sorted(self.counts.n_a) if self.shard.owns(item)]

    def rebuilt(self) -> dict:
        """What the checkpoint a rebuild writes carries: the tallies' epoch and the order count they are at."""
        return {"epoch": self.epoch, "orders": self.counts.orders}

    def carried(self, checkpoint: dict, docs: list[dict]) -> dict:
        """What the checkpoint carries past a batch of `docs`."""
        if not self.journaled:
            return {}
        return {"epoch": checkpoint["epoch"], "orders": checkpoint["orders"] + sum(1 for doc in docs if order_items(doc))}

    def compute(self, items: Iterable[str]) -> list[dict]:
        return self.with_best_sellers(compute_lists(self.couch, items, k=self.k))

    def compute_all(self, items: list[str], batch: int) -> Iterator[tuple[list[str], list[dict]]]:
        """Every list from the pair counts of the orders all_keys read (faster than the grouped `co_purchase`
        view, in one pass or one range per item: bench/rebuild_pass.py), `batch` items a part. The shard's
        best sellers are made once, from those counts, and go with the first part: a part merging them
        into the stored ones would depend on the part before having been written."""
        counts = self.counts
        best = [with_counts(self.couch, self.target, {item: n for item, n in counts.n_a.items() if self.shard.owns(item)},
                            self.p, self.shard, every=counts.n_a).as_doc()]
        made = (NeighbourList.from_tally(item, tally, counts.orders, self.k, epoch=self.epoch)
                for item, tally in counts.lists(items, self.k, self.keep))
        try:
            for part in chunks(made, batch):
                yield [one.item for one in part], [one.as_doc() for one in part] + best
                best = []
        finally:
            counts.close()

    def update(self, docs: list[dict], place: BatchPlace | None = None) -> list[dict]:
        orders = [order_items(doc) for doc in docs]
        if not self.journaled:
            return self.with_best_sellers(updated_lists(self.couch, self.target, orders, k=self.k, shard=self.shard))
        batch = BatchCounts.of([order for order in orders if order])
        items = sorted(item for item in batch.n if self.shard.owns(item))
        stored = ListReader(self.target).read(items)
        epoch = place.checkpoint["epoch"]
        old: dict[str, Tally | None] = {}
        added_before = set()  # this batch was added to them before a crash: they are written already
        for item in items:
            one = stored.get(item)
            if one is not None and one.epoch != epoch and one.batch is None:
                raise CouchError(503, "rebuilding", f"the list of {item} was written by another rebuild: waiting for it")
            if one is None or one.epoch != epoch:  # a worker's list of an epoch before: bought only since the rebuild
                old[item] = None
            elif one.batch == place.id:
                old[item] = batch.before(one.tally, item)
                added_before.add(item)
            else:
                old[item] = one.tally
        fresh, self.pairs_read = advance(old, batch, lambda pairs: totals_at(self.couch, pairs, place.through),
                                         k=self.k, keep=self.keep)
        orders_now = place.checkpoint["orders"] + batch.orders
        lists = [NeighbourList.from_tally(item, tally, orders_now, self.k, epoch=epoch, batch=place.id,
                                          rev=stored[item].rev if item in stored else None)
                 for item, tally in fresh.items() if item not in added_before]
        return self.with_best_sellers(lists, {item: tally.n_a for item, tally in fresh.items()})

    def with_best_sellers(self, lists: list[NeighbourList], counts: dict[str, int] | None = None) -> list[dict]:
        """The lists' documents, and this shard's best sellers (loader/recommendations/bestsellers.py) with the
        lists' n_a (or `counts`) merged in."""
        counts = counts if counts is not None else {one.item: one.n_a for one in lists}
        if not counts:
            return []
        best = with_counts(self.couch, self.target, counts, self.p, self.shard)
        return [one.as_doc() for one in lists] + [best.as_doc()]

    def write(self, docs: list[dict]) -> int:
        best_sellers_id = BEST_SELLERS_ID + self.part

        def recompute(ids: list[str]) -> list[dict]:
            """Lists another writer got to first, computed again; the best sellers, if another writer
            merged into them first, from every count of the shard's items (the counts merged in the lost
            write are gone). Counted lists are not recomputed: the batch is given up, and replayed from the
            checkpoint (another writer is a rebuild, or a worker of the same shard)."""
            if self.journaled:
                raise CouchError(409, "conflict", f"{len(ids)} lists were written by another writer meanwhile")
            items = [doc_id[len(PREFIX):] for doc_id in ids if doc_id != best_sellers_id]
            again = [one.as_doc() for one in compute_lists(self.couch, items, k=self.k)]
            if best_sellers_id in ids:
                every_count = {item: n for item, n in all_purchase_counts(self.couch.query_view).items()
                               if self.shard.owns(item)}
                again.append(with_counts(self.couch, self.target, every_count, self.p, self.shard).as_doc())
            return again

        return write_over(self.target, docs, recompute)


def rebuild(couch: Couch, *, k: int = DEFAULT_K, shard: Shard = EVERY_ITEM, keep: int = 0, **options) -> Rebuild:
    """Recompute the lists of every item (of `shard`'s items), options as loader.derived.derived.rebuild."""
    return derived.rebuild(NeighbourLists(couch, k, shard=shard, keep=keep), **options)


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
