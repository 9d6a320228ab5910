"""Scaling: a CouchDB 3.5 single node against a 3-node cluster (q=2, n=3), both started here by
`../shared/couchdb/couchdb-local`, on the same generated shop, in the same run: ingestion
(single-document PUTs from concurrent clients, `_bulk_docs`), view build, recommendation and
page-time latency through `couchrec serve`, and, on the cluster, what happens while one node
is down and how long it takes to catch up after its restart.

    .venv/bin/python -m bench.scaling [--orders 400] [--runs 3]   # prints the table, writes bench/results/couchdb/scaling.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import requests

from bench.common import Size, fresh_db, latency, machine, timed_concurrently, write_all
from loader.couchdb.couch import Couch
from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools.couchdb_local import COUCHDB_LOCAL, LocalCouchDB
from loader.devtools.generate import generate
from loader.devtools.live import REPO_DIR, LiveService
from loader.recommendations.recommend import popular

DATABASE = "couchdb"  # the kind this table measures (it starts its own servers), for bench/run.py
CLIENTS = 8
DOWN_WRITES = 500          # documents written (in batches of 50) while a node is down
ORDERS = {"smoke": 100, "full": 400}


def put_throughput(couch: Couch, docs: list[dict]) -> dict:
    session = requests.Session()

    def put(doc):
        session.put(f"{couch.url}/{couch.db}/{doc['_id']}", json={k: v for k, v in doc.items() if k != "_id"},
                    timeout=120).raise_for_status()

    timings, wall = timed_concurrently([lambda d=d: put(d) for d in docs], CLIENTS)
    return {**latency(timings), "docs_per_second": round(len(docs) / wall, 1)}


def bulk_throughput(couch: Couch, docs: list[dict]) -> dict:
    started = time.perf_counter()
    write_all(couch, docs, batch=1000)
    return {"docs": len(docs), "docs_per_second": round(len(docs) / (time.perf_counter() - started), 1)}


def build_seconds(couch: Couch) -> float:
    """Install the design docs on a loaded database: the install builds every index before it answers."""
    ddocs = compile_for(couch)
    started = time.perf_counter()
    install_all(couch, ddocs, say=lambda line: None, build_timeout=3600)
    warm_views(couch, ddocs, say=lambda line: None, timeout=3600)
    return round(time.perf_counter() - started, 2)


def read_latency(url: str, couch: Couch, days: list[str], requests_per_endpoint: int) -> dict:
    """Distinct (uncached) requests through a fresh `couchrec serve` against this node."""
    items = [item for item, _ in popular(ViewCache(couch, update="true", max_age=0), limit=requests_per_endpoint)]
    page_types = ["product", "home", "search", "category", "cart", "checkout"]
    pairs = [(day, page_type) for day in days for page_type in page_types][:requests_per_endpoint]
    asked = {
        "recommendations": [f"/recommendations/items/{item}" for item in items],
        "page_times": [f"/stats/page-times?{urlencode({'by': 'hour', 'page_type': t, 'from': d, 'to': d})}"
                       for d, t in pairs],
    }
    service = LiveService(url, couch.db, workers=2, threads=4)
    try:
        session = requests.Session()
        result = {}
        for endpoint, paths in asked.items():
            timings, wall = timed_concurrently([lambda p=p: session.get(service.url + p, timeout=120).raise_for_status()
                                   for p in paths], CLIENTS)
            result[endpoint] = {**latency(timings), "requests_per_second": round(len(paths) / wall, 1)}
        return result
    finally:
        service.stop()


def measure(url: str, docs: list[dict], put_docs: list[dict], requests_per_endpoint: int) -> dict:
    with fresh_db(url, prefix="scaling") as couch:
        bulk = bulk_throughput(couch, docs)
        put = put_throughput(couch, put_docs)
        build = build_seconds(couch)
        stored = storage(couch, len(docs) + len(put_docs))
        reads = read_latency(url, couch, sorted({doc["timestamp"][:10] for doc in docs}), requests_per_endpoint)
    return {"bulk": bulk, "put": put, "view_build_seconds": build, "storage": stored, **reads}


def storage(couch: Couch, docs: int) -> dict:
    """Bytes on disk per log, for the documents and for every view index: one copy of each shard range."""
    database = couch.db_info()["sizes"]["file"]
    indexes = sum(couch.db_request("GET", f"{ddoc_id}/_info").json()["view_index"]["sizes"]["file"]
                  for ddoc_id in compile_for(couch))
    return {"database_bytes_per_log": round(database / docs), "index_bytes_per_log": round(indexes / docs)}


def with_a_node_down(cluster: LocalCouchDB, docs: list[dict]) -> dict:
    """Kill node 2; write and read through node 1; restart node 2; time until nothing is left to
    replicate internally; then read node 2's own copies alone (nodes 1 and 3 killed)."""
    nodes = cluster.node_urls
    with fresh_db(nodes[0], prefix="scaling_down") as couch:
        install_all(couch, compile_for(couch), say=lambda line: None, build_timeout=3600)
        write_all(couch, docs[: len(docs) // 2])
        warm_views(couch, compile_for(couch), say=lambda line: None, timeout=3600)
        before = couch.db_info()["doc_count"]
        cluster.kill(node=2)
        statuses, session = [], requests.Session()
        started = time.perf_counter()
        for start in range(0, DOWN_WRITES, 50):
            batch = docs[len(docs) // 2 + start: len(docs) // 2 + start + 50]
            answer = session.post(f"{couch.url}/{couch.db}/_bulk_docs", json={"docs": batch}, timeout=120)
            statuses.append(answer.status_code)
        written_seconds = time.perf_counter() - started
        count = session.get(f"{couch.url}/{couch.db}", timeout=60).json()["doc_count"]
        view = session.get(f"{couch.url}/{couch.db}/_design/recommend/_view/orders", params={"limit": 1},
                           timeout=600)
        restart_started = time.perf_counter()
        cluster.restart(node=2)
        restarted = time.perf_counter() - restart_started
        catch_up = pending_replication_gone(nodes)
        cluster.kill(node=1)
        cluster.kill(node=3)
        try:
            alone = requests.get(f"{nodes[1]}/{couch.db}", timeout=60).json().get("doc_count")
        finally:
            cluster.restart()
    return {
        "bulk_requests": len(statuses), "acknowledged_201": statuses.count(201), "accepted_202": statuses.count(202),
        "failed": len([s for s in statuses if s >= 400]), "docs_per_second_degraded": round(DOWN_WRITES / written_seconds, 1),
        "doc_count_read_through_node1": count, "doc_count_expected": before + DOWN_WRITES,
        "view_read_status": view.status_code,
        "restart_seconds": round(restarted, 1), "catch_up_seconds_after_restart": catch_up,
        "node2_alone_doc_count": alone,
    }


def pending_replication_gone(nodes: list[str], timeout: float = 300.0) -> float | None:
    """Seconds until no node reports internal replication jobs left (None past `timeout`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        jobs = 0
        for url in nodes:
            try:
                jobs += requests.get(f"{url}/_node/_local/_system", timeout=10).json().get("internal_replication_jobs", 0)
            except requests.RequestException:
                jobs += 1
        if jobs == 0:
            return round(time.perf_counter() - started, 1)
        time.sleep(0.2)
    return None


def run(url: str | None = None, size: Size | None = None, *, orders: int | None = None, runs: int | None = None) -> dict:
    """Start a single node and a 3-node cluster, measure both on the same data, stop them."""
    orders = orders or ORDERS[size.name if size else "full"]
    runs = runs or (size.runs if size else 3)
    docs = list(generate(seed=11, orders=orders))
    put_docs = [dict(doc, _id=f"put-{uuid.uuid4().hex}") for doc in docs[:400 if orders >= 300 else 100]]
    requests_per_endpoint = 60 if orders >= 300 else 12
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="couchrec-scaling-") as tmp:
        single = LocalCouchDB(Path(tmp) / "single")
        cluster = LocalCouchDB(Path(tmp) / "cluster", nodes=3)
        try:
            about = machine(Couch(single.url, "_"))
            rows = {"single": [], "cluster": []}
            for _ in range(runs):  # alternate, so both meet the same machine load
                for name, target in (("single", single.url), ("cluster", cluster.url)):
                    rows[name].append(measure(target, docs, put_docs, requests_per_endpoint))
            down = with_a_node_down(cluster, docs)
        finally:
            single.stop()
            cluster.stop()
    return {"machine": about, "orders": orders, "docs": len(docs), "put_docs": len(put_docs), "clients": CLIENTS,
            "runs": runs, "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "single": summarise(rows["single"]), "cluster": summarise(rows["cluster"]),
            "node_down": down}


def summarise(runs: list[dict]) -> dict:
    """The median over runs of each figure."""
    def median(*path: str) -> float:
        values = []
        for run in runs:
            value = run
            for key in path:
                value = value[key]
            values.append(value)
        return round(statistics.median(values), 2)

    return {
        "bulk_docs_per_second": median("bulk", "docs_per_second"),
        "put_docs_per_second": median("put", "docs_per_second"),
        "put_p50_ms": median("put", "p50_ms"), "put_p99_ms": median("put", "p99_ms"),
        "view_build_seconds": median("view_build_seconds"),
        "recommendations_p50_ms": median("recommendations", "p50_ms"),
        "recommendations_p99_ms": median("recommendations", "p99_ms"),
        "page_times_p50_ms": median("page_times", "p50_ms"), "page_times_p99_ms": median("page_times", "p99_ms"),
        "database_bytes_per_log": median("storage", "database_bytes_per_log"),
        "index_bytes_per_log": median("storage", "index_bytes_per_log"),
        "all_runs": runs,
    }


FIGURES = [("bulk `_bulk_docs` docs/s", "bulk_docs_per_second"), ("PUT docs/s ({clients} clients)", "put_docs_per_second"),
           ("PUT p50 / p99 ms", ("put_p50_ms", "put_p99_ms")), ("view build s (all design docs)", "view_build_seconds"),
           ("recommendation p50 / p99 ms", ("recommendations_p50_ms", "recommendations_p99_ms")),
           ("page times p50 / p99 ms", ("page_times_p50_ms", "page_times_p99_ms")),
           ("database bytes per log (one copy)", "database_bytes_per_log"),
           ("index bytes per log (one copy)", "index_bytes_per_log")]


def markdown(result: dict) -> list[str]:
    lines = [f"{result['docs']:,} documents ({result['orders']} orders), {result['put_docs']} PUTs, "
             f"{result['clients']} clients; medians of {result['runs']} alternating runs; "
             f"load average {result['load_average'][0]} at the start, {result['load_average'][1]} at the end "
             f"({result['machine']['cores']} cores).", "",
             "| figure | single node | 3-node cluster | cluster / single |", "|---|---|---|---|"]
    for label, key in FIGURES:
        single, cluster = result["single"], result["cluster"]
        if isinstance(key, tuple):
            lines.append(f"| {label.format(**result)} | {single[key[0]]} / {single[key[1]]} | "
                         f"{cluster[key[0]]} / {cluster[key[1]]} | {cluster[key[0]] / single[key[0]]:.2f} |")
        else:
            lines.append(f"| {label.format(**result)} | {single[key]} | {cluster[key]} | {cluster[key] / single[key]:.2f} |")
    down = result["node_down"]
    lines += ["", "| node 2 down (killed), through node 1 | |", "|---|---|",
              f"| `_bulk_docs` requests answered 201 / 202 / failed | {down['acknowledged_201']} / "
              f"{down['accepted_202']} / {down['failed']} of {down['bulk_requests']} |",
              f"| write rate while degraded | {down['docs_per_second_degraded']} docs/s |",
              f"| doc_count read through node 1 | {down['doc_count_read_through_node1']} (expected {down['doc_count_expected']}) |",
              f"| view read | HTTP {down['view_read_status']} |",
              f"| `restart --node 2` | {down['restart_seconds']} s |",
              f"| then until no internal replication job is left | {down['catch_up_seconds_after_restart']} s |",
              f"| node 2 alone (1 and 3 killed) doc_count | {down['node2_alone_doc_count']} |"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS["full"], help="Orders in the generated shop.")
    parser.add_argument("--runs", type=int, default=3, help="Alternating runs per server; figures are medians.")
    args = parser.parse_args()
    if not COUCHDB_LOCAL.exists():
        sys.exit(f"{COUCHDB_LOCAL} is not here: the scaling benchmark needs the project's shared/ folder beside it")
    result = run(orders=args.orders, runs=args.runs)
    out = REPO_DIR / "bench" / "results" / DATABASE / "scaling.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result)))
    print(f"written: {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
