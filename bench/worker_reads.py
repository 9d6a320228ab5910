"""What a counting worker must read and write per order, offline: no database, the worker's own rules.

The counting worker (loader/recommendations/tally.py) reads a pair total from `co_purchase` only when a
new neighbour could reach an item's K-th count, and reads and writes the list of every item a batch
holds. Both depend on the batch size and on how many neighbours a tally keeps; both are counts, the
same on any machine, so settings can be compared here before one is timed on CouchDB (bench/growth.py's
worker step). The orders are the growth run's stream (its order files, or generated the same way): the
first `--base` orders make the tallies as a rebuild makes them (pair_counts.OrderCounts), then the next
`--new` orders are added in batches by `advance`, every read answered exactly from the orders.

  .venv/bin/python -m bench.worker_reads --orders-dir /work/run1m/orders --base 1000000 --new 4000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bench.growth import stream_docs
from loader.recommendations.orders import order_items, order_pairs, paired_items
from loader.recommendations.pair_counts import OrderCounts
from loader.recommendations.tally import BatchCounts, Tally, advance

RESULTS = Path(__file__).resolve().parent / "results" / "worker_reads.json"


def orders_from(directory: Path | None, count: int) -> list[list[str]]:
    """The first `count` orders' distinct items: from the growth run's files (in name order) or generated."""
    if directory is None:
        docs = (doc for _, doc in stream_docs(count) if doc["log_type"] in ("checkout", "purchase"))
    else:
        docs = (json.loads(line) for path in sorted(directory.glob("orders-*.ndjson")) for line in path.open())
    found = []
    for doc in docs:
        items = order_items(doc)
        if items:
            found.append(items)
            if len(found) == count:
                break
    return found


class ExactTotals:
    """n_ab over the base orders (from each item's order numbers) and the new orders counted so far."""

    def __init__(self, base: list[list[str]]):
        numbers: dict[str, list[int]] = {}
        for number, items in enumerate(base):
            for item in paired_items(items):
                numbers.setdefault(item, []).append(number)
        self.orders_of = {item: np.array(found, dtype=np.int32) for item, found in numbers.items()}
        self.added: Counter = Counter()

    def add(self, orders: list[list[str]]) -> None:
        self.added.update(pair for items in orders for pair in order_pairs(items))

    def __call__(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        empty = np.empty(0, dtype=np.int32)
        return {(a, b): len(np.intersect1d(self.orders_of.get(a, empty), self.orders_of.get(b, empty),
                                           assume_unique=True)) + self.added[a, b] for a, b in pairs}


def replay(base_counts: OrderCounts, base: list[list[str]], new: list[list[str]], *, batch: int, k: int,
           keep: int) -> dict:
    """Add `new` to tallies made from `base`, `batch` orders at a time: what was read and written."""
    touched = sorted({item for items in new for item in items})
    known = set(base_counts.n_a)
    tallies: dict[str, Tally | None] = {item: None for item in touched if item not in known}
    tallies.update(base_counts.lists([item for item in touched if item in known], k, keep))
    exact = ExactTotals(base)
    asked = lists = entries = 0
    started = time.monotonic()
    for first in range(0, len(new), batch):
        orders = new[first:first + batch]
        counts = BatchCounts.of(orders)
        exact.add(orders)
        fresh, read = advance({item: tallies[item] for item in counts.n}, counts, exact, k=k, keep=keep)
        tallies.update(fresh)
        asked += read
        lists += len(fresh)
        entries += sum(len(tally.kept) for tally in fresh.values())
    return {"batch": batch, "keep": keep, "orders": len(new), "pairs_read_per_order": round(asked / len(new), 2),
            "lists_per_order": round(lists / len(new), 2), "kept_entries_per_order": round(entries / len(new), 1),
            "seconds": round(time.monotonic() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders-dir", type=Path, help="the growth run's orders/ folder (default: generate)")
    parser.add_argument("--base", type=int, default=100_000, help="orders the tallies are made from")
    parser.add_argument("--new", type=int, default=4_000, help="orders added after them, in batches")
    parser.add_argument("--batches", default="500,2000", help="batch sizes to compare")
    parser.add_argument("--keep", default="300", help="neighbours a tally keeps, to compare (3 K is couchrec's)")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    orders = orders_from(args.orders_dir, args.base + args.new)
    base, new = orders[:args.base], orders[args.base:]
    counts = OrderCounts()
    for items in base:
        counts.add({"log_type": "checkout", "items": items})
    counts.seal()
    rows = [replay(counts, base, new, batch=batch, k=args.k, keep=keep)
            for keep in map(int, args.keep.split(",")) for batch in map(int, args.batches.split(","))]
    print(f"{args.base:,} orders in the tallies, {len(new):,} added (k {args.k})")
    print("| batch | keep | pair totals read an order | lists read and written an order | kept neighbours written an order |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['batch']:,} | {row['keep']} | {row['pairs_read_per_order']} | {row['lists_per_order']} | "
              f"{row['kept_entries_per_order']:,} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"base": args.base, "new": len(new), "k": args.k, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
