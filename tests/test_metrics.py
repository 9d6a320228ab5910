"""GET /metrics: Prometheus text, summed over several gunicorn workers, moved by real traffic."""

from __future__ import annotations

import uuid

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.values import MultiProcessValue

from service.metrics import WrittenFilesCollector
from tests.servers import INGEST_KEY, LiveService

LOG = {"log_type": "page_view", "page_type": "home", "generation_time": 12.5}
NEW_LOGS = 12


@pytest.fixture(scope="module")
def two_workers(couchdb_url, module_shop):
    live = LiveService(couchdb_url, module_shop.db, workers=2, threads=2)
    yield live
    live.stop()


def scrape(live: LiveService) -> dict[tuple[str, frozenset], float]:
    """Every sample of one scrape, by name and labels."""
    answer = requests.get(live.url + "/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.text) for sample in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: dict, name: str) -> float:
    return sum(v for (sample, _), v in samples.items() if sample == name)


def put(live: LiveService, doc_id: str, body) -> int:
    """A PUT on a connection of its own, so the kernel spreads them over both workers."""
    return requests.put(f"{live.url}/logs/{doc_id}", json=body, headers={"X-API-Key": INGEST_KEY}, timeout=30).status_code


def test_counts_move_with_traffic_whichever_worker_served_it(two_workers):
    before = scrape(two_workers)
    prefix = uuid.uuid4().hex[:8]
    assert all(put(two_workers, f"{prefix}-{n}", LOG) == 201 for n in range(NEW_LOGS))
    assert put(two_workers, f"{prefix}-0", LOG) == 200  # the same log again: present
    assert put(two_workers, f"{prefix}-0", dict(LOG, page_type="cart")) == 409
    assert put(two_workers, f"{prefix}-bad", {"log_type": "page_view"}) == 400
    for _ in range(3):  # the same question thrice: at least one cache miss, then hits
        assert requests.get(two_workers.url + "/products/popular", timeout=30).status_code == 200
    assert requests.get(two_workers.url + f"/no/such/{prefix}", timeout=30).status_code == 404

    for _ in range(4):  # every scrape sums both workers, so each gives the same counts
        after = scrape(two_workers)

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        requests_seen = "couchrec_http_request_duration_seconds_count"
        assert moved(requests_seen, method="PUT", route="/logs/<text:doc_id>", status="201") == NEW_LOGS
        assert moved(requests_seen, method="PUT", route="/logs/<text:doc_id>", status="409") == 1
        assert moved(requests_seen, method="GET", route="/products/popular", status="200") == 3
        assert moved(requests_seen, method="GET", route="(unmatched)", status="404") == 1
        for outcome, count in (("created", NEW_LOGS), ("present", 1), ("conflict", 1), ("rejected", 1)):
            assert moved("couchrec_logs_ingested_total", outcome=outcome) == count, outcome
        couchdb_writes = "couchrec_couchdb_request_duration_seconds_count"  # one _bulk_docs per log written
        assert sum(moved(couchdb_writes, method="POST", status=status) for status in ("201", "202")) >= NEW_LOGS + 2
        lookups = [moved("couchrec_view_cache_lookups_total", result=result) for result in ("hit", "miss")]
        assert lookups[1] >= 1 and sum(lookups) >= 3
    assert not [labels for (name, labels) in after if dict(labels).get("route", "").startswith("/no/")], \
        "routes are URL rules, never raw paths"
    assert total(after, "couchrec_http_request_duration_seconds_bucket") > 0


def test_couchdb_trouble_is_counted(couchdb_url, module_shop):
    """A database that does not answer shows as CouchDB errors with no status."""
    live = LiveService("http://127.0.0.1:9", module_shop.db, workers=2, threads=2)  # nothing listens on port 9
    try:
        assert requests.get(live.url + "/products/popular", timeout=30).status_code == 503
        samples = scrape(live)
    finally:
        live.stop()
    assert value(samples, "couchrec_couchdb_errors_total", kind="no_answer") >= 1
    assert value(samples, "couchrec_couchdb_request_duration_seconds_count", method="GET", status="none") >= 1
    assert value(samples, "couchrec_http_request_duration_seconds_count", method="GET", route="/products/popular",
                 status="503") == 1


def gauges(samples: dict, name: str, derived: str) -> list[float]:
    """A gauge's values for one derived database, one per worker process (multiprocess gauges carry a pid)."""
    return [v for (sample, labels), v in samples.items() if sample == name and ("derived", derived) in labels]


def test_the_worker_lag_is_read_at_scrape_time(two_workers, module_shop):
    from loader.derived.derived import rebuild
    from loader.recommendations.neighbours import NeighbourLists
    from loader.pages.pagesummaries import PageSummaries

    assert total(scrape(two_workers), "couchrec_derived_pending_changes") == 0, "no derived databases yet: no gauge"
    rebuild(NeighbourLists(module_shop))  # stores the lists' worker checkpoint; the summaries have none yet
    for n in range(3):
        assert put(two_workers, f"lag-{uuid.uuid4().hex[:8]}-{n}", LOG) == 201
    samples = scrape(two_workers)
    assert gauges(samples, "couchrec_derived_pending_changes", "neighbours")
    assert min(gauges(samples, "couchrec_derived_pending_changes", "neighbours")) >= 3
    assert not gauges(samples, "couchrec_derived_pending_changes", "page-times")
    rebuild(PageSummaries(module_shop))
    samples = scrape(two_workers)
    for name in ("neighbours", "page-times"):
        ages = gauges(samples, "couchrec_derived_checkpoint_age_seconds", name)
        assert ages and all(0 <= age < 300 for age in ages), (name, ages)  # the rebuilds wrote them just now

def test_a_scrape_skips_a_worker_file_not_yet_begun(tmp_path, monkeypatch):
    """A gunicorn worker creates its metrics file empty and sizes it on its first sample: a scrape in between
    adds up the other files instead of failing (it answered 500 with `struct.error` before)."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr("prometheus_client.values.ValueClass", MultiProcessValue(lambda: 4242))
    Counter("couchrec_test_scrapes_total", "a counter of one process", registry=CollectorRegistry()).inc(3)
    (tmp_path / "counter_4343.db").write_bytes(b"")  # a second worker's file, created and not yet sized
    registry = CollectorRegistry()
    WrittenFilesCollector(registry, str(tmp_path))
    assert "couchrec_test_scrapes_total 3.0" in generate_latest(registry).decode()
