"""A neighbour list as the lists database stores it: the document `n:<item>` and its tally's stored form."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loader.recommendations.ranking import by_count
from loader.recommendations.tally import Tally

PREFIX = "n:"  # item ids may start with "_", document ids may not


@dataclass
class NeighbourList:
    item: str
    n_a: int
    orders: int
    neighbours: dict[str, int]  # b -> n_ab, the K largest
    complete: bool  # False when a has more than K co-bought items
    rev: str | None = None  # the stored revision this list was read from, if it was
    reserve: dict[str, int] = field(default_factory=dict)  # kept past the K shown (a tally's)
    bound: int | None = None  # no item outside neighbours and reserve was bought with a more often; None: no tally
    epoch: str | None = None  # the rebuild the tally descends from (the worker's checkpoint names its own)
    batch: str | None = None  # the last batch added to the tally (a replayed batch is not added twice)

    @property
    def consistent(self) -> bool:
        """No n_ab can exceed n_a: a list breaking that was read from two shard copies at different points."""
        return self.n_a >= max(self.neighbours.values(), default=0)

    def as_doc(self) -> dict:
        tally = {"reserve": by_level(self.reserve), "bound": self.bound, "epoch": self.epoch,
                 "batch": self.batch} if self.bound is not None else {}
        return {"_id": PREFIX + self.item, **({"_rev": self.rev} if self.rev else {}), "item": self.item,
                "n_a": self.n_a, "orders": self.orders, "complete": self.complete,
                "neighbours": [[b, n_ab] for b, n_ab in self.neighbours.items()], **tally, "computed_at": time.time()}

    @classmethod
    def from_doc(cls, doc: dict) -> "NeighbourList":
        return cls(doc["item"], doc["n_a"], doc["orders"], {b: n_ab for b, n_ab in doc["neighbours"]}, doc["complete"],
                   doc.get("_rev"), from_levels(doc.get("reserve", [])), doc.get("bound"),
                   doc.get("epoch"), doc.get("batch"))

    @classmethod
    def from_tally(cls, item: str, tally: Tally, orders: int, k: int, *, epoch: str | None,
                   batch: str | None = None, rev: str | None = None) -> "NeighbourList":
        ranked = by_count(tally.kept)
        return cls(item, tally.n_a, orders, {b: tally.kept[b] for b in ranked[:k]},
                   tally.bound == 0 and len(ranked) <= k, rev, {b: tally.kept[b] for b in ranked[k:]}, tally.bound,
                   epoch, batch)

    @property
    def tally(self) -> Tally:
        return Tally(self.n_a, {**self.neighbours, **self.reserve}, self.bound or 0)


def by_level(counts: dict[str, int]) -> list[list]:
    """A tally's reserve as stored: [[n_ab, [b, ...]], ...], one entry a count. Hundreds of neighbours share a
    few low counts, and CouchDB writes and reads these documents about 1.5 times as fast as one [b, n_ab]
    pair a neighbour (docs/decisions.md)."""
    levels: dict[int, list[str]] = {}
    for b, n_ab in counts.items():
        levels.setdefault(n_ab, []).append(b)
    return [[n_ab, levels[n_ab]] for n_ab in sorted(levels, reverse=True)]


def from_levels(stored: list[list]) -> dict[str, int]:
    """by_level read back; a reserve stored by an earlier couchrec, one [b, n_ab] pair a neighbour, too."""
    counts: dict[str, int] = {}
    for first, second in stored:
        if isinstance(second, list):
            counts.update(dict.fromkeys(second, first))
        else:
            counts[first] = second
    return counts
