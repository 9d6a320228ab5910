"""The worker's counts: per item a, n_a and its most co-bought items, counted from the orders themselves.

A tally (`t:<a>` beside the list `n:<a>`, which serving reads) holds n_a, the TALLY_SIZE items with
the largest n_ab (ties by id), `floor`, an upper bound on n_ab for every other item (0: there is
none), and `as_of`, the changes-feed position its counts are exact at (None: read from the views at
some unknown later one). A batch of orders (the feed from the checkpoint S to position L) adds its
orders to n_a and its pairs to the stored counts; an unstored item b bought with a gets the bound
min(floor, n_b before the batch) + its pairs here, which raises the floor. The K first counts are the
exact top K while the floor stays below the K-th count; when it does not, or the tally is missing or
read from the views, the tally is read again from the views, brought to L (loader/asof.py).

Replays: a crash replays the batch pinned in the checkpoint (loader/follow.py), the same orders with
the same L, and a tally already carrying L is not counted twice. Every tally not carrying L is exact
as of S, since each batch touching its item was written before the checkpoint passed it.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from loader.asof import AsOf
from loader.couch import Couch, CouchError
from loader.orders import paired_items

TALLY_SIZE = 1000
TALLY_PREFIX = "t:"
QUERY_THREADS = 4


def rank(pair: tuple[str, int]) -> tuple[int, str]:
    """Largest n_ab first, ties by item id (the order recommend() ranks in)."""
    return -pair[1], pair[0]


@dataclass
class Tally:
    item: str
    n_a: int
    counts: dict[str, int]  # b -> n_ab, the largest, in rank order
    floor: int  # no item outside `counts` was bought with this one in more orders (0: every one is in it)
    as_of: object = None
    rev: str | None = None

    @property
    def consistent(self) -> bool:
        """No n_ab can exceed n_a: a tally breaking that was read from two shard copies at different points."""
        return self.n_a >= max(self.counts.values(), default=0)

    @classmethod
    def of(cls, item: str, n_a: int, pairs: dict[str, int], size: int, as_of=None) -> "Tally":
        """The tally of an item from all its pairs (a whole `co_purchase` range)."""
        ranked = sorted(((b, n_ab) for b, n_ab in pairs.items() if n_ab > 0), key=rank)
        return cls(item, n_a, dict(ranked[:size]), ranked[size][1] if len(ranked) > size else 0, as_of)

    def counted(self, batch: "BatchCounts", before: dict[str, int], upto, k: int, size: int) -> "Tally | None":
        """This tally (exact before the batch) with the batch counted in; None when the top K can't be told.
        `before`: n_b before the batch, for the items it is known of."""
        counts, floor = dict(self.counts), self.floor
        for b, more in batch.pairs[self.item].items():
            if b in counts:
                counts[b] += more
            elif not self.floor or before.get(b, self.floor) == 0:
                counts[b] = more  # b was bought with a in no order before
            else:
                floor = max(floor, min(self.floor, before.get(b, self.floor)) + more)
        ranked = sorted(counts.items(), key=rank)
        floor = max(floor, ranked[size][1] if len(ranked) > size else 0)
        if floor and (len(ranked) < k or floor >= ranked[k - 1][1]):
            return None  # an item outside the counts might now belong in the top K
        return Tally(self.item, self.n_a + batch.orders[self.item], dict(ranked[:size]), floor, upto, self.rev)

    def as_doc(self) -> dict:
        return {"_id": TALLY_PREFIX + self.item, **({"_rev": self.rev} if self.rev else {}), "item": self.item,
                "n_a": self.n_a, "counts": [[b, n_ab] for b, n_ab in self.counts.items()], "floor": self.floor,
                "as_of": self.as_of}

    @classmethod
    def from_doc(cls, doc: dict) -> "Tally":
        return cls(doc["item"], doc["n_a"], {b: n_ab for b, n_ab in doc["counts"]}, doc["floor"], doc.get("as_of"),
                   doc.get("_rev"))


@dataclass
class BatchCounts:
    """What a batch of orders adds: per item, its orders, and the orders holding it with each other item."""

    orders: Counter = field(default_factory=Counter)
    pairs: dict[str, Counter] = field(default_factory=dict)

    @classmethod
    def of(cls, orders: list[list[str]]) -> "BatchCounts":
        batch = cls()
        for items in orders:
            batch.orders.update(items)
            paired = paired_items(items)
            for a in paired:
                batch.pairs.setdefault(a, Counter()).update(b for b in paired if b != a)
        for item in batch.orders:
            batch.pairs.setdefault(item, Counter())
        return batch


def read_tallies(target: Couch, items: list[str]) -> dict[str, Tally]:
    """The stored tallies of `items` (none for a missing lists database)."""
    try:
        docs = target.get_docs(TALLY_PREFIX + item for item in items)
    except CouchError as exc:
        if exc.status == 404:
            return {}
        raise
    return {doc["item"]: Tally.from_doc(doc) for doc in docs.values()}


def updated_tallies(couch: Couch, target: Couch, orders: list[list[str]], upto, *, k: int, size: int,
                    owns: Callable[[str], bool], couchdb: bool,
                    from_views: Callable[[list[str]], list[Tally]] | None = None) -> list[Tally]:
    """The tallies (of `size` counts, at least k) of the items in `orders` that this worker `owns`, the batch
    of the feed that ends at position `upto`, brought to it. `from_views`, on a cluster: how tallies are read
    instead of as of `upto` (a view's seq and the feed can come from different shard copies there), with no
    position; the settle pass reads every item of the batch again anyway."""
    batch = BatchCounts.of(orders)
    items = sorted(item for item in batch.orders if owns(item))
    stored = read_tallies(target, items)
    usable = {item: one for item, one in stored.items() if one.as_of is not None}
    before = {item: one.n_a - (batch.orders[item] if one.as_of == upto else 0) for item, one in usable.items()}
    asof = AsOf(couch, upto, couchdb=couchdb)
    missing = [item for item in items if item not in usable]
    now = counts_as_of(couch, asof, missing) if from_views is None else {}
    new = {item for item in now if now[item] == batch.orders[item]}  # every order of it is in the batch
    before.update(dict.fromkeys(new, 0))
    done, again = [], []
    for item in items:
        one = usable.get(item) or (Tally(item, 0, {}, 0, rev=stored[item].rev if item in stored else None)
                                   if item in new else None)
        if one is not None and one.as_of == upto:
            done.append(one)  # a replayed batch this tally already counts; written again with its list
            continue
        forward = one.counted(batch, before, upto, k, size) if one is not None else None
        if forward is None:
            again.append(item)
        else:
            done.append(forward)
    revs = {item: stored[item].rev for item in again if item in stored}
    if from_views is not None:
        return done + [Tally(one.item, one.n_a, one.counts, one.floor, None, revs.get(one.item))
                       for one in from_views(again)]
    return done + tallies_as_of(couch, asof, again, now, size, revs=revs)


def counts_as_of(couch: Couch, asof: AsOf, items: list[str]) -> dict[str, int]:
    """n_a of `items` as of the AsOf's position (items never bought are left out)."""
    if not items:
        return {}
    body = couch.query_view("recommend", "item_purchases", group=True, keys=items, update_seq=True, update="lazy")
    counts = Counter({row["key"]: row["value"] for row in body["rows"] if row.get("value")})
    beyond, behind = asof.correction(body["update_seq"])
    wanted = set(items)
    for order, sign in [(order, -1) for order in beyond] + [(order, 1) for order in behind]:
        for item in order:
            if item in wanted:
                counts[item] += sign
    return {item: count for item, count in counts.items() if count > 0}


def tallies_as_of(couch: Couch, asof: AsOf, items: list[str], n_a: dict[str, int], size: int,
                  revs: dict[str, str]) -> list[Tally]:
    """The tallies of `items` from their whole `co_purchase` ranges, brought back to the AsOf's position.
    `n_a`: their counts there, where known. A torn read (a cluster's shard copies at different points)
    is kept with no position, so the next batch touching it reads it again; the settle pass fixes it."""
    if not items:
        return []
    n_a = {**counts_as_of(couch, asof, [item for item in items if item not in n_a]), **n_a}

    def whole(item: str) -> Tally:
        body = couch.query_view("recommend", "co_purchase", group=True, startkey=[item], endkey=[item, {}],
                                update_seq=True, update="lazy")
        pairs = Counter({row["key"][1]: row["value"] for row in body["rows"]})
        beyond, behind = asof.correction(body["update_seq"])
        for order, sign in [(order, -1) for order in beyond] + [(order, 1) for order in behind]:
            paired = paired_items(order)
            if item in paired:
                for b in paired:
                    if b != item:
                        pairs[b] += sign
        one = Tally.of(item, n_a.get(item, 0), pairs, size, asof.seq)
        one.rev = revs.get(item)
        if not one.consistent:
            one.as_of = None
        return one

    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        return list(pool.map(whole, items))
