"""The schema's rules hold the same in Python, in validate_doc_update (QuickJS) and in the database."""

import pytest

from loader.couchdb.couch import CouchError
from loader.designdocs.deploy import compile_all
from loader.designdocs.verify import JsFunctions
from loader.logs.schema import ValidationError, check_doc_id, prepare_log, validate_log

TS = "2026-11-01T10:00:00.000Z"

INVISIBLE = "must be a non-empty string without control or invisible formatting characters"


def page_view(**changes):
    doc = {"log_type": "page_view", "timestamp": TS, "page_type": "product", "generation_time": 120.5}
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def checkout(items):
    return {"log_type": "checkout", "timestamp": TS, "order_id": "o1", "items": items}


def cart(**changes):
    doc = {"log_type": "cart", "timestamp": TS, "cart_id": "c1", "action": "add", "item_id": "i1", "quantity": 2}
    doc.update(changes)
    return doc


VALID = [
    page_view(),
    page_view(generation_time=0, user_id="u1", session_id="s1", item_id="i9", meta={"agent": "x"}),
    {"log_type": "access", "timestamp": TS, "item_id": "i1", "session_id": "s1"},
    cart(action="remove", quantity=1),
    checkout(["i1", "i2"]),
    checkout([{"item_id": "i1", "quantity": 2, "price": 9.99}, "i3"]),
    {"log_type": "purchase", "timestamp": TS, "item_id": "i1", "user_id": "u1"},
]

INVALID = [
    (page_view(log_type=...), "log_type", "is required"),
    (page_view(log_type=None), "log_type", "is required"),
    (page_view(log_type="click"), "log_type", "must be one of: access, cart, checkout, page_view, purchase"),
    (page_view(generation_time=...), "generation_time", "is required"),
    (page_view(generation_time="12"), "generation_time", "must be a number"),
    (page_view(generation_time=True), "generation_time", "must be a number"),
    (page_view(generation_time=-1), "generation_time", "must be between 0 and 3600000"),
    (page_view(generation_time=3_600_001), "generation_time", "must be between 0 and 3600000"),
    (page_view(page_type="Home Page"), "page_type",
     "must be a lowercase slug (a-z, 0-9, _ or -, starting with a letter)"),
    (page_view(page_type=123), "page_type", "must be a string"),
    (page_view(page_type="p" * 41), "page_type", "must be at most 40 characters"),
    (page_view(colour="red"), "colour", "is not a field of a page_view log"),
    (page_view(timestamp="yesterday"), "timestamp", "must be a UTC timestamp like 2026-11-21T08:30:00.000Z"),
    (page_view(user_id="u" * 129), "user_id", "must be at most 128 characters"),
    (page_view(user_id="a\u0001b"), "user_id", INVISIBLE),
    (page_view(item_id="a\u0098"), "item_id", INVISIBLE),
    (page_view(session_id="a\u200bb"), "session_id", INVISIBLE),
    (page_view(meta="x"), "meta", "must be an object"),
    (page_view(meta={"blob": "x" * 2100}), "meta", "must be at most 2048 characters of JSON"),
    (page_view(meta={"a": {"b": {"c": {"d": {}}}}}), "meta", "must nest at most 4 levels deep"),
    (cart(action="buy"), "action", "must be one of: add, remove"),
    (cart(quantity=1.5), "quantity", "must be an integer"),
    (cart(quantity=0), "quantity", "must be between 1 and 10000"),
    (checkout([]), "items", "must be a list of 1 to 500 items"),
    (checkout("i1"), "items", "must be a list of 1 to 500 items"),
    (checkout(["i"] * 501), "items", "must be a list of 1 to 500 items"),
    (checkout([{"quantity": 1}]), "items[0].item_id", "is required"),
    (checkout(["ok", {"item_id": "a", "colour": "red"}]), "items[1].colour", "is not a field of a basket line"),
    (checkout([5]), "items[0]", "must be an item id or an object with item_id"),
    (checkout([{"item_id": "a", "price": -3}]), "items[0].price", "must be between 0 and 1000000000"),
    ({"log_type": "purchase", "timestamp": TS, "item_id": "i1"}, "user_id", "is required"),
]


@pytest.fixture(scope="module")
def js_validator():
    return JsFunctions(validate_source=compile_all(target="couchdb")["_design/logs"]["validate_doc_update"])


@pytest.mark.parametrize("doc", VALID)
def test_valid_logs_pass_python_and_javascript(doc, js_validator):
    validate_log(doc)
    assert js_validator.validate(dict(doc, _id="x1")) is None


@pytest.mark.parametrize("doc,field,reason", INVALID)
def test_python_and_javascript_refuse_with_the_same_message(doc, field, reason, js_validator):
    with pytest.raises(ValidationError) as raised:
        validate_log(doc)
    assert (raised.value.field, raised.value.reason) == (field, reason)
    assert js_validator.validate(dict(doc, _id="x1")) == {"forbidden": f"{field}: {reason}"}


@pytest.mark.parametrize("doc,field,reason", INVALID)
def test_database_refuses_a_writer_that_bypasses_the_service(doc, field, reason, module_shop):
    with pytest.raises(CouchError) as raised:
        module_shop.put_doc("bypass", doc)
    assert raised.value.status == 403
    assert raised.value.reason == f"{field}: {reason}"
    assert module_shop.get_doc("bypass") is None


def test_database_accepts_valid_logs(module_shop):
    for number, doc in enumerate(VALID):
        module_shop.put_doc(f"valid-{number}", doc)
    assert len(module_shop.get_docs(f"valid-{n}" for n in range(len(VALID)))) == len(VALID)


@pytest.mark.parametrize("doc_id,reason", [
    ("_design/x", "must not start with _ (reserved for CouchDB's _design/ and _local/ documents)"),
    ("_local/x", "must not start with _ (reserved for CouchDB's _design/ and _local/ documents)"),
    ("a/b", "may hold only letters, digits and . _ ~ : @ + = -"),
    ("a\nb", "may hold only letters, digits and . _ ~ : @ + = -"),
    ("ok\n", "may hold only letters, digits and . _ ~ : @ + = -"),
    ("x" * 201, "must be at most 200 characters"),
    ("", "must be a non-empty string"),
])
def test_bad_ids_are_refused(doc_id, reason):
    with pytest.raises(ValidationError) as raised:
        check_doc_id(doc_id)
    assert raised.value.reason == reason


def test_database_refuses_ids_the_service_refuses(module_shop):
    with pytest.raises(CouchError) as raised:
        module_shop.put_doc("a b", page_view())
    assert (raised.value.status, raised.value.reason) == (403, "_id: may hold only letters, digits and . _ ~ : @ + = -")


@pytest.mark.parametrize("given,stored", [
    ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00.000Z"),
    ("2026-11-01T11:30:00.1234+01:30", "2026-11-01T10:00:00.123Z"),
    ("2026-11-01 09:00:00-01:00", "2026-11-01T10:00:00.000Z"),
])
def test_timestamps_are_normalised_to_utc(given, stored):
    assert prepare_log(page_view(timestamp=given))["timestamp"] == stored


@pytest.mark.parametrize("given,reason", [
    ("2026-11-01T10:00:00", "must carry a time zone (Z or +hh:mm)"),
    ("1 Nov 2026", "must be an RFC 3339 date-time, e.g. 2026-11-21T08:30:00Z"),
    (1762000000, "must be an RFC 3339 date-time string, e.g. 2026-11-21T08:30:00Z"),
])
def test_bad_timestamps_say_what_is_expected(given, reason):
    with pytest.raises(ValidationError) as raised:
        prepare_log(page_view(timestamp=given))
    assert (raised.value.field, raised.value.reason) == ("timestamp", reason)


def test_reserved_fields_are_refused():
    with pytest.raises(ValidationError) as raised:
        prepare_log(page_view(_rev="1-abc"))
    assert raised.value.field == "_rev"
