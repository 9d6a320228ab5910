"""Neighbour lists: serving from them, rebuilding them, and how fresh the worker keeps them.

On the grocery profile's orders (only the orders are written: the lists read
nothing else): `couchrec neighbours rebuild` time; cart and item-page latency of
a freshly started service, each request asked once, next to the raw round trip
the request needs (`_all_docs` with the seeds' list ids, straight to the
database), alternated request by request, each side over a kept-alive
connection, with the service's floor beside them (`GET /healthz`: one hop
through gunicorn and Flask, no database); a short list's top-up with best
sellers, from the document the worker keeps and from the views; the worker's
cost per new order when catching up; and freshness: orders PUT through the
service at a steady rate, each with one brand-new item, timed from the PUT's
acknowledgement until that item's list (written in the same `_bulk_docs` as the
order's other items) appears in the lists database's changes feed. Run it alone with
`COUCHDB_URL=… bash scripts/bench --only neighbours`.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.common import Size, fresh_db, percentile, write_all
from loader.couchdb.couch import Couch, CouchError
from loader.couchdb.indexing import warm_views
from loader.couchdb.viewcache import ViewCache
from loader.derived.derived import is_cluster
from loader.derived.follow import Follower
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools.generate import generate
from loader.devtools.live import LiveService
from loader.recommendations.neighbours import DEFAULT_K, PREFIX, ListReader, NeighbourLists, lists_db, rebuild
from loader.recommendations.orders import order_items
from loader.recommendations.recommend import MAX_SEEDS, best_sellers, popular

SHAPE = {"smoke": (600, 10, 20, (5.0,)), "full": (15_000, 60, 200, (20.0, 100.0))}  # orders, carts, items, rates
RATE_SECONDS = {"smoke": 5.0, "full": 30.0}
ROUNDS = {"smoke": 1, "full": 3}
TOP_UPS = {"smoke": 3, "full": 9}


def stats_ms(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 0.95), 2),
            "max_ms": round(max(ms), 2)}


def load_orders(couch: Couch, orders: int) -> tuple[list[list[str]], float]:
    """Write the grocery profile's orders; return every basket and the seconds the views took to build."""
    docs = [doc for doc in generate(seed=11, orders=orders, profile="grocery")
            if doc["log_type"] in ("checkout", "purchase")]
    install_all(couch, compile_for(couch))
    write_all(couch, docs)
    started = time.monotonic()
    wait_for_views(couch)
    return [order_items(doc) for doc in docs], time.monotonic() - started


def wait_for_views(couch: Couch) -> None:
    """Bring the views up to date, through CouchDB's 500 `timeout` answers while a build runs past 60 s."""
    while True:
        try:
            warm_views(couch, compile_for(couch), say=lambda line: None, timeout=7200)
            return
        except CouchError as exc:
            if exc.error != "timeout":
                raise


def side_by_side(service: LiveService, lists_url: str, requests_: list[tuple[str, str, dict, list[str]]]) -> dict:
    """Each request once through the service and its raw `_all_docs` read, alternating which goes first;
    each side over its own kept-alive connection, as a shop front-end holds its connections. Beside
    them, the service's floor: `GET /healthz`, one HTTP hop through gunicorn and Flask answering
    without the database, over the same client."""
    client, raw = requests.Session(), requests.Session()
    served, direct, hops = [], [], []
    for number, (method, path, body, seeds) in enumerate(requests_):
        def through_service():
            started = time.perf_counter()
            answer = client.request(method, service.url + path, timeout=60, **body)
            answer.raise_for_status()
            served.append(time.perf_counter() - started)

        def straight():
            started = time.perf_counter()
            raw.post(f"{lists_url}/_all_docs", params={"include_docs": "true"},
                     json={"keys": [PREFIX + seed for seed in seeds]}, timeout=60).raise_for_status()
            direct.append(time.perf_counter() - started)

        for step in ((through_service, straight) if number % 2 == 0 else (straight, through_service)):
            step()
        started = time.perf_counter()
        client.get(service.url + "/healthz", timeout=60).raise_for_status()
        hops.append(time.perf_counter() - started)
    return {"service": stats_ms(served), "raw": stats_ms(direct), "hop": stats_ms(hops),
            "ratio_p50": round(statistics.median(served) / statistics.median(direct), 2)}


def serving(url: str, couch: Couch, baskets: list[list[str]], carts: int, items: int, rounds: int) -> dict:
    rng = random.Random(5)
    lists_url = f"{url}/{lists_db(couch).db}"
    popular_items = sorted({item for basket in baskets for item in basket})
    results = {"cart": [], "item": []}
    for round_number in range(rounds):
        cart_sample = rng.sample([b for b in baskets if len(b) >= 2], carts)
        item_sample = rng.sample(popular_items, items)
        service = LiveService(url, couch.db, workers=2, threads=4)  # fresh: nothing cached
        try:
            results["cart"].append(side_by_side(service, lists_url, [
                ("POST", "/recommendations/cart", {"json": {"items": cart}}, list(dict.fromkeys(cart))[:MAX_SEEDS])
                for cart in cart_sample]))
            results["item"].append(side_by_side(service, lists_url, [
                ("GET", f"/recommendations/items/{item}", {}, [item]) for item in item_sample]))
        finally:
            service.stop()
    summary = {}
    for kind, runs in results.items():
        summary[kind] = {
            "carts" if kind == "cart" else "items": carts if kind == "cart" else items,
            "mean_cart_items": round(statistics.mean(len(c) for c in baskets), 1) if kind == "cart" else 1,
            **{f"{side}_{q}": round(statistics.median(run[side][q] for run in runs), 2)
               for side in ("service", "raw") for q in ("p50_ms", "p95_ms")},
            "hop_p50_ms": round(statistics.median(run["hop"]["p50_ms"] for run in runs), 2),
            "ratio_p50": round(statistics.median(run["ratio_p50"] for run in runs), 2),
            "runs": runs,
        }
    return summary


def top_up_cost(couch: Couch, times: int) -> dict:
    """A short list's top-up with 10 best sellers, in process: from the document the worker keeps, and from
    the views through a cache just emptied, as it is after every write on a shop taking logs."""
    lists, stored, viewed = ListReader(lists_db(couch)), [], []
    for _ in range(times):
        started = time.perf_counter()
        best_sellers(ViewCache(couch), lists, limit=10, exclude=set())
        stored.append(time.perf_counter() - started)
        started = time.perf_counter()
        popular(ViewCache(couch), limit=10)
        viewed.append(time.perf_counter() - started)
    return {"stored": stats_ms(stored), "views": stats_ms(viewed)}


def catch_up_cost(couch: Couch, baskets: list[list[str]], orders: int) -> dict:
    """Write `orders` orders with no worker running, then time one worker catching up on them."""
    rng = random.Random(9)
    new = [{"_id": f"catchup-{n}", "log_type": "checkout", "order_id": f"catchup-{n}", "items": rng.choice(baskets),
            "timestamp": "2026-12-01T12:00:00.000Z"} for n in range(orders)]
    write_all(couch, new)
    wait_for_views(couch)  # the index update is the views' cost, not the worker's
    follower = Follower(NeighbourLists(couch, DEFAULT_K), wait_ms=0)
    started = time.monotonic()
    follower.catch_up()
    seconds = time.monotonic() - started
    return {"orders": orders, "seconds": round(seconds, 2), "ms_per_order": round(seconds / orders * 1000, 2),
            "lists_written": follower.docs_written}


class ListWatcher(threading.Thread):
    """Records when each list document first appears in the lists database's changes feed (polled every
    50 ms: PouchDB Server holds an empty long-poll past its timeout)."""

    def __init__(self, target: Couch):
        super().__init__(daemon=True)
        self.target, self.seen, self.stopping = target, {}, threading.Event()
        self.since = target.db_info()["update_seq"]

    def run(self):
        session = requests.Session()
        while not self.stopping.is_set():
            body = session.get(f"{self.target.url}/{self.target.db}/_changes", params={"since": self.since},
                               timeout=30).json()
            now = time.monotonic()
            for change in body["results"]:
                self.seen.setdefault(change["id"], now)
            self.since = body["last_seq"]
            time.sleep(0.05)


class WorkerThread(threading.Thread):
    """The worker, in-process so its time can be split into feed, views and writes."""

    def __init__(self, couch: Couch):
        super().__init__(daemon=True)
        self.follower = Follower(NeighbourLists(couch, DEFAULT_K), wait_ms=1000, settle=3.0 if is_cluster(couch) else 0.0)
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            self.follower.step()


def freshness(url: str, couch: Couch, baskets: list[list[str]], rate: float, seconds: float) -> dict:
    """PUT orders through the service at `rate` a second; time until each one's new item has a list."""
    rng = random.Random(int(rate))
    watcher, worker = ListWatcher(lists_db(couch)), WorkerThread(couch)
    watcher.start()
    worker.start()
    service = LiveService(url, couch.db, workers=2, threads=4)
    acked: dict[str, float] = {}
    tag = f"r{int(rate)}-{int(time.time())}"
    try:
        def put(number: int) -> None:
            fresh = f"fresh-{tag}-{number}"
            doc = {"log_type": "checkout", "order_id": fresh, "items": [fresh, *rng.choice(baskets)[:9]]}
            service.request("PUT", f"/logs/{fresh}", json=doc).raise_for_status()
            acked[PREFIX + fresh] = time.monotonic()

        total = int(rate * seconds)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for number in range(total):
                time.sleep(max(0.0, started + number / rate - time.monotonic()))
                pool.submit(put, number)
        sent_for = time.monotonic() - started
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(doc_id in watcher.seen for doc_id in acked):
            time.sleep(0.2)
    finally:
        service.stop()
        worker.stopping.set()
        watcher.stopping.set()
        worker.join(timeout=30)
    lags = [watcher.seen[doc_id] - at for doc_id, at in acked.items() if doc_id in watcher.seen]
    follower = worker.follower
    return {"rate_per_s": rate, "orders": len(acked), "achieved_rate_per_s": round(len(acked) / sent_for, 1),
            "reflected": len(lags), **stats_ms(lags), "worker_batches": follower.batches,
            "worker_seconds": {part: round(value, 2) for part, value in follower.seconds.items()}}


def run(url: str, size: Size) -> dict:
    orders, carts, items, rates = SHAPE[size.name]
    with fresh_db(url, "bench_neighbours") as couch:
        try:
            baskets, index_seconds = load_orders(couch, orders)
            started = time.monotonic()
            done = rebuild(couch)
            server = couch.server_info()
            result = {
                "database": f"{server.vendor} {server.version}",
                "load_average_at_start": [round(value, 1) for value in os.getloadavg()],
                "orders": len(baskets), "products": len({i for b in baskets for i in b}),
                "views_build_s": round(index_seconds, 1),
                "rebuild": {"items": done.items, "seconds": round(time.monotonic() - started, 1), "k": DEFAULT_K},
                **serving(url, couch, baskets, carts, items, ROUNDS[size.name]),
                "top_up": top_up_cost(couch, TOP_UPS[size.name]),
                "catch_up": catch_up_cost(couch, baskets, orders // 30),
                "freshness": [freshness(url, couch, baskets, rate, RATE_SECONDS[size.name]) for rate in rates],
                "load_average_at_end": [round(value, 1) for value in os.getloadavg()],
            }
        finally:
            lists_db(couch).delete_db()
    return result


def markdown(result: dict) -> list[str]:
    cart, item = result["cart"], result["item"]
    lines = [
        f"On {result['database']}: {result['orders']:,} grocery orders, {result['products']:,} products; views built in "
        f"{result['views_build_s']} s; `neighbours rebuild` (K={result['rebuild']['k']}): "
        f"{result['rebuild']['items']:,} lists in {result['rebuild']['seconds']} s",
        "",
        "| request (each once, fresh service; median of runs) | service p50 | p95 | raw `_all_docs` p50 | p95 | "
        "ratio p50 | empty hop (`GET /healthz`) p50 |",
        "|---|---|---|---|---|---|---|",
        f"| cart ({cart['carts']} real carts, POST) | {cart['service_p50_ms']} ms | {cart['service_p95_ms']} ms | "
        f"{cart['raw_p50_ms']} ms | {cart['raw_p95_ms']} ms | {cart['ratio_p50']}× | {cart['hop_p50_ms']} ms |",
        f"| item page ({item['items']} items) | {item['service_p50_ms']} ms | {item['service_p95_ms']} ms | "
        f"{item['raw_p50_ms']} ms | {item['raw_p95_ms']} ms | {item['ratio_p50']}× | {item['hop_p50_ms']} ms |",
        "",
        *top_up_lines(result.get("top_up")),
        f"worker catching up on {result['catch_up']['orders']} orders: {result['catch_up']['seconds']} s "
        f"({result['catch_up']['ms_per_order']} ms an order, {result['catch_up']['lists_written']} lists written)",
        "",
        "| orders PUT a second (achieved) | reflected | PUT ack → list p50 | p95 | max | worker time: feed / views / writes |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["freshness"]:
        split = row["worker_seconds"]
        lines.append(f"| {row['rate_per_s']:g} ({row['achieved_rate_per_s']}) | {row['reflected']}/{row['orders']} | "
                     f"{row['p50_ms']} ms | {row['p95_ms']} ms | {row['max_ms']} ms | "
                     f"{split['feed']} / {split['views']} / {split['writes']} s in {row['worker_batches']} batches |")
    return lines


def top_up_lines(top_up: dict | None) -> list[str]:
    """The top-up line (runs before the best sellers were kept have none)."""
    if not top_up:
        return []
    stored, viewed = top_up["stored"], top_up["views"]
    return [f"topping a short list up with 10 best sellers, in process ({stored['n']} times each): from the stored "
            f"best sellers p50 {stored['p50_ms']} ms (max {stored['max_ms']}); from the views after a write "
            f"(every product's count read and ranked) p50 {viewed['p50_ms']} ms (max {viewed['max_ms']})", ""]
