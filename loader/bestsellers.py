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
"""

from __future__ import annotations

from dataclasses import dataclass

from loader.couch import Couch
from loader.purchases import all_purchase_counts

BEST_SELLERS_ID = "best-sellers"  # list ids all start with "n:", so this one can't be an item's
DEFAULT_P = 1000  # ≥ the largest cart (500) plus the largest limit (100), so a top-up is always answered


def ranked(counts: dict[str, int]) -> list[str]:
    """Items by count, most bought first, ties by item id (the order the views' path ranks in)."""
    return sorted(counts, key=lambda item: (-counts[item], item))


@dataclass
class BestSellers:
    counts: dict[str, int]  # item -> orders holding it, the P largest, in rank order
    complete: bool  # True while every item ever bought is here
    rev: str | None = None  # the stored revision this was read from, if it was

    @classmethod
    def from_counts(cls, counts: dict[str, int], p: int = DEFAULT_P) -> "BestSellers":
        order = ranked(counts)
        return cls({item: counts[item] for item in order[:p]}, len(order) <= p)

    def merged(self, counts: dict[str, int], p: int = DEFAULT_P) -> "BestSellers":
        """These best sellers with newer counts of some items; a lower count than the stored one (a lagging
        shard copy) loses, since counts only grow."""
        union = dict(self.counts)
        for item, count in counts.items():
            union[item] = max(union.get(item, 0), count)
        merged = BestSellers.from_counts(union, p)
        return BestSellers(merged.counts, self.complete and merged.complete, self.rev)

    def top(self, limit: int, exclude: set[str]) -> list[tuple[str, int]] | None:
        """The `limit` best sellers not in `exclude`, or None when the P stored can't tell (an item past
        them might belong)."""
        found = [(item, count) for item, count in self.counts.items() if item not in exclude][:limit]
        return found if len(found) == limit or self.complete else None

    def as_doc(self) -> dict:
        return {"_id": BEST_SELLERS_ID, **({"_rev": self.rev} if self.rev else {}), "complete": self.complete,
                "items": [[item, count] for item, count in self.counts.items()]}

    @classmethod
    def from_doc(cls, doc: dict) -> "BestSellers":
        return cls({item: count for item, count in doc["items"]}, doc["complete"], doc.get("_rev"))


def read_best_sellers(target: Couch) -> BestSellers | None:
    """The stored best sellers; None before the worker or a rebuild has written them (or with no lists database)."""
    doc = target.get_doc(BEST_SELLERS_ID)  # None for a missing document and a missing database alike
    return BestSellers.from_doc(doc) if doc else None


def with_counts(couch: Couch, target: Couch, counts: dict[str, int], p: int = DEFAULT_P) -> BestSellers:
    """The stored best sellers with these newer counts merged in. With none stored yet (a new lists database,
    or lists written before best sellers were kept) they are made from every item's count in the views, once."""
    stored = read_best_sellers(target)
    if stored is None:
        stored = BestSellers.from_counts(all_purchase_counts(couch.query_view), p)
    return stored.merged(counts, p)
