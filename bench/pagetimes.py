"""Page times: `/stats/page-times` uncached against the raw requests it makes, on ≥ 100,000 page views
over 28 days and 6 page types, with the page-time summaries built (loader/pages/pagesummaries.py); the build
time of `_design/pages` (builtin `_stats` + `_sum` histogram) against the JS sketch's
`_design/pages_sketch`, and the summaries' rebuild time, on the same data.

Each run starts a fresh service (nothing cached; its connections opened by two `/readyz`, which read no
view) and asks each question once, starting with a different one each run; the raw requests (recorded
from the same library call) are replayed straight to the database in the same run: one after another
as the library sends them, view queries concurrently. "view path" replays the grouped view queries the
question costs without summaries (the service's fallback). The "last day behind" rows ask again after
a page view of each page type is written on the last day and not summarised (a live shop's usual state:
the worker is a batch behind), so that day comes from the views. The machine's load average is recorded:
the figures hold only for that load. Figures are medians over the runs.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from bench.common import Size, build_seconds, fresh_db, write_all
from loader.couchdb.couch import Couch
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import rebuild
from loader.devtools.generate import PAGE_TIMES, generate
from loader.devtools.live import LiveService
from loader.pages.pagesummaries import SUFFIX, PageSummaries, SummaryReader
from loader.pages.pagetimes import DDOC, GROUP_LEVELS, STATS_VIEW, page_time_groups

PAGE_VIEWS = {"smoke": 3_000, "full": 100_000}
RUNS = {"smoke": 1, "full": 5}
# (label, query, target p50 ms); each also within TARGET_RATIO of its raw queries.
QUESTIONS = [
    ("by=hour", {"by": "hour"}, 300),
    ("by=hour&page_type=…", {"by": "hour", "page_type": "product"}, 100),
    ("by=day", {"by": "day"}, 100),
    ("by=page_type", {"by": "page_type"}, 50),
]
# The same questions while the worker is behind: a page view of every page type written on the last
# day after the summaries' checkpoint (a live shop's usual state), so that day is read from the views.
BEHIND = [
    ("by=hour, last day behind", {"by": "hour"}, 300),
    ("by=hour&page_type=…, last day behind", {"by": "hour", "page_type": "product"}, 100),
    ("by=day, last day behind", {"by": "day"}, 100),
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


class RequestRecorder(Couch):
    """A Couch that appends every request it sends to `sent`, to replay them raw."""

    def __init__(self, url: str, db: str, sent: list):
        super().__init__(url, db, timeout=600)
        self.sent = sent

    def request(self, method: str, path: str, *, params: dict | None = None, json=None, **options):
        self.sent.append((method, path, params, json))
        return super().request(method, path, params=params, json=json, **options)


def recorded(url: str, db: str, query: dict, *, summaries: bool) -> list[tuple]:
    """The requests one question sends: through the summaries (as the service asks), or the view path."""
    sent: list[tuple] = []
    couch = RequestRecorder(url, db, sent)
    views = ViewCache(couch, update="true", max_age=0)
    asked = dict(by=query["by"], page_type=query.get("page_type"), start=None, end=None, percentiles=True)
    reader = SummaryReader(couch)
    reader.couchdb = couch.is_couchdb()  # the service asks once, not per question
    reader.target = RequestRecorder(url, db + SUFFIX, sent)
    del sent[:]
    if not summaries or query["by"] == "page_type" or reader.groups(views, **asked) is None:
        page_time_groups(views, **asked)
    return sent


def replay_ms(session: requests.Session, url: str, requests_sent: list[tuple]) -> float:
    """Send the recorded requests as the library did: in order, consecutive view queries at once;
    milliseconds until the last answer."""
    def send(request):
        method, path, params, body = request
        session.request(method, f"{url}/{path}", params=params, json=body, timeout=600).raise_for_status()

    steps: list[list[tuple]] = []
    for request in requests_sent:
        if steps and "/_view/" in request[1] and "/_view/" in steps[-1][0][1]:
            steps[-1].append(request)
        else:
            steps.append([request])
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(len(step) for step in steps)) as pool:
        for step in steps:
            list(pool.map(send, step))
    return (time.perf_counter() - started) * 1000


def one_run(url: str, db: str, questions: list[tuple], raw: dict[str, tuple], session: requests.Session,
            first: int) -> dict[str, dict[str, float]]:
    """Ask each question once of a fresh service (from question `first` on, wrapping round), then replay
    its raw requests; milliseconds per question."""
    service = LiveService(url, db, workers=2, threads=4)
    try:
        for _ in range(2):
            session.get(f"{service.url}/readyz", timeout=600)
        timings = {}
        for label, query, _ in questions[first:] + questions[:first]:
            started = time.perf_counter()
            answer = session.get(f"{service.url}/stats/page-times?{urlencode(query)}", timeout=600)
            answer.raise_for_status()
            timings[label] = {"service": (time.perf_counter() - started) * 1000, "source": answer.json()["source"]}
    finally:
        service.stop()
    for label, (summarised, views_only) in raw.items():
        timings[label]["raw"] = replay_ms(session, url, summarised)
        timings[label]["view_path"] = replay_ms(session, url, views_only)
    return timings


def measured_rows(url: str, couch: Couch, questions: list[tuple], runs: int, loads: list[float]) -> list[dict]:
    """The table's rows for `questions`: medians over `runs` fresh services."""
    raw = {label: (recorded(url, couch.db, query, summaries=True), recorded(url, couch.db, query, summaries=False))
           for label, query, _ in questions}
    session = requests.Session()
    timings = []
    for n in range(runs):
        timings.append(one_run(url, couch.db, questions, raw, session, n % len(questions)))
        loads.append(os.getloadavg()[0])
    rows = []
    for label, query, target in questions:
        level = GROUP_LEVELS[query["by"]]
        bounds = {"startkey": [query["page_type"]], "endkey": [query["page_type"], {}]} if "page_type" in query else {}
        row = {"question": label, "groups": len(couch.query_view(DDOC, STATS_VIEW, group_level=level, **bounds)["rows"]),
               "requests": len(raw[label][0]), "target_ms": target,
               "source": "/".join(sorted({t[label]["source"] for t in timings}))}
        for kind in ("service", "raw", "view_path"):
            row[f"{kind}_p50_ms"] = round(statistics.median(t[label][kind] for t in timings), 1)
        row["ratio"] = round(row["service_p50_ms"] / row["raw_p50_ms"], 2)
        row["met"] = row["service_p50_ms"] <= target and row["ratio"] <= TARGET_RATIO
        rows.append(row)
    return rows


def run(url: str, size: Size) -> dict:
    docs = page_views(PAGE_VIEWS[size.name])
    loads: list[float] = []
    with fresh_db(url, "bench_pagetimes") as couch:
        write_all(couch, docs)
        pages_build = build_seconds(couch, DDOC)
        sketch_build = build_seconds(couch, "pages_sketch")
        summaries_build = rebuild(PageSummaries(couch)).seconds
        rows = measured_rows(url, couch, QUESTIONS, RUNS[size.name], loads)
        last = max(doc["timestamp"] for doc in docs)
        write_all(couch, [{**doc, "_id": f"behind-{n}", "timestamp": last}
                          for n, doc in enumerate({doc["page_type"]: doc for doc in docs}.values())])
        rows += measured_rows(url, couch, BEHIND, RUNS[size.name], loads)
    return {
        "page_views": len(docs), "days": 28, "page_types": len(PAGE_TIMES), "runs": RUNS[size.name], "rows": rows,
        "load_average": round(statistics.median(loads), 1),
        "build_seconds": {"pages": round(pages_build, 1), "pages_sketch": round(sketch_build, 1),
                          "summaries": round(summaries_build, 1)},
    }


def markdown(result: dict) -> list[str]:
    lines = [f"{result['page_views']:,} page views over {result['days']} days, {result['page_types']} page types; "
             f"medians of {result['runs']} runs; load average {result.get('load_average', '?')} "
             f"(over the machine's {os.cpu_count()} cores).", "",
             "| request | groups | answered from | requests | service uncached p50 ms | raw requests p50 ms | "
             "service ÷ raw | view path p50 ms | target | met |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| `{row['question']}` | {row['groups']:,} | {row['source']} | {row['requests']} | "
                     f"{row['service_p50_ms']} | {row['raw_p50_ms']} | {row['ratio']} | {row['view_path_p50_ms']} | "
                     f"≤ {row['target_ms']} ms, ≤ {TARGET_RATIO}× | {'yes' if row['met'] else '**no**'} |")
    build = result["build_seconds"]
    lines += ["", "| index build, same data | seconds |", "|---|---|",
              f"| `_design/pages` (`_stats` + `_sum` histogram) | {build['pages']} |",
              f"| `_design/pages_sketch` (JS sketch reduce) | {build['pages_sketch']} |",
              f"| `couchrec page-times rebuild` (every day's summary, from `_design/pages`) | {build['summaries']} |"]
    return lines
