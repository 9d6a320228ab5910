"""View-updater queue: `_design/recommend` built over the grocery profile's orders with CouchDB 3.5.0's
`[view_updater] queue_memory_cap` (100,000 bytes) and with 3.5.2's (10,485,760), alternating in one run
on one server (the setting is read when a build starts); CouchDB only, as an admin."""

from __future__ import annotations

import statistics

from bench.common import Size, build_seconds, fresh_db, write_all
from bench.growth import index_sizes
from loader.couch import Couch
from loader.generate import generate
from loader.serverconfig import QUEUE_DEFAULT_BEFORE_352, QUEUE_FAST

ORDERS = {"smoke": 600, "full": 15_000}
SETTING = "_node/_local/_config/view_updater/queue_memory_cap"


def set_queue(couch: Couch, size: int) -> str:
    """Set the queue's size; return the value it had."""
    return couch.request("PUT", SETTING, json=str(size)).json()


def run(url: str, size: Size) -> dict:
    server = Couch(url, "_")
    if server.server_info().vendor != "couchdb":
        return {"skipped": "the view-updater queue is CouchDB's"}
    if server.request("GET", SETTING, ok=(200, 401, 403, 404)).status_code in (401, 403):
        return {"skipped": "setting the queue needs an admin in COUCHDB_URL"}
    orders = [doc for doc in generate(seed=19, orders=ORDERS[size.name], profile="grocery")
              if doc["log_type"] in ("checkout", "purchase")]
    runs: dict[int, list[dict]] = {QUEUE_DEFAULT_BEFORE_352: [], QUEUE_FAST: []}
    original = set_queue(server, QUEUE_FAST)
    try:
        for _ in range(size.runs):
            for queue in runs:
                set_queue(server, queue)
                with fresh_db(url, prefix="queue") as couch:
                    write_all(couch, orders)
                    seconds = build_seconds(couch, "recommend")
                    runs[queue].append({"seconds": round(seconds, 1), **(index_sizes(couch, "recommend") or {})})
    finally:
        set_queue(server, int(original))
    medians = {queue: {key: statistics.median(run[key] for run in found) for key in found[0]}
               for queue, found in runs.items()}
    return {"orders": len(orders), "runs": size.runs,
            "settings": [{"queue_bytes": queue, **figures, "orders_per_second": round(len(orders) / figures["seconds"], 1),
                          "all_runs": runs[queue]} for queue, figures in medians.items()]}


def markdown(result: dict) -> list[str]:
    if "skipped" in result:
        return [f"Not measured: {result['skipped']}."]
    lines = [f"{result['orders']:,} orders, medians of {result['runs']} alternating runs.", "",
             "| queue_memory_cap | build s | orders/s | index file MiB | live MiB |", "|---|---|---|---|---|"]
    for row in result["settings"]:
        lines.append(f"| {row['queue_bytes']:,} | {row['seconds']} | {row['orders_per_second']} | "
                     f"{row.get('file_mib', '—')} | {row.get('live_mib', '—')} |")
    return lines
