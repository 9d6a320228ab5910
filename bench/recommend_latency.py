"""Item recommendations through the service vs the raw CouchDB view query they make.

Loads the orders of a generated shop into a fresh database (the co-purchase
views are built from checkout and purchase logs only), builds the views, starts
the service under gunicorn, and for N distinct items times:
  raw range    GET co_purchase?group=true&startkey=[a]&endkey=[a,{}] straight to CouchDB
  raw all      that, plus the other queries the request makes (purchase counts, best sellers)
  service      GET /recommendations/items/<a> (first ask: nothing cached)
  cached       the same request again (the view answers come from the service's cache)
Prints medians and p95, writes bench/results/recommend_latency.json.

    COUCHDB_URL=http://127.0.0.1:5985 .venv/bin/python bench/recommend_latency.py [--orders 10000] [--items 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests

from loader.couch import Couch, encode_view_params
from loader.designdocs import compile_all, install_all, warm_views
from loader.generate import generate
from loader.ingest import PendingLog, write_logs
from loader.bulk import chunks
from tests.servers import LiveService

RESULTS = Path(__file__).resolve().parent / "results" / "recommend_latency.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_get(session: requests.Session, url: str, **kwargs) -> float:
    started = time.perf_counter()
    session.get(url, timeout=60, **kwargs).raise_for_status()
    return (time.perf_counter() - started) * 1000


def raw_queries(session: requests.Session, views_url: str, item: str) -> tuple[float, float]:
    """Issue straight to CouchDB the queries an item recommendation makes (default score, limit 10):
    the co-purchase range, the purchase counts of the item and its partners, and the best sellers
    when fewer than 10 partners fill the list. Return (range query ms, all queries ms)."""
    started = time.perf_counter()
    range_params = encode_view_params({"group": True, "startkey": [item], "endkey": [item, {}]})
    rows = session.get(f"{views_url}/co_purchase", params=range_params, timeout=60).json()["rows"]
    first = (time.perf_counter() - started) * 1000
    partners = sorted({row["key"][1] for row in rows} | {item})
    session.post(f"{views_url}/item_purchases", params={"group": "true"}, json={"keys": partners}, timeout=60)
    if len(partners) - 1 < 10:
        session.get(f"{views_url}/item_purchases", params={"group": "true"}, timeout=60)
    return first, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="Orders in the generated shop (default 10000).")
    parser.add_argument("--items", type=int, default=200, help="Distinct items to ask for (default 200).")
    args = parser.parse_args()
    url = os.environ.get("COUCHDB_URL", "http://127.0.0.1:5984").rstrip("/")
    couch = Couch(url, f"couchrec_bench_{uuid.uuid4().hex[:8]}", timeout=600)
    orders = [d for d in generate(seed=42, orders=args.orders) if d["log_type"] in ("checkout", "purchase")]
    try:
        started = time.monotonic()
        install_all(couch, compile_all())
        for batch in chunks(orders, 1000):
            write_logs(couch, [PendingLog(d["_id"], {k: v for k, v in d.items() if k != "_id"}) for d in batch])
        warm_views(couch, compile_all(), say=print, timeout=7200)
        build_seconds = time.monotonic() - started
        items = [row["key"] for row in couch.query_view("recommend", "item_purchases", group=True)["rows"]]
        items = sorted(items)[: args.items]
        service = LiveService(url, couch.db, workers=1, threads=4)  # one process: one cache
        session = requests.Session()
        try:
            raw, raw_all, served, cached = [], [], [], []
            for item in items:
                first, total = raw_queries(session, f"{url}/{couch.db}/_design/recommend/_view", item)
                raw.append(first)
                raw_all.append(total)
                served.append(timed_get(session, f"{service.url}/recommendations/items/{item}"))
            for item in items:
                cached.append(timed_get(session, f"{service.url}/recommendations/items/{item}"))
        finally:
            service.stop()
        server = couch.server_info()
        report = {
            "orders": args.orders, "order_logs": len(orders), "items_asked": len(items),
            "load_and_index_seconds": round(build_seconds, 1),
            "database": f"{server.vendor} {server.version}", "python": platform.python_version(),
            "cores": os.cpu_count(),
            "ms": {name: {"median": statistics.median(v), "p95": percentile(v, 0.95)}
                   for name, v in (("raw_view_query", raw), ("raw_all_queries", raw_all),
                                   ("service_uncached", served), ("service_cached", cached))},
        }
        medians = {name: figures["median"] for name, figures in report["ms"].items()}
        report["ratio_uncached_to_range_query"] = medians["service_uncached"] / medians["raw_view_query"]
        report["ratio_uncached_to_all_queries"] = medians["service_uncached"] / medians["raw_all_queries"]
        report["ratio_cached_to_range_query"] = medians["service_cached"] / medians["raw_view_query"]
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{args.orders} orders ({len(orders)} order logs) on {report['database']}, {len(items)} items; "
              f"loaded and indexed in {build_seconds:.0f} s")
        print(f"{'path':<22} {'median ms':>10} {'p95 ms':>8}")
        for name, figures in report["ms"].items():
            print(f"{name:<22} {figures['median']:>10.1f} {figures['p95']:>8.1f}")
        print(f"service uncached / raw range query: {report['ratio_uncached_to_range_query']:.2f}; "
              f"/ all its raw queries: {report['ratio_uncached_to_all_queries']:.2f}; "
              f"service cached / raw range query: {report['ratio_cached_to_range_query']:.2f}")
    finally:
        couch.delete_db()


if __name__ == "__main__":
    sys.exit(main())
