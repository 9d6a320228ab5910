"""Server settings that decide whether indexes build fast, or at all (loader/couchdb/serverconfig.py), on a
CouchDB 3.5 of the test's own: couchjs with too little memory, and the small view-updater queue."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from bench.common import write_all
from loader.couchdb.couch import Couch
from loader.couchdb.serverconfig import QUEUE_FAST
from loader.devtools.generate import generate
from service.cli import main
from tests.crashable import LocalCouchDB, needs_local_couchdb
from tests.servers import LiveService

pytestmark = [pytest.mark.slow, needs_local_couchdb]  # CouchDBs of its own: `scripts/test --all`
COUCHDB_HOME = os.environ.get("COUCHDB_LOCAL_HOME", os.path.expanduser("~/.cache/couchdb-3.5.0"))
TINY_COUCHJS = f"{COUCHDB_HOME}/bin/couchjs -S 2097152 {COUCHDB_HOME}/share/server/main.js"  # 2 MiB


@pytest.fixture(scope="module")
def small_couchdb():
    """A CouchDB whose couchjs may use 2 MiB: enough to start, too little for a grocery shop's maps."""
    server = LocalCouchDB(env={"COUCHDB_QUERY_SERVER_JAVASCRIPT": TINY_COUCHJS})
    yield server
    server.stop()


def set_queue(couch: Couch, size: int) -> None:
    couch.request("PUT", "_node/_local/_config/view_updater/queue_memory_cap", json=str(size))


def test_a_build_that_kills_couchjs_names_the_fix(small_couchdb):
    couch = Couch(small_couchdb.url, "oom", timeout=120)
    couch.ensure_db()
    write_all(couch, [doc for doc in generate(seed=3, orders=3000, profile="grocery") if doc["log_type"] == "checkout"])
    env = {"COUCHDB_URL": small_couchdb.url, "COUCHREC_DB": "oom"}
    result = CliRunner().invoke(main, ["designdocs", "install"], env=env)
    assert result.exit_code == 1
    assert "couchjs" in result.output and "COUCHDB_QUERY_SERVER_JAVASCRIPT" in result.output
    assert "-S 536870912" in result.output and "Traceback" not in result.output


def test_the_small_view_queue_is_named_at_install_and_in_readiness(small_couchdb):
    couch = Couch(small_couchdb.url, "queue", timeout=120)
    couch.ensure_db()
    env = {"COUCHDB_URL": small_couchdb.url, "COUCHREC_DB": "queue"}
    set_queue(couch, 100_000)
    try:
        installed = CliRunner().invoke(main, ["designdocs", "install"], env=env)
        assert installed.exit_code == 0, installed.output
        assert "queue_memory_cap is 100,000 bytes" in installed.stderr and str(QUEUE_FAST) in installed.stderr
        live = LiveService(small_couchdb.url, "queue")
        try:
            ready = live.get("/readyz")
            assert ready.status_code == 200
            assert any("queue_memory_cap is 100,000 bytes" in warning for warning in ready.json()["warnings"])
            set_queue(couch, QUEUE_FAST)
            assert live.get("/readyz").json()["warnings"] == []
        finally:
            live.stop()
        again = CliRunner().invoke(main, ["designdocs", "install"], env=env)
        assert again.exit_code == 0 and "queue_memory_cap" not in again.stderr
    finally:
        set_queue(couch, QUEUE_FAST)
