"""View build: each design doc's index built from scratch over 10k / 100k documents, and the JS
page-time sketch against its builtin `_stats` twin (build and query)."""

from __future__ import annotations

import itertools
import statistics
import time

from bench.common import Size, build_seconds, fresh_db, write_all
from loader.designdocs.deploy import TARGETS, compile_all
from loader.devtools.generate import generate

SKETCH, STATS = ("pages_sketch", "generation_time"), ("pages", "generation_time_stats")


def documents(count: int) -> list[dict]:
    return list(itertools.islice(generate(seed=13, orders=count // 20 + 10), count))


def query_ms(couch, ddoc: str, view: str, repeats: int = 5) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        couch.query_view(ddoc, view, group_level=1)
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def twin(url: str, docs: list[dict], ddoc_view: tuple[str, str]) -> tuple[float, float]:
    """Build time and grouped-query time of one page-time view alone, in a database of its own
    (PouchDB Server reuses an index across design docs when the functions are the same)."""
    with fresh_db(url) as couch:
        write_all(couch, docs)
        ddoc, view = ddoc_view
        seconds = build_seconds(couch, ddoc, as_name="twin", views=[view])
        return round(seconds, 2), query_ms(couch, "twin", view)


def run(url: str, size: Size) -> dict:
    ddocs = [ddoc_id.split("/", 1)[1] for ddoc_id, ddoc in compile_all(target=TARGETS[0]).items() if "views" in ddoc]
    rows = []
    for count in size.view_docs:
        docs = documents(count)
        row = {"docs": count}
        with fresh_db(url) as couch:
            write_all(couch, docs)
            for name in ddocs:
                row[name] = round(build_seconds(couch, name), 1)
        row["js_sketch_build"], row["js_sketch_query_ms"] = twin(url, docs, SKETCH)
        row["stats_build"], row["stats_query_ms"] = twin(url, docs, STATS)
        rows.append(row)
    return {"ddocs": ddocs, "rows": rows}


def markdown(result: dict) -> list[str]:
    names = result["ddocs"]
    lines = ["| documents | " + " | ".join(f"`{name}` s" for name in names) + " |",
             "|---|" + "---|" * len(names)]
    for row in result["rows"]:
        lines.append(f"| {row['docs']:,} | " + " | ".join(str(row[name]) for name in names) + " |")
    lines += ["", "| documents | JS sketch build s | `_stats` build s | JS sketch query ms (group_level=1) | "
              "`_stats` query ms |", "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['docs']:,} | {row['js_sketch_build']} | {row['stats_build']} | "
                     f"{row['js_sketch_query_ms']} | {row['stats_query_ms']} |")
    return lines
