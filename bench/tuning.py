"""How long `couchrec tune` takes on the generated grocery profile, and where the time goes.

Writes the profile's orders (seed 42, 120 days: the run docs/evaluation.md shows) into a fresh
database, then runs the tuner as `couchrec tune --dry-run` does (the default `--max-users` 500),
`--runs` times; prints the seconds of each phase (reading the orders, loading and indexing the
train database, asking the users) and writes bench/results/couchdb/tuning_<orders>.json. Run it with
`COUCHDB_URL=… .venv/bin/python -m bench.tuning --orders 15000 --runs 3`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from bench.common import fresh_db, machine, write_all
from bench.neighbours import wait_for_views
from loader.designdocs.deploy import compile_for, install_all
from loader.devtools.generate import generate
from loader.tuning.tune import DEFAULT_MAX_USERS, tune

RESULTS = Path(__file__).parent / "results" / "couchdb"
PHASES = ("read_orders", "load_and_index", "queries", "total")


def run(url: str, orders: int, runs: int, max_users: int) -> dict:
    with fresh_db(url, "bench_tuning") as couch:
        install_all(couch, compile_for(couch))
        write_all(couch, (doc for doc in generate(seed=42, orders=orders, days=120, profile="grocery")
                          if doc["log_type"] in ("checkout", "purchase")))
        wait_for_views(couch)
        reports = []
        for _ in range(runs):
            load = os.getloadavg()[0]
            report = tune(url, couch, max_users=max_users).report
            reports.append({**{phase: round(report["seconds"][phase], 1) for phase in PHASES},
                            "asked_users": report["asked_users"], "load_average_at_start": round(load, 1),
                            "chosen": report["chosen"]})
        return {"machine": machine(couch), "orders": orders, "max_users": max_users, "runs": reports,
                "median_s": {phase: statistics.median(run[phase] for run in reports) for phase in PHASES}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=15_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-users", type=int, default=DEFAULT_MAX_USERS)
    args = parser.parse_args()
    result = run(os.environ["COUCHDB_URL"].rstrip("/"), args.orders, args.runs, args.max_users)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"tuning_{args.orders}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"| run | read orders s | load and index s | ask {args.max_users} users s | total s | load avg |")
    print("|---|---|---|---|---|---|")
    for number, one in enumerate(result["runs"], start=1):
        print(f"| {number} | {one['read_orders']} | {one['load_and_index']} | {one['queries']} | {one['total']} | "
              f"{one['load_average_at_start']} |")
    median = result["median_s"]
    print(f"| median | {median['read_orders']} | {median['load_and_index']} | {median['queries']} | "
          f"{median['total']} | |")


if __name__ == "__main__":
    main()
