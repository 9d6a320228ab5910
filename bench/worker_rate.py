"""A counting worker's catch-up rate with several settings, side by side, on a growth run's database.

Each attempt is bench/growth.py's worker step (its new orders written again under fresh ids, the lists
rebuilt first so they are new to the tallies) with one (batch, keep) setting; the settings take turns,
`--runs` times, and the table gives each one's median. The run's CouchDB must be up (a growth run
started it: `couchdb-local restart DIR/couchdb` brings it back).

  .venv/bin/python -m bench.worker_rate --dir /work/run1m --orders 1000000 --settings 500:300,2000:600 --runs 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench.growth import Run, beyond, next_worker_attempt, say, worker_step
from loader.couchdb.couch import Couch

RESULTS = Path(__file__).resolve().parent / "results" / "couchdb" / "worker_rate.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="the growth run's folder")
    parser.add_argument("--orders", type=int, default=1_000_000, help="which of its databases (growth_<orders>)")
    parser.add_argument("--settings", default="500:300,2000:600", help="batch:keep pairs to compare")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    run = Run(args.dir.resolve(), "full")
    url = (args.dir / "couchdb" / "url").read_text().strip()
    couch = Couch(url, f"growth_{args.orders}", timeout=600)
    new, _ = beyond(run, args.orders)
    settings = [tuple(map(int, one.split(":"))) for one in args.settings.split(",")]
    attempts: dict[str, list[dict]] = {f"{batch}:{keep}": [] for batch, keep in settings}
    for number in range(args.runs):
        for batch, keep in settings:
            figures: dict = {}
            worker_step(couch, new, next_worker_attempt(run), figures, batch=batch, keep=keep)
            say(f"run {number + 1}, batch {batch}, keep {keep}: {figures['orders_per_second']} orders/s "
                f"({figures['where_s']})")
            attempts[f"{batch}:{keep}"].append(figures)
    print(f"growth_{args.orders}, {len(new):,} new orders an attempt, {args.runs} runs a setting, alternated")
    print("| batch | keep | orders/s, median | each run | seconds reading / writing, median |")
    print("|---|---|---|---|---|")
    for name, runs in attempts.items():
        batch, keep = name.split(":")
        rates = [one["orders_per_second"] for one in runs]
        views = statistics.median(one["where_s"]["views"] for one in runs)
        writes = statistics.median(one["where_s"]["writes"] for one in runs)
        print(f"| {batch} | {keep} | {statistics.median(rates):.1f} | {', '.join(map(str, rates))} | {views:.1f} / {writes:.1f} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"orders": args.orders, "new": len(new), "attempts": attempts}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
