"""Serving: latency and throughput of the read endpoints under `couchrec serve` (gunicorn) with concurrent
clients, uncached and cached, next to the raw CouchDB view queries each request makes.

The raw queries are recorded by running the same library call against a
recording client, then replayed straight to CouchDB (the co-purchase queries of
several seeds concurrently, as the service sends them; the rest in order).
"Uncached" is each distinct request asked once of a freshly started service: no
answer to it is cached, but view answers fetched for earlier requests in the run
are reused, as in production (the best-seller list behind the popular backfill; a
seed's co-purchase row shared by overlapping carts or by users who bought the
same item). "Cached" is the same requests asked again.
"""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from bench.common import RecordingCouch, Size, fresh_db, latency, timed_concurrently, write_all
from loader.couchdb.couch import encode_view_params
from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools.generate import generate
from loader.devtools.live import LiveService
from loader.pages.pagetimes import Bound, page_time_groups
from loader.recommendations.history import new_to_user, read_history
from loader.recommendations.recommend import DEFAULT_SCORE, popular, recommend

CLIENTS = {"smoke": 2, "full": 8}


def questions(views: ViewCache, count: int) -> dict[str, list[tuple[str, dict]]]:
    """Distinct requests per endpoint (so the first asking is uncached): path and query."""
    items = [item for item, _ in popular(views, limit=count + 2)]
    users = sorted({row["key"][0] for row in views.query("recommend", "user_history", group_level=1)["rows"]})[:count]
    keys = [row["key"] for row in views.query("pages", "generation_time_stats", group_level=4)["rows"]]
    days = sorted({f"{y:04d}-{m:02d}-{d:02d}" for _, y, m, d in keys})
    page_types = ["product", "home", "search", "category", "cart", "checkout"]
    stats = [("/stats/page-times", {"by": "hour", "page_type": t, "from": d, "to": d})
             for d in days for t in page_types][:count]
    return {
        "stats": stats,
        "item": [(f"/recommendations/items/{item}", {}) for item in items[:count]],
        "cart": [("/recommendations/cart", {"items": ",".join(items[n:n + 3])}) for n in range(count)],
        "user": [(f"/recommendations/users/{user}", {}) for user in users],
    }


def recorded_queries(url: str, db: str, endpoint: str, path: str, query: dict) -> list[tuple[str, str, dict]]:
    couch = RecordingCouch(url, db)
    views = ViewCache(couch, update="true", max_age=0)
    if endpoint == "stats":
        page_time_groups(views, by=query["by"], page_type=query["page_type"], start=Bound.parse(query["from"]),
                         end=Bound.parse(query["to"]))
    elif endpoint == "user":
        new_to_user(views, read_history(views, path.rsplit("/", 1)[1]), limit=10, score=DEFAULT_SCORE)
    else:
        seeds = [path.rsplit("/", 1)[1]] if endpoint == "item" else query["items"].split(",")
        recommend(views, seeds, score=DEFAULT_SCORE)
    return couch.queries


def replay(session: requests.Session, url: str, db: str, queries: list[tuple[str, str, dict]]) -> None:
    def send(query):
        ddoc, view, params = query
        params = dict(params)
        keys = params.pop("keys", None)
        target = f"{url}/{db}/_design/{ddoc}/_view/{view}"
        if keys is None:
            session.get(target, params=encode_view_params(params), timeout=120).raise_for_status()
        else:
            session.post(target, params=encode_view_params(params), json={"keys": keys}, timeout=120).raise_for_status()

    ranges = [q for q in queries if q[1] == "co_purchase"]
    if len(ranges) > 1:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(send, ranges))
    else:
        for query in ranges:
            send(query)
    for query in queries:
        if query[1] != "co_purchase":
            send(query)



def run(url: str, size: Size) -> dict:
    clients = CLIENTS[size.name]
    orders = 100 if size.name == "smoke" else 3000
    with fresh_db(url) as couch:
        write_all(couch, generate(seed=5, orders=orders))
        install_all(couch, compile_for(couch))
        warm_views(couch, compile_for(couch), say=lambda line: None, timeout=3600)
        asked = questions(ViewCache(couch, update="true", max_age=0), size.serving_requests)
        rows = []
        for endpoint, requested in asked.items():
            recorded = [recorded_queries(url, couch.db, endpoint, path, query) for path, query in requested]
            runs = []
            for _ in range(size.runs):
                service = LiveService(url, couch.db, workers=2, threads=4)  # a new process: nothing cached
                try:
                    session = requests.Session()
                    gets = [lambda p=p, q=q: session.get(f"{service.url}{p}?{urlencode(q)}", timeout=120)
                            .raise_for_status() for p, q in requested]
                    uncached, uncached_wall = timed_concurrently(gets, clients)
                    cached, cached_wall = timed_concurrently(gets, clients)
                finally:
                    service.stop()
                raw_session = requests.Session()
                raw, raw_wall = timed_concurrently(
                    [lambda r=r: replay(raw_session, url, couch.db, r) for r in recorded], clients)
                runs.append({"raw": latency(raw), "uncached": latency(uncached), "cached": latency(cached),
                             "raw_rps": len(raw) / raw_wall, "uncached_rps": len(uncached) / uncached_wall,
                             "cached_rps": len(cached) / cached_wall})
            row = {"endpoint": endpoint, "requests": len(requested), "clients": clients,
                   "queries_per_request": round(statistics.mean(len(r) for r in recorded), 1)}
            for state in ("raw", "uncached", "cached"):
                row[f"{state}_p50_ms"] = round(statistics.median(r[state]["p50_ms"] for r in runs), 1)
                row[f"{state}_p99_ms"] = round(statistics.median(r[state]["p99_ms"] for r in runs), 1)
                row[f"{state}_rps"] = round(statistics.median(r[f"{state}_rps"] for r in runs), 1)
            row["uncached_ratio"] = round(row["uncached_p50_ms"] / row["raw_p50_ms"], 2)
            row["cached_ratio"] = round(row["cached_p50_ms"] / row["raw_p50_ms"], 2)
            rows.append(row)
    return {"orders": orders, "rows": rows}


def markdown(result: dict) -> list[str]:
    lines = ["| endpoint | raw view queries per request | raw p50 / p99 ms | service uncached p50 / p99 ms | "
             "cached p50 / p99 ms | uncached ÷ raw (p50) | cached ÷ raw (p50) | req/s raw / uncached / cached |",
             "|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(
            f"| {row['endpoint']} | {row['queries_per_request']} | {row['raw_p50_ms']} / {row['raw_p99_ms']} | "
            f"{row['uncached_p50_ms']} / {row['uncached_p99_ms']} | {row['cached_p50_ms']} / {row['cached_p99_ms']} | "
            f"**{row['uncached_ratio']}** | **{row['cached_ratio']}** | "
            f"{row['raw_rps']} / {row['uncached_rps']} / {row['cached_rps']} |")
    return lines
