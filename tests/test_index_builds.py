"""Nothing waits blindly on an index build: waits survive CouchDB's request timeout.

CouchDB answers a view query that waits on an index build for longer than
`[fabric] request_timeout` (60 s by default) with 500 `timeout`. Here that timeout is
lowered to a fraction of a second on every node, so an ordinary build outlasts it.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from loader.couchdb.couch import CouchError
from loader.devtools.generate import generate
from loader.logs.ingest import PendingLog, write_logs
from service.cli import main

REQUEST_TIMEOUT_MS = "300"


@contextmanager
def short_request_timeout(couch):
    """Set fabric/request_timeout on every node of the server; restore it afterwards."""
    nodes = couch.request("GET", "_membership").json()["all_nodes"]
    previous = {}
    for node in nodes:
        path = f"_node/{node}/_config/fabric/request_timeout"
        previous[node] = couch.request("GET", path, ok=(200, 404))
        couch.request("PUT", path, json=REQUEST_TIMEOUT_MS)
    try:
        yield
    finally:
        for node, answer in previous.items():
            path = f"_node/{node}/_config/fabric/request_timeout"
            if answer.status_code == 200:
                couch.request("PUT", path, json=answer.json())
            else:
                couch.request("DELETE", path)


def test_warm_outlasts_the_request_timeout(couchdb_url, shop):
    if shop.server_info().vendor != "couchdb":
        pytest.skip("PouchDB Server has no request timeout: a query waits for the build")
    docs = list(generate(seed=5, orders=300, days=7))
    for start in range(0, len(docs), 1000):
        write_logs(shop, [PendingLog(doc.pop("_id"), doc) for doc in docs[start:start + 1000]])
    with short_request_timeout(shop):
        with pytest.raises(CouchError) as refused:
            shop.query_view("recommend", "co_purchase", limit=1, reduce=False, timeout=60)
        assert (refused.value.status, refused.value.error) == (500, "timeout")
        # What `couchrec load` runs after writing; it used to die here with "500 timeout".
        warm = CliRunner().invoke(main, ["designdocs", "warm"], env={"COUCHDB_URL": couchdb_url, "COUCHREC_DB": shop.db})
    assert warm.exit_code == 0, warm.output
    assert "still building" in warm.output
    assert "view indexes up to date" in warm.output
    rows = shop.query_view("recommend", "orders", group=True, key="orders")["rows"]
    assert rows[0]["value"] == sum(doc["log_type"] in ("checkout", "purchase") for doc in docs)
