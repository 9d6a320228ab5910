"""Page times: `/stats/page-times` uncached against the raw view queries it makes, on ≥ 100,000 page views
over 28 days and 6 page types, and the build time of `_design/pages` (builtin `_stats` + `_sum` histogram)
against the JS sketch's `_design/pages_sketch`, on the same data.

Each run starts a fresh service (nothing cached; its connections opened by two `/readyz`, which read no
view) and asks each question once, starting with a different one each run; the raw queries (recorded
from the same library call) are replayed straight to the database, concurrently as the service sends
them, in the same run. The machine's load average is recorded: the figures hold only for that load. Figures are medians over the runs. "histogram only" is the `_sum` query alone:
what the request would cost if it did not also ask `_stats` (which it needs for the exact min and max).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from bench.common import RecordingCouch, Size, build_seconds, fresh_db, write_all
from loader.couch import encode_view_params
from loader.generate import PAGE_TIMES, generate
from loader.pagetimes import DDOC, HISTOGRAM_VIEW, page_time_groups
from loader.viewcache import ViewCache
from tests.servers import LiveService

PAGE_VIEWS = {"smoke": 3_000, "full": 100_000}
RUNS = {"smoke": 1, "full": 5}
# (label, query, target p50 ms); each also within TARGET_RATIO of its raw queries.
QUESTIONS = [
    ("by=hour", {"by": "hour"}, 300),
    ("by=hour&page_type=…", {"by": "hour", "page_type": "product"}, 100),
    ("by=day", {"by": "day"}, 100),
    ("by=page_type", {"by": "page_type"}, 50),
]
TARGET_RATIO = 1.5


def page_views(count: int) -> list[dict]:
    """The page views of a generated shop (28 days, 6 page types), enough orders for `count` of them."""
    orders = count // 10
    while True:
        docs = [doc for doc in generate(seed=17, orders=orders, days=28) if doc["log_type"] == "page_view"]
        if len(docs) >= count:
            return docs
        orders = orders * 3 // 2


def recorded(url: str, db: str, query: dict) -> list[tuple[str, str, dict]]:
    couch = RecordingCouch(url, db)
    page_time_groups(ViewCache(couch, update="true", max_age=0), by=query["by"], page_type=query.get("page_type"))
    return couch.queries


def replay_ms(session: requests.Session, url: str, db: str, queries: list[tuple[str, str, dict]]) -> float:
    """Send the recorded view queries at once, as the library does; milliseconds until the last answer."""
    def send(query):
        ddoc, view, params = query
        session.get(f"{url}/{db}/_design/{ddoc}/_view/{view}", params=encode_view_params(params),
                    timeout=600).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        list(pool.map(send, queries))
    return (time.perf_counter() - started) * 1000


def one_run(url: str, db: str, raw: dict[str, list], session: requests.Session,
            first: int) -> dict[str, dict[str, float]]:
    """Ask each question once of a fresh service (from question `first` on, wrapping round), then replay
    its raw queries; milliseconds per question."""
    service = LiveService(url, db, workers=2, threads=4)
    try:
        for _ in range(2):
            session.get(f"{service.url}/readyz", timeout=600)
        timings = {}
        for label, query, _ in QUESTIONS[first:] + QUESTIONS[:first]:
            started = time.perf_counter()
            session.get(f"{service.url}/stats/page-times?{urlencode(query)}", timeout=600).raise_for_status()
            timings[label] = {"service": (time.perf_counter() - started) * 1000}
    finally:
        service.stop()
    for label, queries in raw.items():
        timings[label]["raw"] = replay_ms(session, url, db, queries)
        timings[label]["histogram_only"] = replay_ms(session, url, db, [q for q in queries if q[1] == HISTOGRAM_VIEW])
    return timings


def run(url: str, size: Size) -> dict:
    docs = page_views(PAGE_VIEWS[size.name])
    with fresh_db(url, "bench_pagetimes") as couch:
        write_all(couch, docs)
        pages_build = build_seconds(couch, DDOC)
        sketch_build = build_seconds(couch, "pages_sketch")
        raw = {label: recorded(url, couch.db, query) for label, query, _ in QUESTIONS}
        session = requests.Session()
        runs, loads = [], []
        for n in range(RUNS[size.name]):
            runs.append(one_run(url, couch.db, raw, session, n % len(QUESTIONS)))
            loads.append(os.getloadavg()[0])
        groups = {label: len(couch.query_view(DDOC, "generation_time_stats", group_level=level,
                                              **({"startkey": ["product"], "endkey": ["product", {}]}
                                                 if "page_type" in query else {}))["rows"])
                  for (label, query, _), level in zip(QUESTIONS, (5, 5, 4, 1))}
    rows = []
    for label, query, target in QUESTIONS:
        row = {"question": label, "groups": groups[label], "view_queries": len(raw[label]), "target_ms": target}
        for kind in ("service", "raw", "histogram_only"):
            row[f"{kind}_p50_ms"] = round(statistics.median(r[label][kind] for r in runs), 1)
        row["ratio"] = round(row["service_p50_ms"] / row["raw_p50_ms"], 2)
        row["met"] = row["service_p50_ms"] <= target and row["ratio"] <= TARGET_RATIO
        rows.append(row)
    return {
        "page_views": len(docs), "days": 28, "page_types": len(PAGE_TIMES), "runs": len(runs), "rows": rows,
        "load_average": round(statistics.median(loads), 1),
        "build_seconds": {"pages": round(pages_build, 1), "pages_sketch": round(sketch_build, 1)},
    }


def markdown(result: dict) -> list[str]:
    lines = [f"{result['page_views']:,} page views over {result['days']} days, {result['page_types']} page types; "
             f"medians of {result['runs']} runs; load average {result.get('load_average', '?')} "
             f"(over the machine's {os.cpu_count()} cores).", "",
             "| request | groups | view queries | service uncached p50 ms | raw queries p50 ms | service ÷ raw | "
             "histogram only ms | target | met |", "|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| `{row['question']}` | {row['groups']:,} | {row['view_queries']} | {row['service_p50_ms']} | "
                     f"{row['raw_p50_ms']} | {row['ratio']} | {row['histogram_only_p50_ms']} | "
                     f"≤ {row['target_ms']} ms, ≤ {TARGET_RATIO}× | {'yes' if row['met'] else '**no**'} |")
    build = result["build_seconds"]
    lines += ["", "| index build, same data | seconds |", "|---|---|",
              f"| `_design/pages` (`_stats` + `_sum` histogram) | {build['pages']} |",
              f"| `_design/pages_sketch` (JS sketch reduce) | {build['pages_sketch']} |"]
    return lines
