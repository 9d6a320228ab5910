"""Rebuilding the neighbour lists: one range per item against one streaming pass over the grouped view.

On the grocery profile's orders, reads only (nothing written), alternated run by run on the same
data: every item's pairs read with one grouped `co_purchase` range per item (4 threads, as
`compute_lists` reads them for the worker), and with one pass over the whole grouped view in pages
of 10,000 rows (`stream_lists`, as a rebuild reads them); then one whole `couchrec neighbours
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
from loader.couchdb.couch import Couch, chunks
from loader.recommendations.neighbours import DEFAULT_K, lists_db, read_lists, rebuild, stream_lists
from loader.recommendations.purchases import all_purchase_counts, order_count

RESULTS = Path(__file__).parent / "results" / "couchdb"


EVERY_PAIR = 10 ** 9  # a K no item reaches: every pair kept, so both ways count the same rows


def by_ranges(couch: Couch, items: list[str]) -> int:
    """Every item's pairs read with one range per item, 200 items a part; return the pairs read."""
    return sum(len(one.neighbours) for part in chunks(items, 200) for one in read_lists(couch, part, EVERY_PAIR))


def by_stream(couch: Couch, items: list[str]) -> int:
    """Every item's pairs read from one pass over the grouped view; return the pairs read."""
    lists = stream_lists(couch, items, all_purchase_counts(couch.query_view), order_count(couch.query_view), EVERY_PAIR)
    return sum(len(one.neighbours) for one in lists)


def run(couch: Couch, runs: int) -> dict:
    items = list(all_purchase_counts(couch.query_view))
    seconds: dict[str, list[float]] = {"ranges": [], "stream": []}
    pairs = {}
    for number in range(runs):
        for name, read in (("ranges", by_ranges), ("stream", by_stream))[:: 1 if number % 2 == 0 else -1]:
            started = time.monotonic()
            pairs[name] = read(couch, items)
            seconds[name].append(time.monotonic() - started)
    assert pairs["ranges"] == pairs["stream"], pairs
    lists_db(couch).delete_db()
    started = time.monotonic()
    done = rebuild(couch)
    rebuild_seconds = time.monotonic() - started
    return {"items": len(items), "pair_rows": pairs["stream"], "runs": runs,
            **{name: {"seconds": [round(s, 1) for s in values], "median_s": round(statistics.median(values), 1),
                      "rows_per_s": round(pairs[name] / statistics.median(values))}
               for name, values in seconds.items()},
            "rebuild": {"lists": done.items, "seconds": round(rebuild_seconds, 1), "k": DEFAULT_K,
                        "rows_per_s": round(pairs["stream"] / rebuild_seconds)}}


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
