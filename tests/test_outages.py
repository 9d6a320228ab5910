"""The database down, hung or losing answers: the service answers 503 with Retry-After in bounded time,
acknowledges nothing it did not commit, and recovers by itself. (Crashes of the database: test_crashes.py.)"""

import json
import time
import uuid

import pytest

from loader.couchdb.couch import CouchError, CouchTimeout, CouchUnavailable
from loader.devtools.generate import generate
from loader.logs.ingest import PendingLog, write_logs
from tests.faults import FaultyProxy
from tests.servers import LiveService
from tests.test_index_builds import short_request_timeout

TIMEOUT = 1.5  # COUCHREC_TIMEOUT for the service under test
HANG_GUARD = 15  # seconds: far above the timeout, so only a hang trips it
LOG = {"log_type": "page_view", "page_type": "home", "generation_time": 12.5}


@pytest.fixture(scope="module")
def proxy(couchdb_url):
    faulty = FaultyProxy(couchdb_url)
    yield faulty
    faulty.stop()


@pytest.fixture(scope="module")
def exposed(proxy, module_shop):
    """The service reaching its database through the faulty proxy."""
    live = LiveService(proxy.url, module_shop.db, extra_env={"COUCHREC_TIMEOUT": str(TIMEOUT)}, threads=4)
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def healthy_again(proxy):
    proxy.set_mode("pass")
    yield
    proxy.set_mode("pass")


def timed(call):
    started = time.monotonic()
    answer = call()
    return answer, time.monotonic() - started


READS = ["/stats/page-times", "/recommendations/items/i1", "/recommendations/cart?items=i1,i2",
         "/recommendations/users/u1", "/products/popular", "/products/i1/also-viewed"]


@pytest.mark.parametrize("mode", ["down", "stall"])
def test_reads_answer_503_with_retry_after_in_bounded_time(exposed, proxy, mode):
    for path in READS:
        assert exposed.get(path).status_code == 200, path  # healthy first (and cached)
    proxy.set_mode(mode)
    for path in READS:
        answer, seconds = timed(lambda: exposed.get(path))
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["error"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
        assert seconds < HANG_GUARD, f"{path} took {seconds:.1f} s"


@pytest.mark.parametrize("mode", ["down", "stall"])
def test_writes_answer_503_and_are_not_stored(exposed, proxy, module_shop, mode):
    doc_id = "outage-" + uuid.uuid4().hex[:10]
    proxy.set_mode(mode)
    answer, seconds = timed(lambda: exposed.request("PUT", f"/logs/{doc_id}", json=LOG))
    bulk = exposed.request("POST", "/logs/_bulk", json=[dict(LOG, _id=doc_id + "-b")])
    proxy.set_mode("pass")
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert bulk.status_code == 503
    assert seconds < HANG_GUARD
    assert module_shop.get_doc(doc_id) is None and module_shop.get_doc(doc_id + "-b") is None


def test_a_write_whose_answer_was_lost_is_not_acknowledged_and_a_retry_settles_it(exposed, proxy, module_shop):
    doc_id = "lost-answer-" + uuid.uuid4().hex[:10]
    proxy.set_mode("lose_answers")
    first = exposed.request("PUT", f"/logs/{doc_id}", json=LOG)
    proxy.set_mode("pass")
    assert first.status_code == 503, "no acknowledgement without CouchDB's answer"
    assert module_shop.get_doc(doc_id) is not None, "the write did commit on the database"
    retry = exposed.request("PUT", f"/logs/{doc_id}", json=LOG)
    assert retry.status_code == 200 and retry.json()["status"] == "present"
    rows = module_shop.db_request("GET", "_all_docs", params={"key": json.dumps(doc_id)}).json()["rows"]
    assert len(rows) == 1


def test_readiness_goes_red_and_back(exposed, proxy):
    assert exposed.get("/readyz").status_code == 200
    for mode in ("down", "stall"):
        proxy.set_mode(mode)
        red, seconds = timed(lambda: exposed.get("/readyz"))
        assert red.status_code == 503 and red.json()["database"] == "unreachable"
        assert seconds < HANG_GUARD
        assert exposed.get("/healthz").status_code == 200, "liveness does not depend on the database"
        proxy.set_mode("pass")
        assert exposed.get("/readyz").status_code == 200


def test_a_request_of_many_slow_database_calls_answers_503_once_its_time_is_spent(proxy, module_shop):
    """COUCHREC_TIMEOUT bounds a request's CouchDB calls together, not each one: every call answers
    within it, but a cart's three rounds (update_seq; each item's co-purchases, in parallel; best sellers
    to fill the list) do not."""
    budget = 5.0  # roomy, so that a loaded machine's own latency stays well inside it
    live = LiveService(proxy.url, module_shop.db, extra_env={"COUCHREC_TIMEOUT": str(budget)})
    proxy.delay = budget * 0.4
    cart = ",".join(f"slow-{uuid.uuid4().hex[:8]}" for _ in range(6))  # never asked before: nothing cached
    try:
        proxy.set_mode("slow")
        one_call = live.request("PUT", f"/logs/slow-{uuid.uuid4().hex[:10]}", json=LOG)
        many_calls, seconds = timed(lambda: live.get(f"/recommendations/cart?items={cart}"))
    finally:
        live.stop()
    assert one_call.status_code == 201, one_call.text
    assert many_calls.status_code == 503, many_calls.text
    assert many_calls.json()["error"] == "database_unavailable"
    assert int(many_calls.headers["Retry-After"]) > 0
    assert seconds < HANG_GUARD


def test_couchdbs_own_timeout_answers_503_with_retry_after(couchdb_url, shop):
    """CouchDB answers 500 `timeout` when a query waits on an index build for longer than its request
    timeout; the client gets 503 and Retry-After, as for any slow database."""
    if shop.server_info().vendor != "couchdb":
        pytest.skip("PouchDB Server has no request timeout: a query waits for the build")
    docs = list(generate(seed=5, orders=300, days=7))
    for start in range(0, len(docs), 1000):
        write_logs(shop, [PendingLog(doc.pop("_id"), doc) for doc in docs[start:start + 1000]])
    live = LiveService(couchdb_url, shop.db, extra_env={"COUCHREC_TIMEOUT": "30"})  # ours: far from reached
    try:
        with short_request_timeout(shop):
            answer = live.get("/products/popular", headers={"X-Request-Id": "waits-on-a-build"})
        live.log.seek(0)
        logged = [json.loads(line) for line in live.log.read().splitlines() if line.startswith("{")]
    finally:
        live.stop()
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"] == "database_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    [line] = [line for line in logged if line.get("request_id") == "waits-on-a-build"]
    assert line["error"].startswith("CouchTimeout: 500 timeout"), line  # CouchDB gave up, not our deadline
    assert issubclass(CouchTimeout, CouchUnavailable) and issubclass(CouchTimeout, CouchError)
