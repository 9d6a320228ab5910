"""The best sellers: the P most bought items and their order counts, one document beside the neighbour lists.

A recommendation list shorter than asked for is topped up with best sellers. Ranking them
from the views means reading the whole grouped `item_purchases` view, one row per product
(16,145 rows, ~0.5 s on CouchDB on the benchmark's data), and the view cache keeps that
answer only while the log database is unchanged: on a shop taking logs every second, every
top-up paid the full read. The worker keeps this document with the lists instead: each
batch's items' n_a (the lists it writes carry them) merged in and cut back to the top P.
That is exact for the same reason the lists are: counts only grow, and an item outside the
top P rises only with an order of its own, whose batch merges its new count in. A top-up
then costs one small document read.

Several workers sharing the lists (loader/derived/shards.py) keep one document each, for the items they
own; a reader merges them. Every item is one shard's, so the first P of the merged counts are the
exact top P whenever every shard's document is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from loader.couchdb.couch import Couch
from loader.derived.shards import EVERY_ITEM, Shard
from loader.recommendations.purchases import all_purchase_counts
from loader.recommendations.ranking import by_count

BEST_SELLERS_ID = "best-sellers"  # list ids all start with "n:", so this one can't be an item's
DEFAULT_P = 1000  # ≥ the largest cart (500) plus the largest limit (100), so a top-up is always answered


@dataclass
class BestSellers:
    counts: dict[str, int]  # item -> orders holding it, the P largest, in rank order
    complete: bool  # True while every item ever bought is here
    rev: str | None = None  # the stored revision this was read from, if it was
    shard: Shard = EVERY_ITEM  # whose items these are

    @classmethod
    def from_counts(cls, counts: dict[str, int], p: int = DEFAULT_P) -> "BestSellers":
        order = by_count(counts)
        return cls({item: counts[item] for item in order[:p]}, len(order) <= p)

    def merged(self, counts: dict[str, int], p: int = DEFAULT_P) -> "BestSellers":
        """These best sellers with newer counts of some items; a lower count than the stored one (a lagging
        shard copy) loses, since counts only grow."""
        union = dict(self.counts)
        for item, count in counts.items():
            union[item] = max(union.get(item, 0), count)
        merged = BestSellers.from_counts(union, p)
        return BestSellers(merged.counts, self.complete and merged.complete, self.rev, self.shard)

    def top(self, limit: int, exclude: set[str]) -> list[tuple[str, int]] | None:
        """The `limit` best sellers not in `exclude`, or None when the P stored can't tell (an item past
        them might belong)."""
        found = [(item, count) for item, count in self.counts.items() if item not in exclude][:limit]
        return found if len(found) == limit or self.complete else None

    def as_doc(self) -> dict:
        return {"_id": BEST_SELLERS_ID + self.shard.suffix, **({"_rev": self.rev} if self.rev else {}),
                "complete": self.complete, "items": [[item, count] for item, count in self.counts.items()],
                "shard": [self.shard.index, self.shard.count], "written_at": time.time()}

    @classmethod
    def from_doc(cls, doc: dict) -> "BestSellers":
        return cls({item: count for item, count in doc["items"]}, doc["complete"], doc.get("_rev"),
                   Shard(*doc.get("shard", (0, 1))))


def merged_shards(parts: list[BestSellers]) -> BestSellers:
    """The best sellers of every shard's items, from each shard's: the union cut to the fewest any incomplete
    shard kept (each holds its own top P, so the union's first that many are exact)."""
    union = {item: count for part in parts for item, count in part.counts.items()}
    kept = min((len(part.counts) for part in parts if not part.complete), default=len(union))
    return BestSellers({item: union[item] for item in by_count(union, kept)}, all(part.complete for part in parts))


def read_best_sellers(target: Couch) -> BestSellers | None:
    """The stored best sellers, merged from every shard's document; None before a worker or a rebuild has
    written them (or with no lists database). With documents of several configurations (the number of
    workers changed), the most recently written one that has all its shards is read."""
    rows = target.db_request("GET", "_all_docs", ok=(200, 404), params={
        "startkey": json.dumps(BEST_SELLERS_ID), "endkey": json.dumps(BEST_SELLERS_ID + "\ufff0"),
        "include_docs": "true"}).json()
    by_workers: dict[int, list[dict]] = {}  # documents by the worker count they were written for
    for doc in (row["doc"] for row in rows.get("rows", []) if row.get("doc")):
        by_workers.setdefault(doc.get("shard", (0, 1))[1], []).append(doc)
    whole = [docs for count, docs in by_workers.items() if {doc.get("shard", (0, 1))[0] for doc in docs} == set(range(count))]
    if not whole:
        return None
    newest = max(whole, key=lambda docs: min(doc.get("written_at", 0) for doc in docs))
    parts = [BestSellers.from_doc(doc) for doc in newest]
    return parts[0] if len(parts) == 1 else merged_shards(parts)


def with_counts(couch: Couch, target: Couch, counts: dict[str, int], p: int = DEFAULT_P,
                shard: Shard = EVERY_ITEM, every: dict[str, int] | None = None) -> BestSellers:
    """A shard's stored best sellers with these newer counts merged in. With none stored yet (a new lists
    database, or lists written before best sellers were kept) they are made from every count of the shard's
    items in the views, once (`every`, when the caller has just read them: 30 s at a million orders)."""
    doc = target.get_doc(BEST_SELLERS_ID + shard.suffix)  # None for a missing document and a missing database alike
    if doc is None:
        every = every if every is not None else all_purchase_counts(couch.query_view)
        stored = BestSellers.from_counts({item: n for item, n in every.items() if shard.owns(item)}, p)
        stored.shard = shard
    else:
        stored = BestSellers.from_doc(doc)
    return stored.merged(counts, p)
