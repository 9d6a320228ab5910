"""The cluster compose shape, for real without Docker: three CouchDB 3.5 nodes from
`../shared/couchdb/couchdb-local` and two `couchrec serve` replicas, each talking to a node
of its own. A log written through one replica is read through the other; the design docs
are installed once, for the whole cluster.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from loader.couchdb.couch import Couch
from tests.eventually import eventually
from tests.crashable import COUCHDB_LOCAL, LocalCouchDB, needs_local_couchdb
from tests.servers import INGEST_KEY, REPO_DIR, free_port

COUCHREC = Path(sys.executable).parent / "couchrec"


pytestmark = [pytest.mark.slow, needs_local_couchdb]  # it starts its own cluster, so one of CI's runs is enough (the single node's)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Node URLs of a fresh 3-node cluster, stopped after the module."""
    if not COUCHDB_LOCAL.exists():
        pytest.skip(f"{COUCHDB_LOCAL} is not here (it comes with the project's shared/ folder)")
    instance = LocalCouchDB(tmp_path_factory.mktemp("cluster"), nodes=3)
    try:
        yield instance.node_urls
    finally:
        instance.stop()


def couchrec(*args: str, url: str, db: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COUCHDB_URL": url, "COUCHREC_DB": db}
    return subprocess.run([str(COUCHREC), *args], env=env, capture_output=True, text=True, timeout=300, cwd=REPO_DIR)


@pytest.fixture(scope="module")
def database(cluster):
    db = f"couchrec_test_{uuid.uuid4().hex[:12]}"
    installed = couchrec("designdocs", "install", url=cluster[0], db=db)
    assert installed.returncode == 0, installed.stderr
    yield db
    Couch(cluster[0], db).delete_db()


class Replica:
    """`couchrec serve` on a free port, against one node."""

    def __init__(self, node_url: str, db: str, log: Path):
        self.url = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "COUCHDB_URL": node_url, "COUCHREC_DB": db, "COUCHREC_INGEST_KEYS": INGEST_KEY,
               "COUCHREC_TIMEOUT": "60"}
        self.log = open(log, "w+")
        self.process = subprocess.Popen([str(COUCHREC), "serve", "--port", self.url.rsplit(":", 1)[1]],
                                        env=env, cwd=REPO_DIR, stdout=self.log, stderr=subprocess.STDOUT)
        eventually(self.answers, timeout=60)

    def answers(self) -> None:
        if self.process.poll() is not None:
            self.log.seek(0)
            pytest.fail(f"couchrec serve exited with {self.process.returncode}:\n{self.log.read()}")
        try:
            requests.get(f"{self.url}/healthz", timeout=2).raise_for_status()
        except requests.RequestException as exc:
            raise AssertionError(f"{self.url} does not answer yet") from exc

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def replicas(cluster, database, tmp_path_factory):
    folder = tmp_path_factory.mktemp("replicas")
    started = [Replica(cluster[0], database, folder / "a.log"), Replica(cluster[1], database, folder / "b.log")]
    yield started
    for replica in started:
        replica.stop()


def test_the_nodes_form_one_cluster(cluster):
    for url in cluster:
        membership = requests.get(f"{url}/_membership", timeout=10).json()
        assert len(membership["cluster_nodes"]) == 3
        assert sorted(membership["all_nodes"]) == sorted(membership["cluster_nodes"])


def test_design_docs_are_installed_once_for_the_whole_cluster(cluster, database):
    again = couchrec("designdocs", "install", url=cluster[2], db=database)
    assert again.returncode == 0, again.stderr
    assert "nothing was written" in again.stdout


def test_both_replicas_are_ready(replicas):
    for replica in replicas:
        assert requests.get(f"{replica.url}/readyz", timeout=30).status_code == 200


@pytest.mark.parametrize("writer, reader", [(0, 1), (1, 0)])
def test_a_log_written_through_one_replica_is_read_through_the_other(replicas, writer, reader):
    page_type = f"cluster-{writer}-{reader}"
    written = requests.put(f"{replicas[writer].url}/logs/{page_type}-1", headers={"X-API-Key": INGEST_KEY},
                           json={"log_type": "page_view", "page_type": page_type, "generation_time": 42.0}, timeout=30)
    assert written.status_code == 201, written.text

    def read_back() -> dict:
        answer = requests.get(f"{replicas[reader].url}/stats/page-times", params={"page_type": page_type}, timeout=30)
        assert answer.status_code == 200, answer.text
        groups = answer.json()["groups"]
        assert [group["count"] for group in groups] == [1]
        return groups[0]

    assert eventually(read_back, timeout=30)["avg"] == 42.0
    again = requests.put(f"{replicas[reader].url}/logs/{page_type}-1", headers={"X-API-Key": INGEST_KEY},
                         json={"log_type": "page_view", "page_type": page_type, "generation_time": 42.0}, timeout=30)
    assert (again.status_code, again.json()["status"]) == (200, "present")


def test_the_cluster_setup_job_leaves_a_finished_cluster_alone(cluster):
    nodes = " ".join(url.rsplit("@", 1)[1].replace("http://", "") for url in cluster)
    credentials = cluster[0].split("//", 1)[1].rsplit("@", 1)[0]
    user, password = credentials.split(":", 1)
    env = {**os.environ, "COUCHDB_NODES": nodes, "COUCHDB_USER": user, "COUCHDB_PASSWORD": password}
    run = subprocess.run([sys.executable, str(REPO_DIR / "docker" / "cluster_setup.py")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "3 nodes already form a cluster; nothing to do" in run.stdout
