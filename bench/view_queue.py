"""View updater: `_design/recommend` built over the grocery profile's orders with CouchDB 3.5.0's
`[view_updater]` defaults, with 3.5.2's (a 10 MB `queue_memory_cap`), and with larger writer batches
(`min_writer_items`, `min_writer_size`: how many documents' rows the updater gathers before it writes
them into the B-trees), alternating in one run on one server (each build reads the settings when it
starts); CouchDB only, as an admin."""

from __future__ import annotations

import statistics

from bench.common import Size, build_seconds, fresh_db, write_all
from bench.growth import index_sizes
from loader.couchdb.couch import Couch
from loader.couchdb.serverconfig import QUEUE_DEFAULT_BEFORE_352, QUEUE_FAST
from loader.devtools.generate import generate

ORDERS = {"smoke": 600, "full": 15_000}
CONFIG = "_node/_local/_config/view_updater"
DEFAULTS = {"queue_memory_cap": QUEUE_FAST, "min_writer_items": 100, "min_writer_size": 16_777_216}
SETTINGS = {
    "3.5.0 defaults": {**DEFAULTS, "queue_memory_cap": QUEUE_DEFAULT_BEFORE_352},
    "3.5.2 defaults": DEFAULTS,
    "writer batches of 1,000 documents": {**DEFAULTS, "min_writer_items": 1_000},
    "writer batches of 10,000 documents": {**DEFAULTS, "min_writer_items": 10_000, "min_writer_size": 67_108_864},
}


def configure(server: Couch, settings: dict[str, int]) -> dict[str, str | None]:
    """Set the updater's settings; return what they were (None: unset)."""
    before = {}
    for name, value in settings.items():
        answer = server.request("PUT", f"{CONFIG}/{name}", json=str(value), ok=(200,))
        before[name] = answer.json() or None
    return before


def restore(server: Couch, before: dict[str, str | None]) -> None:
    for name, value in before.items():
        if value is None:
            server.request("DELETE", f"{CONFIG}/{name}", ok=(200, 404))
        else:
            server.request("PUT", f"{CONFIG}/{name}", json=value)


def run(url: str, size: Size) -> dict:
    server = Couch(url, "_")
    if not server.is_couchdb():
        return {"skipped": "the view updater's settings are CouchDB's"}
    if server.request("GET", CONFIG, ok=(200, 401, 403)).status_code != 200:
        return {"skipped": "setting the view updater needs an admin in COUCHDB_URL"}
    orders = [doc for doc in generate(seed=19, orders=ORDERS[size.name], profile="grocery")
              if doc["log_type"] in ("checkout", "purchase")]
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    before = configure(server, DEFAULTS)
    try:
        for _ in range(size.runs):
            for name, settings in SETTINGS.items():
                configure(server, settings)
                with fresh_db(url, prefix="updater") as couch:
                    write_all(couch, orders)
                    seconds = build_seconds(couch, "recommend")
                    runs[name].append({"seconds": round(seconds, 1), **(index_sizes(couch, "recommend") or {})})
    finally:
        restore(server, before)
    rows = []
    for name, found in runs.items():
        medians = {key: statistics.median(run[key] for run in found) for key in found[0]}
        rows.append({"name": name, "settings": SETTINGS[name], **medians,
                     "orders_per_second": round(len(orders) / medians["seconds"], 1), "all_runs": found})
    return {"orders": len(orders), "runs": size.runs, "rows": rows}


def markdown(result: dict) -> list[str]:
    if "skipped" in result:
        return [f"Not measured: {result['skipped']}."]
    lines = [f"{result['orders']:,} orders, medians of {result['runs']} alternating runs.", "",
             "| settings | queue_memory_cap | min_writer_items | min_writer_size | build s | orders/s | "
             "index file MiB | live MiB |", "|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        s = row["settings"]
        lines.append(f"| {row['name']} | {s['queue_memory_cap']:,} | {s['min_writer_items']:,} | "
                     f"{s['min_writer_size']:,} | {row['seconds']} | {row['orders_per_second']} | "
                     f"{row.get('file_mib', '—')} | {row.get('live_mib', '—')} |")
    return lines
