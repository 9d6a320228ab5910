"""One item's co-purchase counts as the worker keeps them on a single node: exact at the worker's place in
`_changes`, brought forward by the batch's own counts, so a batch reads only the pair totals that could
change a list's top K.

A tally holds n_a, the neighbours `kept` (every one with its exact n_ab) and a `bound`: no item outside
`kept` has been bought with a more than `bound` times (0: `kept` is every item ever bought with a). The
top K shown is the top K of `kept` while its K-th count is above the bound. A batch adds its counts to
the kept neighbours; an item b new to `kept` is known exactly when a's tally is complete, when b is
new, or when b's own tally keeps a or is complete; otherwise n_ab is at most min(a's bound, b's bound,
n_b) plus the batch's count, and only when that could reach the K-th count is the total read. What is
not read raises the bound; the kept neighbours are cut back to `keep`, between two counts, the cut ones
raising the bound.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

from loader.recommendations.orders import order_pairs
from loader.recommendations.ranking import by_count

Pair = tuple[str, str]  # (a, b) with a < b, as orders.order_pairs gives them
ReadTotals = Callable[[list[Pair]], dict[Pair, int]]  # exact n_ab at the batch's end, for the pairs asked


@dataclass
class Tally:
    n_a: int
    kept: dict[str, int]  # b -> n_ab
    bound: int  # every b not kept has n_ab <= bound; 0: kept is every co-bought item

    def kth(self, k: int) -> int:
        """The k-th largest kept count (0 when fewer are kept)."""
        counts = sorted(self.kept.values(), reverse=True)
        return counts[k - 1] if len(counts) >= k else 0

    def at_most(self, b: str) -> int:
        """The most a and b can have been bought together, from this tally alone."""
        return self.kept.get(b, self.bound)


def cut_at(counts: Sequence[int], k: int, keep: int) -> tuple[int, int]:
    """Of a neighbour list ranked by count (largest first, any sequence: a list or a numpy array), how many
    a tally keeps, and its bound: at least every one whose count reaches the k-th, and up to `keep` in all
    where that cuts between two different counts; the bound is the largest count left out."""
    if len(counts) <= max(k, keep):
        return len(counts), 0
    end = max(keep, at_least(counts, counts[k - 1]))
    if end < len(counts) and counts[end] == counts[end - 1]:
        end = at_least(counts, counts[end] + 1)
    return (end, int(counts[end])) if end < len(counts) else (len(counts), 0)


def at_least(counts: Sequence[int], floor: int) -> int:
    """How many of `counts` (largest first) are `floor` or more."""
    return bisect_right(counts, -floor, key=lambda n: -n)


def cut(ranked: list[tuple[str, int]], k: int, keep: int) -> Tally:
    """A tally of these neighbours, ranked by count (largest first), cut as cut_at says (n_a left 0)."""
    end, bound = cut_at([n for _, n in ranked], k, keep)
    return Tally(0, dict(ranked[:end]), bound)


@dataclass
class BatchCounts:
    """A batch of orders counted: each item's orders, each pair's (orders.order_pairs), the orders."""

    n: Counter
    pairs: Counter
    orders: int

    @classmethod
    def of(cls, orders: list[list[str]]) -> "BatchCounts":
        return cls(Counter(item for order in orders for item in order),
                   Counter(pair for order in orders for pair in order_pairs(order)), len(orders))

    @cached_property
    def with_item(self) -> dict[str, dict[str, int]]:
        """Each item's batch counts with every other item it was paired with here."""
        by_item: dict[str, dict[str, int]] = {}
        for (a, b), n in self.pairs.items():
            by_item.setdefault(a, {})[b] = n
            by_item.setdefault(b, {})[a] = n
        return by_item

    def before(self, tally: Tally, item: str) -> Tally:
        """A tally this batch was already added to, as it was before (a replayed batch)."""
        added = self.with_item.get(item, {})
        return Tally(tally.n_a - self.n[item], {b: n - added.get(b, 0) for b, n in tally.kept.items()}, tally.bound)


def advance(old: dict[str, Tally | None], batch: BatchCounts, read: ReadTotals, *,
            k: int, keep: int) -> tuple[dict[str, Tally], int]:
    """The tallies of the items of `old` after `batch`, from their tallies before it (None: an item never
    bought before; an item of the batch not in `old` at all is one whose tally is not known here, kept by
    another worker) and the totals `read` gives for the pairs that need one; with how many pairs were
    read."""
    added = batch.with_item
    fresh: dict[str, Tally] = {}
    doubtful: dict[str, dict[str, int]] = {}  # a -> b -> the most n_ab can be now
    for a, before in old.items():
        if before is None:
            fresh[a] = Tally(batch.n[a], dict(added.get(a, {})), 0)
            continue
        kept = {b: n + added.get(a, {}).get(b, 0) for b, n in before.kept.items()}
        for b, n in added.get(a, {}).items():
            if b in kept:
                continue
            other = old.get(b)
            if before.bound == 0 or (b in old and other is None):
                kept[b] = n  # never bought together before
            elif other is not None and a in other.kept:
                kept[b] = other.kept[a] + n
            elif other is not None and other.bound == 0:
                kept[b] = n  # b's tally is complete without a: never bought together before
            else:  # b's tally unknown here: a's bound alone
                most = min(before.bound, other.bound, other.n_a) if other is not None else before.bound
                doubtful.setdefault(a, {})[b] = most + n
        fresh[a] = Tally(before.n_a + batch.n[a], kept, before.bound)
    wanted = {a: {b for b, most in maybe.items() if most >= fresh[a].kth(k)} for a, maybe in doubtful.items()}
    asked = sorted({(a, b) if a < b else (b, a) for a, bs in wanted.items() for b in bs})
    totals = read(asked) if asked else {}
    for a, maybe in doubtful.items():
        tally = fresh[a]
        for b, most in maybe.items():
            if b in wanted[a]:
                tally.kept[b] = totals.get((a, b) if a < b else (b, a), 0)
            else:
                tally.bound = max(tally.bound, most)
    for a, tally in fresh.items():
        if len(tally.kept) > max(k, keep):
            trimmed = cut([(b, tally.kept[b]) for b in by_count(tally.kept)], k, keep)
            tally.kept, tally.bound = trimmed.kept, max(tally.bound, trimmed.bound)
    return fresh, len(asked)
