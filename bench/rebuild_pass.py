"""Rebuilding the neighbour lists: every pair from the grouped `co_purchase` view against every pair
counted from the orders.

On the grocery profile's orders, reads only (nothing written), alternated run by run on the same
data: one pass over the whole grouped view in pages of 10,000 rows (how rebuilds read until
pair counting from the orders replaced it), and one pass over the orders in `_changes` with the pairs
counted from them (`OrderCounts`, as a rebuild reads them now); then one whole `couchrec neighbours
rebuild` (`loader.recommendations.neighbours.rebuild`). Run it with
`COUCHDB_URL=… .venv/bin/python -m bench.rebuild_pass --orders 15000 --runs 3`; `--keep` leaves the
database for another run (`--db NAME` reuses one, loaded and built).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.common import machine
from bench.neighbours import load_orders, wait_for_views
from loader.couchdb.couch import Couch
from loader.recommendations.neighbours import DEFAULT_K, lists_db, rebuild
from loader.recommendations.pair_counts import OrderCounts

RESULTS = Path(__file__).parent / "results" / "couchdb"
VIEW_PAGE = 10_000
EVERY_PAIR = 10 ** 9  # a K no item reaches: every pair kept, so both ways count the same pairs


def from_view(couch: Couch) -> int:
    """Every grouped `co_purchase` row, in pages; return the pairs read."""
    params: dict = {}
    pairs = 0
    while True:
        rows = couch.query_view("recommend", "co_purchase", group=True, limit=VIEW_PAGE, **params)["rows"]
        pairs += len(rows)
        if len(rows) < VIEW_PAGE:
            return pairs
        params = {"startkey": rows[-1]["key"], "skip": 1}


def from_orders(couch: Couch) -> int:
    """Every order read, every pair counted; return the pairs counted."""
    counts = OrderCounts.read(couch)
    try:
        return sum(len(tally.kept) for _, tally in counts.lists(sorted(counts.n_a), EVERY_PAIR, EVERY_PAIR))
    finally:
        counts.close()


def run(couch: Couch, runs: int) -> dict:
    seconds: dict[str, list[float]] = {"view": [], "orders": []}
    pairs = {}
    for number in range(runs):
        for name, read in (("view", from_view), ("orders", from_orders))[:: 1 if number % 2 == 0 else -1]:
            started = time.monotonic()
            pairs[name] = read(couch)
            seconds[name].append(time.monotonic() - started)
    assert pairs["view"] == pairs["orders"], pairs
    lists_db(couch).delete_db()
    started = time.monotonic()
    done = rebuild(couch)
    rebuild_seconds = time.monotonic() - started
    return {"pair_rows": pairs["view"], "runs": runs,
            **{name: {"seconds": [round(s, 1) for s in values], "median_s": round(statistics.median(values), 1),
                      "pairs_per_s": round(pairs[name] / statistics.median(values))}
               for name, values in seconds.items()},
            "rebuild": {"lists": done.items, "seconds": round(rebuild_seconds, 1), "k": DEFAULT_K}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=15_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="Reuse this database (orders loaded, views built).")
    parser.add_argument("--keep", action="store_true", help="Leave the database for another run.")
    args = parser.parse_args()
    url = os.environ["COUCHDB_URL"].rstrip("/")
    couch = Couch(url, args.db or f"bench_rebuild_pass_{args.orders}", timeout=3600)
    if not args.db:
        couch.ensure_db()
        load_orders(couch, args.orders)
    wait_for_views(couch)
    try:
        result = {"machine": machine(couch), "orders": args.orders,
                  "load_average_at_start": [round(value, 1) for value in os.getloadavg()], **run(couch, args.runs),
                  "load_average_at_end": [round(value, 1) for value in os.getloadavg()]}
    finally:
        if not args.keep:
            lists_db(couch).delete_db()
            couch.delete_db()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"rebuild_pass_{args.orders}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({key: value for key, value in result.items() if key != "machine"}, indent=2))


if __name__ == "__main__":
    main()
