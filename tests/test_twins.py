"""Rules written twice, in JavaScript for CouchDB's maps (designdocs/_lib/) and in Python for the worker
and the page-time summaries, give the same answer on the same random documents.

The JavaScript runs in QuickJS, as the reduce verifier runs it (loader/verify.py). An order's items
are compared on any document at all; a page view's key on the documents `validate_doc_update` lets
into the database, since those are all a view ever sees.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import quickjs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from loader.designdocs import TARGETS, function_source
from loader.neighbours import order_items
from loader.pagesummaries import cell_of
from loader.verify import JsFunctions

DESIGNDOCS = Path(__file__).resolve().parent.parent / "designdocs"


def js_function(name: str):
    """designdocs/_lib/<name>.js as a Python callable (its argument and answer go through JSON)."""
    context = quickjs.Context()
    context.eval(f"var f = ({function_source(DESIGNDOCS / '_lib' / f'{name}.js', TARGETS[0])});\n"
                 "function call(json) { var out = f(JSON.parse(json)); return JSON.stringify(out === undefined ? null : out); }")
    return lambda value: json.loads(context.get("call")(json.dumps(value)))


ITEM_IDS = st.one_of(st.text(alphabet="ab_$1", max_size=3), st.integers(-2, 2), st.none(), st.booleans())
LINES = st.lists(st.one_of(ITEM_IDS, st.fixed_dictionaries({"item_id": ITEM_IDS}, optional={"quantity": st.integers(0, 3)}),
                           st.lists(ITEM_IDS, max_size=2)), max_size=8)
ORDERS = st.fixed_dictionaries(
    {"log_type": st.sampled_from(["checkout", "purchase", "access", "page_view", "cart"])},
    optional={"items": st.one_of(LINES, st.text(max_size=4), st.dictionaries(st.text(max_size=2), ITEM_IDS, max_size=2),
                                 st.none(), st.integers()),
              "item_id": ITEM_IDS})
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(timezone.utc))
STAMPS = MOMENTS.map(lambda m: m.isoformat(timespec="milliseconds").replace("+00:00", "Z"))


def mostly(valid, other):
    """`valid` three times in four, else `other`: most examples pass validation, some probe its edges."""
    return st.integers(0, 3).flatmap(lambda n: valid if n else other)


PAGE_VIEWS = st.fixed_dictionaries({
    "_id": st.just("log-1"),
    "log_type": st.just("page_view"),
    "timestamp": mostly(STAMPS, st.text(max_size=24)),
    "page_type": mostly(st.sampled_from(["home", "product", "cart-2", "x_y"]), st.one_of(st.text(max_size=6),
                                                                                      st.integers())),
    "generation_time": mostly(st.one_of(st.floats(0, 1e5), st.integers(0, 10**5)),
                              st.one_of(st.booleans(), st.text(max_size=3), st.floats(-5, -0.1))),
}, optional={"item_id": st.text(alphabet="ab", min_size=1, max_size=3)})

JS_ORDER_ITEMS = js_function("order_items")
JS_PAGE_VIEW_KEY = js_function("page_view_key")
VALIDATE = JsFunctions(validate_source=function_source(DESIGNDOCS / "logs" / "validate_doc_update.js", TARGETS[0]))


@settings(max_examples=200, deadline=None)
@given(ORDERS)
def test_an_orders_items_are_the_same_in_both_languages(doc):
    assert order_items(doc) == JS_ORDER_ITEMS(doc)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(PAGE_VIEWS)
def test_a_page_views_day_is_the_same_in_both_languages(doc):
    assume(VALIDATE.validate(doc) is None)  # what the database holds, and so what the view sees
    key = JS_PAGE_VIEW_KEY(doc)
    expected = None if key is None else (key[0], f"{key[1]:04d}-{key[2]:02d}-{key[3]:02d}")
    assert cell_of(doc) == expected
