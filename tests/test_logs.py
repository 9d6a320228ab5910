"""Structured logs: one JSON line per request with its id, errors with their cause, never a password."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from service.logs import RedactingJsonFormatter
from tests.faults import FaultyProxy
from tests.servers import INGEST_KEY, LiveService

PASSWORD = "Pw-" + uuid.uuid4().hex  # nothing else in a log could contain it by chance
LOG = {"log_type": "page_view", "page_type": "home", "generation_time": 12.5}


def lines(live: LiveService) -> list[dict]:
    """Everything the service wrote, each line parsed as JSON (a line that is not JSON fails the test)."""
    live.log.flush()
    live.log.seek(0)
    return [json.loads(line) for line in live.log.read().splitlines() if line.strip()]


def request_lines(live: LiveService) -> list[dict]:
    return [line for line in lines(live) if line.get("logger") == "couchrec.request"]


@pytest.fixture(scope="module")
def service(couchdb_url, module_shop):
    live = LiveService(couchdb_url, module_shop.db)
    yield live
    live.stop()


def test_each_request_logs_one_json_line_with_its_route_and_the_callers_request_id(service):
    given = "shop-" + uuid.uuid4().hex
    answer = service.request("PUT", f"/logs/{given}", json=LOG, headers={"X-Request-Id": given})
    assert answer.status_code == 201
    assert answer.headers["X-Request-Id"] == given
    [line] = [line for line in request_lines(service) if line["request_id"] == given]
    assert line["method"] == "PUT" and line["route"] == "/logs/<text:doc_id>" and line["path"] == f"/logs/{given}"
    assert line["status"] == 201 and line["duration_ms"] > 0 and line["level"] == "INFO"


def test_a_request_without_an_id_gets_one_made_and_returned(service):
    answers = [service.get("/healthz") for _ in range(2)]
    made = [answer.headers["X-Request-Id"] for answer in answers]
    assert len(set(made)) == 2 and all(len(request_id) >= 16 for request_id in made)
    logged = {line["request_id"] for line in request_lines(service)}
    assert set(made) <= logged


@pytest.mark.parametrize("unsafe", ["has space", "x" * 200, "line\\nbreak"])
def test_an_unsafe_incoming_id_is_replaced(service, unsafe):
    answer = service.get("/healthz", headers={"X-Request-Id": unsafe})
    assert answer.headers["X-Request-Id"] != unsafe


def with_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"couchrec:{PASSWORD}@{parts.hostname}:{parts.port}"))


@pytest.mark.parametrize("mode", ["down", "stall"])
def test_database_failures_are_logged_with_their_cause_and_no_password(couchdb_url, module_shop, mode):
    proxy = FaultyProxy(couchdb_url)
    proxy.set_mode(mode)
    live = LiveService(with_password(proxy.url), module_shop.db, extra_env={"COUCHREC_TIMEOUT": "1"})
    try:
        read = live.get("/products/popular", headers={"X-Request-Id": "failing-read"})
        write = live.request("PUT", "/logs/failing-write", json=LOG, headers={"X-Request-Id": "failing-write"})
        ready = live.get("/readyz")
        written = lines(live)
        live.log.seek(0)
        raw = live.log.read()
    finally:
        live.stop()
        proxy.stop()
    assert (read.status_code, write.status_code, ready.status_code) == (503, 503, 503)
    assert PASSWORD not in raw and PASSWORD not in ready.text
    failed = {line["request_id"]: line for line in written if line.get("logger") == "couchrec.request"}
    for request_id in ("failing-read", "failing-write"):
        assert failed[request_id]["status"] == 503 and failed[request_id]["level"] == "WARNING"
        assert failed[request_id]["error"].startswith("CouchUnavailable: CouchDB at http://couchrec:***@")


def test_the_formatter_hides_any_password_in_a_url():
    formatter = RedactingJsonFormatter("%(message)s")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "cannot reach %s", (f"http://u:{PASSWORD}@db:5984/shop",),
                               None)
    line = json.loads(formatter.format(record))
    assert line["message"] == "cannot reach http://u:***@db:5984/shop"
