"""Ids that CouchDB's ICU collation could not tell apart are refused at the door.

ICU ignores control and invisible formatting characters when it compares strings, so a view
would group `"a\\u0098"` with `"a"` and a range `startkey=["a"]&endkey=["a", {}]` would return
both. Fuzzing found a cart of such ids answered 500 on CouchDB (PouchDB Server compares code
points and never showed it). The schema refuses them, in the service and in the database.
"""

import pytest

from loader.logs.ingest import PendingLog, write_logs

INVISIBLE_IDS = ["a\u0098", "a\u200b", "a\u034f", "\ufeffa"]


@pytest.mark.parametrize("item", INVISIBLE_IDS)
def test_the_service_refuses_ids_with_invisible_characters(service, item):
    answer = service.get("/recommendations/cart", params={"items": f"b,{item}"})
    assert answer.status_code == 400
    assert answer.json()["field"] == "items[1]"
    put = service.request("PUT", "/logs/v1", json={"log_type": "access", "item_id": item})
    assert (put.status_code, put.json()["field"]) == (400, "item_id")


def test_the_database_refuses_them_from_any_writer(module_shop):
    logs = [PendingLog(f"order-{n}", {"log_type": "checkout", "order_id": f"o{n}", "items": [item, "p"],
                                      "timestamp": "2026-10-01T12:00:00.000Z"})
            for n, item in enumerate(INVISIBLE_IDS)]
    outcomes = write_logs(module_shop, logs)
    assert [(o.status, o.field) for o in outcomes] == [("rejected", "items[0]")] * len(INVISIBLE_IDS)
