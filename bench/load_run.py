"""A bounded load run: concurrent clients sending mixed ingestion and read requests for a fixed time.

Each client loops until the time is up, picking by weight: PUT a new page-view log
(with the ingestion key), an item, cart or user recommendation, page-time stats,
or popular products. Every answer that isn't 2xx counts as an error. Prints and
returns count, errors, throughput and p50/p95/p99 per kind.

    .venv/bin/python -m bench.load_run --url http://127.0.0.1:8000 --key $KEY [--clients 32] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

import requests

RESULTS = Path(__file__).resolve().parent / "results" / "load_run.json"
MIX = {"ingest": 50, "item": 15, "cart": 10, "user": 5, "stats": 10, "popular": 10}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def request_for(kind: str, rng: random.Random, items: list[str], users: list[str]) -> tuple[str, str, dict]:
    if kind == "ingest":
        log = {"log_type": "page_view", "page_type": rng.choice(["home", "product", "cart", "search"]),
               "generation_time": round(rng.lognormvariate(5, 0.5), 1), "item_id": rng.choice(items)}
        return "PUT", f"/logs/load-{uuid.uuid4().hex}", {"json": log}
    if kind == "item":
        return "GET", f"/recommendations/items/{rng.choice(items)}", {}
    if kind == "cart":
        return "GET", "/recommendations/cart", {"params": {"items": ",".join(rng.sample(items, 3))}}
    if kind == "user":
        return "GET", f"/recommendations/users/{rng.choice(users)}", {}
    if kind == "stats":
        return "GET", "/stats/page-times", {"params": {"by": rng.choice(["page_type", "day"])}}
    return "GET", "/products/popular", {"params": {"days": rng.choice([1, 7])}}


def run_load(url: str, key: str, *, clients: int, seconds: float, items: list[str], users: list[str],
             seed: int = 1) -> tuple[dict, list[str]]:
    """Run the load; return the figures (with up to 20 example errors) and the ids of acknowledged logs."""
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    acknowledged: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    kinds, weights = zip(*MIX.items())

    def client(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        session = requests.Session()
        session.headers["X-API-Key"] = key
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            method, path, extra = request_for(kind, rng, items, users)
            started = time.perf_counter()
            try:
                answer = session.request(method, url + path, timeout=60, **extra)
                failure = None if answer.ok else f"{answer.status_code} {method} {path}: {answer.text[:200]}"
            except requests.RequestException as exc:
                failure = f"{method} {path}: {exc.__class__.__name__}"
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                timings[kind].append(elapsed)
                if failure:
                    errors.append(failure)
                elif kind == "ingest":
                    acknowledged.append(path.rsplit("/", 1)[1])

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    every = [t for values in timings.values() for t in values]
    figures = {
        "clients": clients, "seconds": round(wall, 1), "requests": len(every), "errors": len(errors),
        "requests_per_second": round(len(every) / wall, 1),
        "p50_ms": round(statistics.median(every), 1) if every else 0.0,
        "p95_ms": round(percentile(every, 0.95), 1), "p99_ms": round(percentile(every, 0.99), 1),
        "by_kind": {kind: {"requests": len(values), "p50_ms": round(statistics.median(values), 1),
                           "p99_ms": round(percentile(values, 0.99), 1)}
                    for kind, values in sorted(timings.items())},
        "error_examples": errors[:20],
    }
    return figures, acknowledged


def print_table(figures: dict) -> None:
    print(f"{figures['clients']} clients, {figures['seconds']} s: {figures['requests']} requests, "
          f"{figures['errors']} errors, {figures['requests_per_second']} req/s, "
          f"p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms")
    print(f"{'kind':<10} {'requests':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for kind, row in figures["by_kind"].items():
        print(f"{kind:<10} {row['requests']:>9} {row['p50_ms']:>9} {row['p99_ms']:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="The service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="An ingestion key of that service.")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    popular = requests.get(f"{args.url}/products/popular", params={"limit": 50}, timeout=60).json()["results"]
    items = [row["item_id"] for row in popular] or ["item-00001"]
    users = [f"user-{n:06d}" for n in range(1, 200)]
    figures, _ = run_load(args.url, args.key, clients=args.clients, seconds=args.seconds, items=items, users=users)
    print_table(figures)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
