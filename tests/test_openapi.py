"""/openapi.json: a valid OpenAPI 3.1 document that covers every route, and whose schemas the real answers meet."""

import re

import pytest
import requests
from flask import Flask
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from loader.settings import Settings
from service import create_app
from service.openapi import openapi_document


@pytest.fixture(scope="module")
def document(seeded_service):
    answer = seeded_service.get("/openapi.json")
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture(scope="module")
def an_item(seeded_service):
    return seeded_service.get("/products/popular", params={"limit": 1}).json()["results"][0]["item_id"]


def offline_app() -> Flask:
    return create_app(Settings(couchdb_url="http://127.0.0.1:9"))


def test_document_is_valid_openapi_3(document):
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_route_and_method_of_the_app_is_described(document):
    app = offline_app()
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    described = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert len(routes) >= 17
    assert routes == described


def test_a_route_without_a_declaration_stops_the_document():
    app = offline_app()
    app.add_url_rule("/undeclared", "undeclared", lambda: "hi")
    with app.app_context(), pytest.raises(LookupError, match="/undeclared"):
        openapi_document(app)


def conforms(document, answer: requests.Response, path: str, method: str):
    """Check an answer against what the document says this operation answers with this status."""
    responses = document["paths"][path][method]["responses"]
    assert str(answer.status_code) in responses, f"{method} {path} answered an undocumented {answer.status_code}"
    schema = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(answer.json())]
    assert not errors, errors


CASES = [  # (method, documented path, actual path, request keywords, expected status)
    ("get", "/healthz", "/healthz", {}, 200),
    ("get", "/readyz", "/readyz", {}, 200),
    ("get", "/status/neighbours", "/status/neighbours", {}, 200),
    ("get", "/status/page-times", "/status/page-times", {}, 200),
    ("get", "/stats/page-times", "/stats/page-times", {}, 200),
    ("get", "/stats/page-times", "/stats/page-times", {"params": {"by": "hour", "percentiles": "false"}}, 200),
    ("get", "/stats/page-times", "/stats/page-times", {"params": {"by": "week"}}, 400),
    ("get", "/recommendations/items/{item_id}", "/recommendations/items/ITEM", {}, 200),
    ("get", "/recommendations/items/{item_id}", "/recommendations/items/ITEM", {"params": {"score": "llr"}}, 200),
    ("get", "/recommendations/items/{item_id}", "/recommendations/items/ITEM", {"params": {"limit": "0"}}, 400),
    ("get", "/recommendations/cart", "/recommendations/cart", {"params": {"items": "ITEM,nobody-bought-this"}}, 200),
    ("post", "/recommendations/cart", "/recommendations/cart", {"json": {"items": ["ITEM"]}}, 200),
    ("post", "/recommendations/cart", "/recommendations/cart", {"json": {"items": []}}, 400),
    ("get", "/recommendations/users/{user_id}", "/recommendations/users/u0001", {}, 200),
    ("get", "/recommendations/users/{user_id}", "/recommendations/users/user-000001", {"params": {"mode": "buy_again"}},
     200),
    ("get", "/recommendations/users/{user_id}", "/recommendations/users/user-000001", {"params": {"mode": "all"}}, 400),
    ("get", "/recommendations/cart", "/recommendations/cart", {"params": {"items": "ITEM", "user_id": "user-000001"}}, 200),
    ("post", "/recommendations/cart", "/recommendations/cart", {"json": {"items": ["ITEM"], "user_id": "user-000001"}},
     200),
    ("get", "/recommendations/tuning", "/recommendations/tuning", {}, 200),
    ("get", "/products/popular", "/products/popular", {"params": {"by": "views", "days": "3"}}, 200),
    ("get", "/products/{item_id}/also-viewed", "/products/ITEM/also-viewed", {}, 200),
    ("put", "/logs/{doc_id}", "/logs/openapi-1", {"json": {"log_type": "access", "item_id": "ITEM"}}, 201),
    ("put", "/logs/{doc_id}", "/logs/openapi-1", {"json": {"log_type": "access", "item_id": "ITEM"}}, 200),
    ("put", "/logs/{doc_id}", "/logs/openapi-1", {"json": {"log_type": "access", "item_id": "other"}}, 409),
    ("put", "/logs/{doc_id}", "/logs/openapi-2", {"json": {"log_type": "access"}}, 400),
    ("post", "/logs", "/logs", {"json": {"log_type": "page_view", "page_type": "home", "generation_time": 12}}, 201),
    ("post", "/logs/_bulk", "/logs/_bulk", {"json": [{"log_type": "access", "item_id": "ITEM"}, {"log_type": 7}]}, 200),
    ("get", "/vendor/{name}", "/vendor/jquery.js", {}, 404),
]


@pytest.mark.parametrize("method, path, actual, keywords, status", CASES,
                         ids=[f"{c[0]} {c[2]} {c[4]}" for c in CASES])
def test_answers_meet_the_documented_schemas(seeded_service, document, an_item, method, path, actual, keywords,
                                              status):
    keywords = {name: substitute(value, an_item) for name, value in keywords.items()}
    answer = seeded_service.request(method, actual.replace("ITEM", an_item), **keywords)
    assert answer.status_code == status, answer.text
    conforms(document, answer, path, method)


def substitute(value, item):
    if isinstance(value, str):
        return value.replace("ITEM", item)
    if isinstance(value, list):
        return [substitute(v, item) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, item) for k, v in value.items()}
    return value


def test_every_operation_is_exercised_above(document):
    exercised = {(method, path) for method, path, *_ in CASES}
    pages = {"/", "/docs", "/openapi.json", "/assets/{filename}"}  # HTML and files: tests/test_dashboard.py
    pages.add("/metrics")  # Prometheus text: tests/test_metrics.py
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops if p not in pages}
    assert documented == exercised
