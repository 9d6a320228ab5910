"""What every benchmark shares: the machine, timing statistics, fresh databases, view builds, query recording."""

from __future__ import annotations

import os
import platform
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Callable, Iterable, Iterator

from loader.couchdb.couch import Couch
from loader.couchdb.indexing import wait_until_built
from loader.designdocs.deploy import compile_for
from loader.logs.ingest import PendingLog, write_logs
from loader.pages.pagesummaries import summaries_db
from loader.recommendations.neighbours import lists_db


BUILD_TIMEOUT = 6 * 3600.0  # a benchmark's index build may take long; the growth table bounds its steps


@dataclass(frozen=True)
class Size:
    """How much work each benchmark does: `smoke` proves the suite runs, `full` gives the figures."""

    name: str
    runs: int
    puts: int                       # single-document PUTs per client count
    bulk_docs: int                  # documents for load vs _bulk_docs
    memory_lines: int               # lines of the loader-memory file
    view_docs: tuple[int, ...]      # documents for the view-build table
    serving_requests: int           # requests per endpoint and cache state
    freshness_orders: int
    growth_orders: tuple[int, ...]
    step_budget: float              # seconds a growth step may take before the table stops there


SIZES = {
    "smoke": Size("smoke", 1, 64, 1_000, 3_000, (1_000,), 8, 200, (200, 400), 60.0),
    "full": Size("full", 3, 600, 50_000, 1_000_000, (10_000, 100_000), 60, 10_000, (10_000, 100_000, 1_000_000),
                 900.0),
}


def machine(couch: Couch) -> dict:
    meminfo = dict(line.split(":", 1) for line in open("/proc/meminfo") if ":" in line)
    server = couch.server_info()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "database": f"{server.vendor} {server.version}",
        "couchrec": version("couchrec"),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_concurrently(calls: list, clients: int) -> tuple[list[float], float]:
    """Run the calls from `clients` threads; return each call's milliseconds and the wall seconds."""
    def one(call) -> float:
        started = time.perf_counter()
        call()
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        timings = list(pool.map(one, calls))
    return timings, time.perf_counter() - started


def latency(values_ms: list[float]) -> dict:
    return {"n": len(values_ms), "p50_ms": round(statistics.median(values_ms), 2),
            "p99_ms": round(percentile(values_ms, 0.99), 2)}


def median_of(runs: list[dict], *keys: str) -> dict:
    """Per key, the median over runs (each run a dict of numbers)."""
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in keys}


def stopwatch(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@contextmanager
def fresh_db(url: str, prefix: str = "bench") -> Iterator[Couch]:
    couch = Couch(url, f"{prefix}_{uuid.uuid4().hex[:10]}", timeout=600)
    couch.ensure_db()
    try:
        yield couch
    finally:
        for derived in (lists_db(couch), summaries_db(couch)):
            derived.delete_db()
        couch.delete_db()


def write_all(couch: Couch, docs: Iterable[dict], batch: int = 1000) -> int:
    """Write generated documents (each with its `_id`) through the loader's writer."""
    written, pending = 0, []
    for doc in docs:
        pending.append(PendingLog(doc["_id"], {k: v for k, v in doc.items() if k != "_id"}))
        if len(pending) == batch:
            written += sum(o.stored for o in write_logs(couch, pending))
            pending = []
    if pending:
        written += sum(o.stored for o in write_logs(couch, pending))
    return written


def build_seconds(couch: Couch, ddoc_name: str, *, as_name: str | None = None, views: list[str] | None = None) -> float:
    """Install design doc `ddoc_name` (as `as_name`, optionally with only some views) and time its index build."""
    ddoc = dict(compile_for(couch, reference=True)[f"_design/{ddoc_name}"])
    name = as_name or ddoc_name
    if views is not None:
        ddoc["views"] = {view: ddoc["views"][view] for view in views}
    couch.put_doc(f"_design/{name}", dict(ddoc, _id=f"_design/{name}"))
    return update_seconds(couch, name, ddoc["views"])


def update_seconds(couch: Couch, ddoc_name: str, views: dict) -> float:
    """Time to bring the indexes up to date: probes that wait for them, less the same probes once they
    are current (on PouchDB Server even an empty query costs a scan of the rows)."""
    catching_up = stopwatch(lambda: bring_up_to_date(couch, ddoc_name, views))
    return max(0.0, catching_up - stopwatch(lambda: bring_up_to_date(couch, ddoc_name, views)))


def bring_up_to_date(couch: Couch, ddoc_name: str, views: dict) -> None:
    """Wait for each index to catch up, however long CouchDB's request timeout is."""
    wait_until_built(couch, ddoc_name, views, say=lambda line: None, timeout=BUILD_TIMEOUT, poll=1.0)


class RecordingCouch(Couch):
    """A Couch that remembers every view query it sends, to replay them raw."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.queries: list[tuple[str, str, dict]] = []

    def query_view(self, ddoc: str, view: str, *, timeout: float | None = None, **params) -> dict:
        self.queries.append((ddoc, view, dict(params)))
        return super().query_view(ddoc, view, timeout=timeout, **params)
