"""Crashes of the database itself (kill -9): nothing acknowledged is lost, nothing is stored twice,
and the loader resumes by rerunning the same command.

- the loader killed mid-load with its database, on PouchDB Server (on disk) and on a CouchDB 3.5
  single node; restarted and rerun: every record there, once;
- a 3-node CouchDB cluster losing one node in the middle of a load and in the middle of a stream of
  `PUT /logs` through the service: writes keep being acknowledged (quorum is 2 of 3), reads keep
  answering, and after the node comes back every acknowledged log is there exactly once.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from loader.couchdb.couch import Couch
from loader.designdocs.deploy import compile_for, install_all
from tests.crashable import LocalCouchDB, PouchOnDisk, needs_local_couchdb, only_on_pouchdb
from tests.eventually import eventually
from tests.servers import INGEST_KEY, REPO_DIR, LiveService

pytestmark = pytest.mark.slow  # kill -9 of whole databases: `bash scripts/test --all` and CI run it

DOCS = 100_000
CLUSTER_DOCS = 30_000
PUTS = 900


def couchrec(*args: str, env: dict, wait: bool = True):
    command = [sys.executable, "-c", "from service.cli import main; main()", *args]
    if wait:
        return subprocess.run(command, cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=600)
    return subprocess.Popen(command, cwd=REPO_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_access_logs(path: Path, count: int) -> list[str]:
    ids = [f"log-{n:06d}" for n in range(count)]
    with path.open("w") as out:
        for n, doc_id in enumerate(ids):
            out.write(json.dumps({"_id": doc_id, "log_type": "access", "item_id": f"i{n % 977}",
                                  "timestamp": "2026-11-21T08:30:00.000Z"}) + "\n")
    return ids


def all_ids(couch: Couch) -> list[str]:
    return [row["id"] for row in couch.db_request("GET", "_all_docs").json()["rows"] if not row["id"].startswith("_")]


def wait_for_count(couch: Couch, at_least: int, process: subprocess.Popen) -> int:
    """Poll the document count until it reaches `at_least` (or the process ends); return it."""
    while True:
        time.sleep(0.1)
        try:
            written = couch.db_info()["doc_count"]
        except Exception:
            written = 0
        if written >= at_least or process.poll() is not None:
            return written


@pytest.fixture(params=[pytest.param("pouchdb-server", marks=only_on_pouchdb),
                        pytest.param("couchdb", marks=needs_local_couchdb)])
def crashable(request, tmp_path):
    database = PouchOnDisk(tmp_path / "pouch") if request.param == "pouchdb-server" else LocalCouchDB(tmp_path / "couch")
    yield database
    database.stop()


def test_the_loader_resumes_after_the_database_is_killed_mid_load(crashable, tmp_path):
    """Kill the database in the middle of a 100,000-document load, restart it, rerun: all there, once."""
    source = tmp_path / "logs.ndjson"
    expected = write_access_logs(source, DOCS)
    env = {"PATH": "/usr/bin:/bin", "COUCHDB_URL": crashable.url, "COUCHREC_DB": "resume"}
    couch = Couch(crashable.url, "resume", timeout=10)
    couch.ensure_db()
    loader = couchrec("load", str(source), "--retries", "2", "--no-warm", "--quiet", "--rejects",
                      str(tmp_path / "rejects"), env=env, wait=False)
    try:
        written = wait_for_count(couch, DOCS // 3, loader)
        crashable.kill()
        stdout, stderr = loader.communicate(timeout=300)
    finally:
        loader.kill()
    assert loader.returncode == 1, "the loader must not claim success"
    assert "rerun the same command: it resumes where this load stopped" in stderr
    assert written < DOCS

    crashable.restart()
    before = couch.db_info()["doc_count"]
    rerun = couchrec("load", str(source), "--no-warm", "--quiet", "--rejects", str(tmp_path / "rejects"), env=env)
    assert rerun.returncode == 0, rerun.stderr
    ids = all_ids(couch)
    assert 0 < before < DOCS, "the first run stopped part-way"
    counts = {label: int(n) for label, n in re.findall(r"^\s+(written|already present)\s+(\d+)$", rerun.stdout, re.M)}
    skipped = re.search(r"^resumed: the first (\d+) ", rerun.stdout, re.M)  # the place the first run kept
    resumed = int(skipped.group(1)) if skipped else 0
    assert counts["written"] == DOCS - before and counts["already present"] + resumed == before
    assert couch.db_info()["doc_count"] == DOCS
    assert ids == expected, "every record once, none missing, none extra"
    report = {"database": crashable.name, "expected": DOCS, "found": len(ids), "present_after_crash": before,
              "skipped_by_rerun": resumed, "written_by_rerun": counts["written"]}
    (REPO_DIR / "test-artifacts").mkdir(exist_ok=True)
    (REPO_DIR / "test-artifacts" / f"kill-and-resume-{crashable.name}.json").write_text(json.dumps(report, indent=2))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    database = LocalCouchDB(tmp_path_factory.mktemp("cluster"), nodes=3)
    yield database
    database.stop()


@needs_local_couchdb
def test_a_cluster_load_survives_a_node_killed_midway(cluster, tmp_path):
    source = tmp_path / "logs.ndjson"
    expected = write_access_logs(source, CLUSTER_DOCS)
    env = {"PATH": "/usr/bin:/bin", "COUCHDB_URL": cluster.url, "COUCHREC_DB": "midload"}
    couch = Couch(cluster.url, "midload", timeout=30)
    couch.ensure_db()
    install_all(couch, compile_for(couch))
    loader = couchrec("load", str(source), "--no-warm", "--quiet", "--rejects", str(tmp_path / "rejects"),
                      env=env, wait=False)
    try:
        wait_for_count(couch, CLUSTER_DOCS // 3, loader)
        cluster.kill(node=2)
        # Reads through node 1 keep answering while node 2 is down.
        assert couch.db_info()["doc_count"] > 0
        indexed = couch.query_view("products", "item_views", key="i1", update="false")["rows"]
        assert sum(row["value"] for row in indexed) <= CLUSTER_DOCS // 977 + 1  # i1's accesses, at most
        stdout, stderr = loader.communicate(timeout=600)
    finally:
        loader.kill()
        cluster.restart(node=2)
    assert loader.returncode == 0, stderr
    assert re.search(rf"^\s+written\s+{CLUSTER_DOCS}$", stdout, re.M), stdout
    node2 = Couch(cluster.node_urls[1], "midload", timeout=30)
    wanted = set(expected)

    def has_everything(node: Couch):
        """Every log once, listed by id through `node`; retried, since right after the restart
        either node may read a shard range from node 2's copy before it has caught up (CI once
        saw 7,500 logs missing through node 1). Design docs are left out: twice (once in CI, once
        here) `_all_docs` through node 2 still listed `_design/pages_sketch-staging`, which the
        install before the load had deleted, after 60 s; not explained yet (see docs/decisions.md).
        Not db_info's doc_count either: it adds up whichever copy of each shard range answers first."""
        ids = all_ids(node)
        extra, missing = sorted(set(ids) - wanted), sorted(wanted - set(ids))
        assert (extra[:5], missing[:5], len(ids)) == ([], [], len(wanted))

    for node in (couch, node2):
        eventually(lambda: has_everything(node), timeout=60)


@needs_local_couchdb
def test_acknowledged_puts_survive_a_node_killed_mid_stream(cluster):
    couch = Couch(cluster.url, "midstream", timeout=30)
    couch.ensure_db()
    install_all(couch, compile_for(couch))
    live = LiveService(cluster.url, "midstream", threads=4)
    acknowledged, refused, read_statuses = set(), [], []
    lock = threading.Lock()

    def put(n: int) -> None:
        doc_id = f"put-{n:05d}"
        body = {"log_type": "page_view", "page_type": "home", "generation_time": float(n % 500),
                "timestamp": "2026-11-21T08:30:00.000Z"}
        try:
            answer = requests.put(f"{live.url}/logs/{doc_id}", json=body, timeout=30, headers={"X-API-Key": INGEST_KEY})
            status = answer.status_code
        except requests.RequestException as exc:
            status = repr(exc)
        with lock:
            (acknowledged.add(doc_id) if status in (200, 201) else refused.append((doc_id, status)))

    try:
        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(put, range(PUTS // 3)))
            cluster.kill(node=2)
            rest = pool.map(put, range(PUTS // 3, PUTS))
            for path in ("/stats/page-times?percentiles=false", "/products/popular", "/readyz"):
                read_statuses.append((path, live.get(path).status_code))
            list(rest)
        assert len(first) == PUTS // 3
    finally:
        live.stop()
        cluster.restart(node=2)
    assert all(status == 200 for _, status in read_statuses), read_statuses
    assert not refused, f"writes refused while a node was down: {refused[:5]}"
    stored = eventually(lambda: checked_ids(couch, acknowledged), timeout=30)
    assert len(stored) == len(set(stored)) == PUTS


def checked_ids(couch: Couch, acknowledged: set[str]) -> list[str]:
    stored = all_ids(couch)
    assert acknowledged <= set(stored), f"{len(acknowledged - set(stored))} acknowledged logs missing"
    return stored
