"""Run the benchmark suite and write its tables: `bash scripts/bench [--size smoke|full] [--only NAME ...]`.

Against COUCHDB_URL when set; otherwise a PouchDB Server on disk, started here on
a free port of 127.0.0.1 and stopped at the end. The full size writes
docs/benchmarks.md and bench/results/*.json; the smoke size (CI) writes the same
under test-artifacts/bench/ and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import freshness, growth, ingestion, neighbours, pagetimes, scaling, serving, view_queue, views
from bench.common import SIZES, machine
from loader.couchdb.couch import Couch, redact
from loader.devtools import devdb
from loader.devtools.live import REPO_DIR, free_port

SECTIONS = {
    "ingestion": ("Ingestion", ingestion),
    "views": ("View build", views),
    "view_queue": ("View-updater queue", view_queue),
    "serving": ("Serving", serving),
    "freshness": ("Freshness", freshness),
    "growth": ("Growth", growth),
    "pagetimes": ("Page times", pagetimes),
    "neighbours": ("Neighbour lists", neighbours),
    "scaling": ("Scaling: single node against a 3-node cluster", scaling),
}
# Scaling starts its own CouchDB single node and cluster (../shared/couchdb), so it runs only when asked:
# `bash scripts/bench --only scaling` (or `python -m bench.scaling`). Growth at full size is a run of hours
# that resumes (`python -m bench.growth --dir DIR`); the smoke size runs it here.
DEFAULT_SECTIONS = [name for name in SECTIONS if name != "scaling"]
FULL_SECTIONS = [name for name in DEFAULT_SECTIONS if name != "growth"]  # growth's full size: bench/growth.py
GOALS = [  # (goal, how the figure is read from the results, target, better when, tables it needs)
    ("service latency ≤ 1.3× the raw view queries, uncached (worst endpoint, p50)",
     lambda r: max(row["uncached_ratio"] for row in r["serving"]["rows"]), 1.3, "lower", ("serving",)),
    ("service latency ≤ 0.3× the raw view queries, cached (worst endpoint, p50)",
     lambda r: max(row["cached_ratio"] for row in r["serving"]["rows"]), 0.3, "lower", ("serving",)),
    ("`couchrec load` ≥ 0.9× raw `_bulk_docs`", lambda r: r["ingestion"]["load"]["ratio"], 0.9, "higher",
     ("ingestion",)),
    ("incremental index update for 1 % new orders ≤ 5 % of a full rebuild",
     lambda r: r["freshness"]["index_update_vs_rebuild"], 0.05, "lower", ("freshness",)),
    ("… end to end (write + update + first answer) ≤ 5 % of a full rebuild",
     lambda r: r["freshness"]["incremental_vs_rebuild"], 0.05, "lower", ("freshness",)),
    ("cart from the neighbour lists, p50 ≤ 10 ms (uncached)", lambda r: r["neighbours"]["cart"]["service_p50_ms"], 10,
     "lower", ("neighbours",)),
    ("… p95 ≤ 30 ms", lambda r: r["neighbours"]["cart"]["service_p95_ms"], 30, "lower", ("neighbours",)),
    ("item page from the neighbour lists, p50 ≤ 5 ms", lambda r: r["neighbours"]["item"]["service_p50_ms"], 5,
     "lower", ("neighbours",)),
    ("cart and item page ≤ 1.5× their raw `_all_docs` read (worst, p50)",
     lambda r: max(r["neighbours"]["cart"]["ratio_p50"], r["neighbours"]["item"]["ratio_p50"]), 1.5, "lower",
     ("neighbours",)),
    ("order PUT → its items' lists, p95 ≤ 2 s at 20 orders/s",
     lambda r: round(r["neighbours"]["freshness"][0]["p95_ms"] / 1000, 1), 2.0, "lower", ("neighbours",)),
]


def database(workdir: Path):
    """COUCHDB_URL, or a PouchDB Server on disk started for this run (and its process, to stop)."""
    if os.environ.get("COUCHDB_URL"):
        return os.environ["COUCHDB_URL"].rstrip("/"), None
    port = free_port()
    process = devdb.spawn(port=port, data_dir=workdir / "pouchdb")
    return f"http://127.0.0.1:{port}", process


def run_section(name: str, url: str, size, workdir: Path) -> dict:
    module = SECTIONS[name][1]
    if name == "growth" and size.name == "full":
        raise SystemExit("the growth table's full size runs for hours and resumes: "
                         ".venv/bin/python -m bench.growth --dir DIR (its JSON joins this report)")
    if name == "ingestion":
        return module.run(url, size, workdir)
    if name == "scaling":
        return module.run(size=size)
    return module.run(url, size)


DATABASES = {  # results are kept per database kind; the report leads with production's
    "couchdb": "Apache CouchDB 3 (production)",
    "pouchdb-server": "PouchDB Server (the embedded default, for development without Docker)",
}


def kept_results(folder: Path, size_name: str) -> dict:
    """The last results of each table measured at this size in `folder`."""
    results = {}
    for name in SECTIONS:
        path = folder / f"{name}.json"
        if path.exists() and json.loads(path.read_text()).get("size") == size_name:
            results[name] = json.loads(path.read_text())
    return results


def database_report(title: str, results: dict) -> list[str]:
    about = next(iter(results.values()))["machine"]
    lines = ["", f"## {title}", "", "| machine | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in about.items() if key != "date"]
    dates = sorted({results[name]["machine"]["date"] for name in results})
    lines.append(f"| measured | {dates[0]}{' to ' + dates[-1] if len(dates) > 1 else ''} |")
    goals = [goal for goal in GOALS if all(name in results for name in goal[4])]
    if goals:
        lines += ["", "### Goals", "", "| goal | measured | met |", "|---|---|---|"]
        for goal, read, target, better, _ in goals:
            value = read(results)
            met = value <= target if better == "lower" else value >= target
            lines.append(f"| {goal} | {value} | {'yes' if met else '**no**'} |")
    for name, (section_title, module) in SECTIONS.items():
        if name in results:
            lines += ["", f"### {section_title}", "", (module.__doc__ or "").strip().replace("\n", " "), ""]
            lines += module.markdown(results[name])
    return lines


def report(by_database: dict[str, dict], size_name: str) -> str:
    command = "bash scripts/bench" + ("" if size_name == "full" else f" --size {size_name}")
    lines = ["# Benchmarks", "",
             f"Produced by `{command}` against `COUCHDB_URL` (CouchDB) or a PouchDB Server it starts "
             "(`--only` reruns some tables and keeps the others); JSON, with each table's machine and date, in "
             "`bench/results/<database>/`. Ratios are measured in the same run, on the same data; with several "
             "runs, figures are medians. The CouchDB client choice (couchrec's own against `ibmcloudant`) is "
             "`bench/client_choice.py`, reported in docs/decisions.md; the bounded load run is `bench/load_run.py` "
             "(README).", "", (Path(__file__).parent / "reading.md").read_text().strip()]
    for kind, title in DATABASES.items():
        if by_database.get(kind):
            lines += database_report(title, by_database[kind])
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None)
    args = parser.parse_args()
    args.only = args.only or (FULL_SECTIONS if args.size == "full" else DEFAULT_SECTIONS)
    size = SIZES[args.size]
    smoke = args.size != "full"
    results_root = REPO_DIR / ("test-artifacts/bench" if smoke else "bench/results")
    doc_path = results_root / "benchmarks.md" if smoke else REPO_DIR / "docs" / "benchmarks.md"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="couchrec-bench-") as tmp:
        workdir = Path(tmp)
        url, process = database(workdir)
        try:
            about = machine(Couch(url, "_"))
            for name in args.only:
                print(f"[{time.monotonic() - started:6.0f} s] {name} ({args.size}) against {redact(url)} ...",
                      file=sys.stderr, flush=True)
                result = {"machine": about, "size": args.size, **run_section(name, url, size, workdir)}
                # A table that starts its own servers says which kind it measured (DATABASE).
                out_dir = results_root / getattr(SECTIONS[name][1], "DATABASE", about["database"].split()[0])
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        finally:
            if process:
                process.terminate()
                process.wait(timeout=30)
    text = report({kind: kept_results(results_root / kind, args.size) for kind in DATABASES}, args.size)
    doc_path.write_text(text)
    print(text)
    print(f"written: {doc_path} and {results_root}/<database>/*.json in {time.monotonic() - started:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
