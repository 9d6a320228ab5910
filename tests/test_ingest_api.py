"""Ingestion through the running service: ids, idempotency, errors, bulk, and what lands in CouchDB."""

import json
from concurrent.futures import ThreadPoolExecutor
import time
import uuid

import pytest

from loader.derived.derived import is_cluster
from tests.servers import LiveService


def new_id() -> str:
    return "t-" + uuid.uuid4().hex[:12]


PAGE_VIEW = {"log_type": "page_view", "page_type": "home", "generation_time": 42.5,
             "timestamp": "2026-11-01T10:00:00+01:00"}


def stored_through(service, doc_id: str, body: dict) -> None:
    """PUT a log the way a client is told to (a 503 is sent again after its Retry-After) and insist it was
    acknowledged: a test about what follows a stored log must not start from one a busy cluster refused."""
    for _ in range(5):
        answer = service.request("PUT", f"/logs/{doc_id}", json=body)
        if answer.status_code != 503:
            break
        time.sleep(float(answer.headers["Retry-After"]))
    assert answer.status_code in (200, 201), answer.text


def test_put_creates_then_repeats_idempotently(service, module_shop):
    doc_id = new_id()
    created = service.request("PUT", f"/logs/{doc_id}", json=PAGE_VIEW)
    assert created.status_code == 201
    assert created.json() == {"id": doc_id, "status": "created"}
    assert created.headers["Location"].endswith(f"/logs/{doc_id}")
    stored = module_shop.get_doc(doc_id)
    assert stored["timestamp"] == "2026-11-01T09:00:00.000Z"
    assert stored["generation_time"] == 42.5

    again = service.request("PUT", f"/logs/{doc_id}", json=PAGE_VIEW)
    assert again.status_code == 200
    assert again.json() == {"id": doc_id, "status": "present"}
    assert module_shop.get_doc(doc_id)["_rev"] == stored["_rev"]


def test_put_of_a_different_log_under_a_taken_id_is_a_conflict(service, module_shop):
    doc_id = new_id()
    stored_through(service, doc_id, PAGE_VIEW)
    clash = service.request("PUT", f"/logs/{doc_id}", json=dict(PAGE_VIEW, generation_time=43))
    assert clash.status_code == 409
    assert clash.json()["error"] == "conflict"
    assert module_shop.get_doc(doc_id)["generation_time"] == 42.5


def test_a_log_stamped_by_the_service_repeats_idempotently(service, module_shop):
    doc_id = new_id()
    body = {"log_type": "access", "item_id": "i1"}
    assert service.request("PUT", f"/logs/{doc_id}", json=body).status_code == 201
    assert module_shop.get_doc(doc_id)["timestamp"].endswith("Z")
    assert service.request("PUT", f"/logs/{doc_id}", json=body).status_code == 200


@pytest.mark.parametrize("path", ["/logs/_design/evil", "/logs/_local/x", "/logs/_all_docs", "/logs/a%20b"])
def test_reserved_or_malformed_ids_are_refused_and_nothing_is_written(service, module_shop, path):
    answer = service.request("PUT", path, json=PAGE_VIEW)
    assert answer.status_code == 400
    assert answer.json()["field"] == "id"
    assert module_shop.get_doc("_design/evil") is None
    assert module_shop.get_doc("a b") is None


@pytest.mark.parametrize("body,field,message", [
    ('{"log_type": "page_view", "page_type": "home"}', "generation_time", "generation_time: is required"),
    ('{"log_type": "page_view", "page_type": "home", "generation_time": "fast"}', "generation_time",
     "generation_time: must be a number"),
    ('{"log_type": "nope"}', "log_type", "log_type: must be one of: access, cart, checkout, page_view, purchase"),
    ('{"log_type": "access", "item_id": "i", "timestamp": "soon"}', "timestamp",
     "timestamp: must be an RFC 3339 date-time, e.g. 2026-11-21T08:30:00Z"),
    ('{"log_type": "access", "item_id": "i", "_rev": "1-x"}', "_rev",
     "_rev: fields starting with _ are reserved for CouchDB"),
    ('{"log_type": "access", "item_id": "i", "_id": "other"}', "_id", "must match the id in the URL (or be left out)"),
    ('[1, 2]', "(document)", "(document): must be a JSON object"),
    ('{"log_type": "page_view", ', "(body)", None),
    ('{"generation_time": NaN}', "(body)", "not valid JSON: NaN is not a JSON number"),
    ('', "(body)", "the request body is empty; send a JSON object"),
    ('{"meta": ' * 17 + '1' + '}' * 17, "(body)", "not valid JSON: nests deeper than 16 levels"),
    ('[' * 100_000 + ']' * 100_000, "(body)", "not valid JSON: nests deeper than 16 levels"),
])
def test_malformed_documents_get_a_400_naming_the_field(service, body, field, message):
    answer = service.request("PUT", f"/logs/{new_id()}", data=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    if message:
        assert answer.json()["message"] == message


def test_a_body_without_json_content_type_is_still_read_as_json(service, module_shop):
    doc_id = new_id()
    answer = service.request("PUT", f"/logs/{doc_id}", data=json.dumps(PAGE_VIEW),
                             headers={"Content-Type": "text/plain"})
    assert answer.status_code == 201
    assert module_shop.get_doc(doc_id)["page_type"] == "home"


def test_post_generates_an_id(service, module_shop):
    answer = service.request("POST", "/logs", json={"log_type": "access", "item_id": "i7"})
    assert answer.status_code == 201
    assert module_shop.get_doc(answer.json()["id"])["item_id"] == "i7"


def test_bulk_json_array_reports_each_documents_fate(service, module_shop):
    taken = new_id()
    stored_through(service, taken, PAGE_VIEW)
    given = new_id()
    records = [
        dict(PAGE_VIEW, _id=given),
        {"log_type": "access", "item_id": "i1"},
        dict(PAGE_VIEW, _id=taken),
        dict(PAGE_VIEW, _id=taken, generation_time=1),
        {"log_type": "cart", "_id": new_id()},
        dict(PAGE_VIEW, _id="_design/x"),
        "not an object",
    ]
    answer = service.request("POST", "/logs/_bulk", json=records)
    assert answer.status_code == 200
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [
        "created", "created", "present", "conflict", "rejected", "rejected", "rejected"]
    assert (body["created"], body["present"], body["conflict"], body["rejected"], body["failed"]) == (2, 1, 1, 3, 0)
    assert body["results"][4]["field"] == "cart_id"
    assert body["results"][5]["field"] == "_id"
    assert module_shop.get_doc(given)["generation_time"] == 42.5
    assert module_shop.get_doc(body["results"][1]["id"])["item_id"] == "i1"
    assert module_shop.get_doc("_design/x") is None


def test_bulk_ndjson_rejects_an_unreadable_line_and_keeps_the_rest(service, module_shop):
    first, second = new_id(), new_id()
    lines = [json.dumps(dict(PAGE_VIEW, _id=first)), "{broken", "", json.dumps(dict(PAGE_VIEW, _id=second))]
    answer = service.request("POST", "/logs/_bulk", data="\n".join(lines),
                             headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200
    assert [r["status"] for r in answer.json()["results"]] == ["created", "rejected", "created"]
    assert module_shop.get_doc(first) and module_shop.get_doc(second)


def test_bulk_over_the_limit_is_refused_whole(service, module_shop):
    records = [dict(PAGE_VIEW, _id=f"over-{n}") for n in range(1001)]
    answer = service.request("POST", "/logs/_bulk", json=records)
    assert answer.status_code == 413
    assert "at most 1000 logs" in answer.json()["message"]
    assert module_shop.get_doc("over-0") is None


def test_bulk_that_is_not_an_array_is_a_400(service):
    answer = service.request("POST", "/logs/_bulk", json={"log_type": "access"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "(body)"


def test_every_acknowledged_log_is_in_the_database(service, module_shop):
    acknowledged = []
    for n in range(40):
        answer = service.request("POST", "/logs", json=dict(PAGE_VIEW, generation_time=n))
        assert answer.status_code == 201
        acknowledged.append(answer.json()["id"])
    stored = module_shop.get_docs(acknowledged)
    assert sorted(stored) == sorted(acknowledged)
    assert sorted(doc["generation_time"] for doc in stored.values()) == list(range(40))


def test_unknown_routes_and_methods_answer_json(service):
    missing = service.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = service.request("DELETE", "/logs/x")
    assert wrong.status_code == 405 and "message" in wrong.json()


def test_a_body_over_the_size_limit_is_a_413_naming_the_limit(couchdb_url, module_shop):
    small = LiveService(couchdb_url, module_shop.db, extra_env={"COUCHREC_MAX_BODY_BYTES": "2048"})
    try:
        fits = small.request("PUT", "/logs/size-ok", json=dict(PAGE_VIEW, meta={"note": "x" * 1000}))
        too_big = small.request("POST", "/logs/_bulk", json=[dict(PAGE_VIEW, _id=f"size-{n}") for n in range(40)])
    finally:
        small.stop()
    assert fits.status_code == 201
    assert too_big.status_code == 413
    assert too_big.json() == {"error": "body_too_large", "field": "(body)",
                              "message": "the body is larger than 2048 bytes (COUCHREC_MAX_BODY_BYTES); split it"}
    assert module_shop.get_doc("size-0") is None


def test_concurrent_puts_of_one_id_give_one_created_and_the_rest_present_or_conflict(service, module_shop):
    """Concurrent PUTs of one id race in the database; each gets the answer of its own log.

    On a cluster each copy of a shard takes whichever write reaches it first, so two concurrent
    writes can both reach a quorum: the same log is then stored once (its revision id is a hash
    of its content) and both are told "created"; two different logs are both kept, as
    conflicting revisions of which CouchDB shows a deterministic winner (docs/decisions.md)."""
    cluster = is_cluster(module_shop)
    same, clash = [new_id() for _ in range(12)], [new_id() for _ in range(6)]
    asks = [(doc_id, PAGE_VIEW) for doc_id in same for _ in range(3)]
    asks += [(doc_id, dict(PAGE_VIEW, generation_time=time)) for doc_id in clash for time in (1.0, 2.0)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda ask: service.request("PUT", f"/logs/{ask[0]}", json=ask[1]), asks))
    by_id: dict[str, list] = {}
    for (doc_id, body), answer in zip(asks, answers):
        by_id.setdefault(doc_id, []).append((answer.status_code, body["generation_time"]))
    for doc_id in same:
        codes = sorted(code for code, _ in by_id[doc_id])
        assert codes == [200, 200, 201] or (cluster and codes[-1] == 201 and set(codes) <= {200, 201})
        stored = module_shop.db_request("GET", doc_id, params={"conflicts": "true"}).json()
        assert stored["_rev"].startswith("1-") and "_conflicts" not in stored
    for doc_id in clash:
        codes = sorted(code for code, _ in by_id[doc_id])
        assert codes == [201, 409] or (cluster and codes == [201, 201])
        kept = {time for code, time in by_id[doc_id] if code == 201}
        assert module_shop.get_doc(doc_id)["generation_time"] in kept
