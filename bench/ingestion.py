"""Ingestion: single PUTs through the service vs straight to CouchDB (with the CPU time the service spends
per PUT, its master and workers together); `couchrec load` vs raw `_bulk_docs`; the loader's peak memory on a
large file."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.common import Size, fresh_db, latency
from loader.devtools.generate import generate
from loader.devtools.live import INGEST_KEY, REPO_DIR, LiveService
from loader.logs.bulk import load_files

CLIENTS = (1, 8, 32)
BATCH = 500


def page_view(n: int) -> dict:
    return {"log_type": "page_view", "page_type": "product", "generation_time": 100 + n % 400,
            "item_id": f"item-{n % 300:05d}", "timestamp": "2026-11-21T08:30:00.000Z"}


def put_many(base: str, total: int, clients: int, headers: dict) -> dict:
    """PUT `total` new documents from `clients` threads; throughput and per-request latency."""
    timings: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()

    def client(share: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        for n in range(share):
            started = time.perf_counter()
            answer = session.put(f"{base}/bench-{uuid.uuid4().hex}", json=page_view(n), timeout=120)
            with lock:
                timings.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 201:
                    failures.append(answer.status_code)

    threads = [threading.Thread(target=client, args=(max(1, total // clients),)) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} PUTs failed, e.g. {failures[0]}")
    return {"docs_per_second": round(len(timings) / wall, 1), **latency(timings)}


def service_cpu_seconds(service: LiveService) -> float:
    """CPU time used so far by the service's gunicorn master and its workers (Linux /proc)."""
    master = service.process.pid
    pids = [master, *map(int, Path(f"/proc/{master}/task/{master}/children").read_text().split())]
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def put_comparison(url: str, size: Size) -> list[dict]:
    rows = []
    with fresh_db(url) as couch:
        service = LiveService(url, couch.db, workers=2, threads=8)
        try:
            for clients in CLIENTS:
                runs = []
                for _ in range(size.runs):  # alternate, so drift on the machine hits both alike
                    raw = put_many(f"{url}/{couch.db}", size.puts, clients, {})
                    cpu_before = service_cpu_seconds(service)
                    via = put_many(f"{service.url}/logs", size.puts, clients, {"X-API-Key": INGEST_KEY})
                    via["cpu_ms_per_put"] = 1000 * (service_cpu_seconds(service) - cpu_before) / via["n"]
                    runs.append((raw, via))
                raw_rate = statistics.median(r["docs_per_second"] for r, _ in runs)
                via_rate = statistics.median(v["docs_per_second"] for _, v in runs)
                rows.append({
                    "clients": clients,
                    "raw_docs_per_second": raw_rate, "service_docs_per_second": via_rate,
                    "throughput_ratio": round(via_rate / raw_rate, 2),
                    "raw_p50_ms": statistics.median(r["p50_ms"] for r, _ in runs),
                    "raw_p99_ms": statistics.median(r["p99_ms"] for r, _ in runs),
                    "service_p50_ms": statistics.median(v["p50_ms"] for _, v in runs),
                    "service_p99_ms": statistics.median(v["p99_ms"] for _, v in runs),
                    "service_cpu_ms_per_put": round(statistics.median(v["cpu_ms_per_put"] for _, v in runs), 2),
                })
        finally:
            service.stop()
    return rows


def raw_bulk(couch, path: Path) -> None:
    batch: list[dict] = []
    session = requests.Session()
    for line in path.open():
        batch.append(json.loads(line))
        if len(batch) == BATCH:
            session.post(f"{couch.url}/{couch.db}/_bulk_docs", json={"docs": batch}, timeout=600).raise_for_status()
            batch = []
    if batch:
        session.post(f"{couch.url}/{couch.db}/_bulk_docs", json={"docs": batch}, timeout=600).raise_for_status()


def load_comparison(url: str, size: Size, workdir: Path) -> dict:
    path = workdir / "bulk.ndjson"
    with path.open("w") as out:
        for n, doc in enumerate(generate(seed=9, orders=size.bulk_docs // 20 + 10)):
            if n == size.bulk_docs:
                break
            out.write(json.dumps(doc) + "\n")
    runs = []
    for _ in range(size.runs):
        with fresh_db(url) as couch:
            started = time.perf_counter()
            raw_bulk(couch, path)
            raw = time.perf_counter() - started
        with fresh_db(url) as couch:
            started = time.perf_counter()
            summary = load_files(couch, [str(path)], batch_size=BATCH, rejects_path=workdir / "rejects",
                                 progress=False)
            loaded = time.perf_counter() - started
            assert summary.created == size.bulk_docs, summary
        runs.append((size.bulk_docs / raw, size.bulk_docs / loaded))
    raw_rate = statistics.median(r for r, _ in runs)
    load_rate = statistics.median(l for _, l in runs)
    return {"docs": size.bulk_docs, "batch": BATCH, "raw_bulk_docs_per_second": round(raw_rate),
            "load_docs_per_second": round(load_rate), "ratio": round(load_rate / raw_rate, 2)}


MEASURE_CHILD = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def loader_memory(url: str, size: Size, workdir: Path) -> dict:
    """Peak resident memory of `couchrec load` (a process of its own) on a file of `memory_lines` lines."""
    path = workdir / "memory.ndjson"
    with path.open("w") as out:
        for n in range(size.memory_lines):
            out.write(json.dumps({"_id": f"m{n:08d}", **page_view(n)}) + "\n")
    with fresh_db(url) as couch:
        command = [sys.executable, "-c", "from service.cli import main; main()", "load", str(path), "--quiet",
                   "--no-warm", "--rejects", str(workdir / "memory-rejects")]
        env = {"PATH": "/usr/bin:/bin", "COUCHDB_URL": url, "COUCHREC_DB": couch.db}
        started = time.perf_counter()
        measured = subprocess.run([sys.executable, "-c", MEASURE_CHILD, *command], cwd=REPO_DIR, env=env,
                                  capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - started
        peak_kib, code = (int(part) for part in measured.stdout.split()[-2:])
        assert code == 0, measured.stderr
        stored = couch.db_info()["doc_count"]
    return {"lines": size.memory_lines, "file_mib": round(path.stat().st_size / 2**20, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1), "seconds": round(seconds, 1),
            "docs_per_second": round(size.memory_lines / seconds), "stored": stored}


def run(url: str, size: Size, workdir: Path) -> dict:
    return {"put": put_comparison(url, size), "load": load_comparison(url, size, workdir),
            "memory": loader_memory(url, size, workdir)}


def markdown(result: dict) -> list[str]:
    lines = ["| clients | raw PUT docs/s | service docs/s | ratio | raw p50 / p99 ms | service p50 / p99 ms | "
             "service CPU ms per PUT |",
             "|---|---|---|---|---|---|---|"]
    for row in result["put"]:
        lines.append(f"| {row['clients']} | {row['raw_docs_per_second']} | {row['service_docs_per_second']} | "
                     f"{row['throughput_ratio']} | {row['raw_p50_ms']} / {row['raw_p99_ms']} | "
                     f"{row['service_p50_ms']} / {row['service_p99_ms']} | {row.get('service_cpu_ms_per_put', '–')} |")
    load, memory = result["load"], result["memory"]
    lines += ["", "| bulk path | docs | batch | docs/s |", "|---|---|---|---|",
              f"| raw `_bulk_docs` | {load['docs']} | {load['batch']} | {load['raw_bulk_docs_per_second']} |",
              f"| `couchrec load` (validate, idempotent ids, rejects file) | {load['docs']} | {load['batch']} | "
              f"{load['load_docs_per_second']} (**{load['ratio']}×** raw) |",
              "", f"Loader memory: `couchrec load` of {memory['lines']:,} lines ({memory['file_mib']} MiB) peaked at "
              f"**{memory['peak_rss_mib']} MiB** resident, {memory['docs_per_second']} docs/s, "
              f"{memory['stored']:,} documents stored."]
    return lines
