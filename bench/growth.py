"""Growth: load time, `_design/recommend` build time, index size and item-recommendation latency at
10k, 100k and 1M orders, until a step would take longer than the size's step budget."""

from __future__ import annotations

import statistics
import time

from bench.common import Size, build_seconds, fresh_db, write_all
from bench.freshness import orders
from loader.recommend import popular, recommend
from loader.viewcache import ViewCache


def index_bytes(couch) -> int | None:
    """The view index's file size, where the server reports it (CouchDB does; PouchDB Server does not)."""
    index = couch.db_request("GET", "_design/recommend/_info", ok=(200, 404)).json().get("view_index")
    if not isinstance(index, dict):  # PouchDB Server answers with a string here
        return None
    return index.get("sizes", {}).get("file") or index.get("disk_size")


def recommendation_ms(couch, items: list[str]) -> float:
    timings = []
    for item in items:
        views = ViewCache(couch, update="true", max_age=0)  # nothing cached: every question goes to the views
        started = time.perf_counter()
        recommend(views, [item])
        timings.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(timings), 1)


def run(url: str, size: Size) -> dict:
    rows, stopped = [], None
    previous = None
    for count in size.growth_orders:
        if previous and (previous["load_s"] + previous["build_s"]) * count / previous["orders"] > size.step_budget:
            projected = (previous["load_s"] + previous["build_s"]) * count / previous["orders"]
            stopped = (f"stopped before {count:,} orders: at the measured rate it would take ~{projected:,.0f} s, "
                       f"over the {size.step_budget:,.0f} s budget of a step")
            break
        with fresh_db(url) as couch:
            started = time.perf_counter()
            write_all(couch, orders(seed=23, count=count))
            load = time.perf_counter() - started
            build = build_seconds(couch, "recommend")
            items = [item for item, _ in popular(ViewCache(couch, update="true", max_age=0), limit=20)]
            index = index_bytes(couch)
            row = {"orders": count, "load_s": round(load, 1), "build_s": round(build, 1),
                   "pair_rows": couch.query_view("recommend", "co_purchase", limit=0, reduce=False)["total_rows"],
                   "index_mib": round(index / 2**20, 1) if index else None,
                   "recommend_p50_ms": recommendation_ms(couch, items)}
        rows.append(row)
        previous = row
    return {"rows": rows, "stopped": stopped}


def markdown(result: dict) -> list[str]:
    lines = ["| orders | load s | `recommend` build s | co_purchase rows | index MiB | item recommendation p50 ms |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        index = row["index_mib"] if row["index_mib"] is not None else "not reported"
        lines.append(f"| {row['orders']:,} | {row['load_s']} | {row['build_s']} | {row['pair_rows']:,} | {index} | "
                     f"{row['recommend_p50_ms']} |")
    if result["stopped"]:
        lines += ["", result["stopped"] + "."]
    return lines
