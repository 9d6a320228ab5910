"""A bounded load run against the service under gunicorn: 32 clients of mixed ingestion and reads, 0 errors.

The run is short here (LOAD_SECONDS); `python -m bench.load_run` runs it for 30 s.
Figures go to test-artifacts/load_run.json; nothing about speed is asserted.
"""

import json
import os

from bench.load_run import print_table, run_load
from loader.couchdb.couch import Couch
from tests.servers import INGEST_KEY, REPO_DIR, LiveService

LOAD_SECONDS = float(os.environ.get("COUCHREC_TEST_LOAD_SECONDS", "8"))


def test_32_clients_of_mixed_traffic_get_no_errors_and_lose_no_log(seeded_service):
    live = LiveService(seeded_service.couchdb_url, seeded_service.db, workers=2, threads=8,
                       extra_env={"COUCHREC_TIMEOUT": "10"})
    try:
        popular = live.get("/products/popular", params={"limit": 30}).json()["results"]
        items = [row["item_id"] for row in popular]
        figures, acknowledged = run_load(live.url, INGEST_KEY, clients=32, seconds=LOAD_SECONDS, items=items,
                           users=[f"user-{n:06d}" for n in range(1, 60)])
    finally:
        live.stop()
    print_table(figures)
    (REPO_DIR / "test-artifacts").mkdir(exist_ok=True)
    (REPO_DIR / "test-artifacts" / "load_run.json").write_text(json.dumps(figures, indent=2))
    assert figures["errors"] == 0, figures["error_examples"]
    assert figures["requests"] > 32 and set(figures["by_kind"]) == {"ingest", "item", "cart", "user", "stats",
                                                                      "popular"}
    assert len(acknowledged) == figures["by_kind"]["ingest"]["requests"] > 0
    stored = Couch(seeded_service.couchdb_url, seeded_service.db).get_docs(acknowledged)
    assert sorted(stored) == sorted(acknowledged), "every acknowledged log is in the database"
