"""Freshness: after 1 % new orders, how long until recommendations reflect them — CouchDB's incremental view
update, against rebuilding the index from scratch, against the centralized alternative (read every
document through `_all_docs` and recount co-purchases in one Python process)."""

from __future__ import annotations

import itertools
from itertools import islice
import statistics
import time
from collections import Counter

from bench.common import Size, build_seconds, fresh_db, update_seconds, write_all
from loader.couchdb.viewcache import ViewCache
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools.generate import generate
from loader.recommendations.orders import order_items, paired_items
from loader.recommendations.recommend import recommend

FRESH_ITEM = "fresh-item"


def orders(seed: int, count: int, start: int = 0) -> list[dict]:
    """Checkouts `start` to `start + count` of a grocery-shaped shop (`couchrec generate --profile grocery`),
    without the browsing around them: the documents the co-purchase views read."""
    traffic = generate(seed=seed, orders=(start + count) * 21 // 20 + 10, profile="grocery")  # ~1 % are purchases
    return list(islice((doc for doc in traffic if doc["log_type"] == "checkout"), start, start + count))


def centralized_pairs(couch) -> Counter:
    """What a service without views would do: read everything, count every pair."""
    pairs: Counter = Counter()
    for doc in couch.all_docs():
        pairs.update(itertools.permutations(paired_items(order_items(doc)), 2))
    return pairs


def run(url: str, size: Size) -> dict:
    base = size.freshness_orders
    runs = []
    for _ in range(size.runs):
        with fresh_db(url) as couch:
            write_all(couch, orders(seed=17, count=base))
            install_all(couch, compile_for(couch))
            views = ViewCache(couch, update="true", max_age=0)
            anchor = recommend(views, ["item-00001"], limit=1)  # the index is built and current
            assert anchor
            new = orders(seed=17, count=base // 100, start=base)
            for doc in new[: max(1, len(new) // 2)]:  # half the new orders pair the new item with item-00001
                doc["items"] = [FRESH_ITEM, "item-00001"]
            started = time.perf_counter()
            write_all(couch, new)
            written = time.perf_counter()
            index_update = update_seconds(couch, "recommend", compile_for(couch)["_design/recommend"]["views"])
            indexed = time.perf_counter()
            while not any(r.item_id == "item-00001" for r in recommend(views, [FRESH_ITEM], limit=3)):
                if time.perf_counter() - started > 600:
                    raise RuntimeError("the new orders did not show in 600 s")
            answered = time.perf_counter()
            incremental = {"write": written - started, "index_update": index_update,
                           "first_answer": answered - indexed,
                           "incremental": (written - started) + index_update + (answered - indexed)}
            started = time.perf_counter()
            pairs = centralized_pairs(couch)
            centralized = time.perf_counter() - started
            assert pairs[(FRESH_ITEM, "item-00001")] == max(1, len(new) // 2)
        with fresh_db(url) as copy:  # the same documents, indexed from nothing
            write_all(copy, orders(seed=17, count=base) + new)
            rebuild = build_seconds(copy, "recommend")
        runs.append({**incremental, "rebuild": rebuild, "centralized": centralized})
    medians = {key: round(statistics.median(run[key] for run in runs), 2) for key in runs[0]}
    return {"orders": base, "new_orders": base // 100, **medians,
            "index_update_vs_rebuild": round(medians["index_update"] / medians["rebuild"], 3),
            "incremental_vs_rebuild": round(medians["incremental"] / medians["rebuild"], 3),
            "centralized_vs_incremental": round(medians["centralized"] / medians["incremental"], 1)}


def markdown(result: dict) -> list[str]:
    return [
        f"{result['orders']:,} orders indexed, then {result['new_orders']:,} new orders (1 %) written; time until "
        "`recommend()` for the new item shows its partner:", "",
        "| path | seconds | vs incremental |", "|---|---|---|",
        f"| incremental, end to end: write the new orders, update the indexes, first answer | "
        f"{result['incremental']} | 1 |",
        f"| … of which writing the new orders | {result['write']} | |",
        f"| … of which the incremental index update | {result['index_update']} | |",
        f"| … of which the first answer (PouchDB Server reduces at query time) | {result['first_answer']} | |",
        f"| full rebuild of `_design/recommend` | {result['rebuild']} | "
        f"{round(result['rebuild'] / result['incremental'], 1)}× |",
        f"| centralized: `_all_docs` + recount in Python | {result['centralized']} | "
        f"{result['centralized_vs_incremental']}× |",
        "", f"Incremental index update ÷ full rebuild: **{result['index_update_vs_rebuild']}**; "
        f"end to end ÷ full rebuild: **{result['incremental_vs_rebuild']}**.",
    ]
