"""The benchmark suite runs end to end in its smoke size, so it can't rot; no figure is judged here."""

import json
import subprocess
import sys

import pytest

from loader.couchdb.couch import Couch
from loader.derived.derived import is_cluster
from tests.servers import REPO_DIR

pytestmark = pytest.mark.slow  # minutes of benchmarks: `bash scripts/test --all` and CI run it

SECTIONS = ("ingestion", "views", "serving", "freshness", "growth", "neighbours")


def test_the_benchmark_suite_runs_and_writes_every_table(couchdb_url):
    if is_cluster(Couch(couchdb_url, "_")):
        pytest.skip("benchmark figures come from a single node; the PouchDB Server and single-node runs keep "
                    "the scripts from rotting (bench/scaling.py starts its own cluster)")
    done = subprocess.run([sys.executable, "-m", "bench.run", "--size", "smoke"], cwd=REPO_DIR, capture_output=True,
                          text=True, timeout=1200, env={"PATH": "/usr/bin:/bin", "COUCHDB_URL": couchdb_url})
    assert done.returncode == 0, done.stderr[-3000:]
    out = REPO_DIR / "test-artifacts" / "bench"
    text = (out / "benchmarks.md").read_text()
    for heading in ("### Goals", "### Ingestion", "### View build", "### Serving", "### Freshness", "### Growth",
                    "### Neighbour lists"):
        assert heading in text
    kind = Couch(couchdb_url, "_").server_info().vendor  # results are kept per database kind
    results = {name: json.loads((out / kind / f"{name}.json").read_text()) for name in SECTIONS}
    assert [row["clients"] for row in results["ingestion"]["put"]] == [1, 8, 32]
    assert results["ingestion"]["memory"]["stored"] == results["ingestion"]["memory"]["lines"]
    assert {row["endpoint"] for row in results["serving"]["rows"]} == {"stats", "item", "cart", "user"}
    assert all(row["raw_p50_ms"] > 0 and row["cached_p50_ms"] > 0 for row in results["serving"]["rows"])
    assert results["freshness"]["rebuild"] > 0 and results["freshness"]["incremental"] > 0
    growth = results["growth"]["sizes"]
    assert sorted(map(int, growth)) == [200, 400] and results["growth"]["machine"]["cores"] > 0
    assert all(steps[name]["done"] for steps in growth.values() for name in ("load", "build:recommend", "lists_rebuild",
                                                                             "summaries_rebuild", "latency", "worker"))
    assert all(steps["worker"]["orders_per_second"] > 0 for steps in growth.values())
    assert results["views"]["machine"]["database"]
    assert results["neighbours"]["rebuild"]["items"] > 0 and results["neighbours"]["cart"]["raw_p50_ms"] > 0
    assert all(row["reflected"] == row["orders"] for row in results["neighbours"]["freshness"])
